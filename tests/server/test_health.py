"""The server answers health checks, and refuses requests without a usable key."""

from __future__ import annotations

from server_support import Served


def test_health_and_readiness(served: Served) -> None:
    with served.client(None) as client:
        assert client.get("/healthz").json() == {"status": "ok"}
        ready = client.get("/readyz")
        assert ready.status_code == 200 and ready.json()["status"] == "ready"


def test_unknown_route_is_a_problem(served: Served) -> None:
    with served.client(None) as client:
        missing = client.get("/nowhere")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"
    assert missing.json()["status"] == 404


def test_a_body_over_the_limit_is_refused_before_it_is_read(served: Served) -> None:
    with served.client("admin") as client:
        huge = client.post("/api/v1/runs", content=b"x" * 2_000_000)
    assert huge.status_code == 413
    assert huge.json()["type"].endswith("too-large")
