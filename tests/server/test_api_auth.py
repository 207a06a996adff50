"""Who may do what: no key 401, a weak role 403, another tenant's objects 404, expired and
revoked keys 401, and reads without a key on a server with public_read."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from api_support import API, is_problem, shout_flow
from server_support import Served, add_test_models, start_server

from podium import Orchestrator
from podium.governance import KeyRing
from podium.server import ServerConfig, create_app

READS = [
    ("GET", "/models"),
    ("GET", "/models/search?q=shout"),
    ("GET", "/workflows"),
    ("GET", "/runs"),
    ("GET", "/approvals"),
    ("GET", "/stats"),
]
OPERATES = [
    ("POST", "/runs", {"workflow": shout_flow(), "inputs": {"text": "x"}}),
    ("POST", "/workflows", shout_flow()),
    ("POST", "/plans", {"goal": "shout"}),
]
ADMINISTERS = [
    ("GET", "/keys", None),
    ("POST", "/keys", {"role": "viewer"}),
    ("POST", "/models", {"name": "m", "version": "1.0.0", "capabilities": ["x.y"]}),
    ("POST", "/models/shout/0.1.0/deprecate", None),
]


@pytest.mark.parametrize(("method", "path"), READS)
def test_reads_need_a_key(served: Served, method: str, path: str) -> None:
    with served.client(None) as anonymous, served.client("viewer") as viewer:
        problem = is_problem(anonymous.request(method, API + path), 401)
        assert problem["type"].endswith("unauthorized")
        assert viewer.request(method, API + path).status_code == 200


@pytest.mark.parametrize(("method", "path", "body"), OPERATES)
def test_running_needs_an_operator(served: Served, method: str, path: str, body: object) -> None:
    with served.client("viewer") as viewer, served.client(None) as anonymous:
        is_problem(viewer.request(method, API + path, json=body), 403)
        is_problem(anonymous.request(method, API + path, json=body), 401)
    assert served.orchestrator.runs() == []


@pytest.mark.parametrize(("method", "path", "body"), ADMINISTERS)
def test_administering_needs_an_admin(served: Served, method: str, path: str, body: object) -> None:
    with served.client("operator") as operator:
        is_problem(operator.request(method, API + path, json=body), 403)


def test_another_tenants_run_is_not_found_by_id(served: Served) -> None:
    with served.client("a") as a, served.client("b") as b, served.client("admin") as admin:
        run = a.post(
            f"{API}/runs", json={"workflow": shout_flow(), "inputs": {"text": "x"}, "wait": True}
        ).json()
        assert run["tenant"] == "a"
        run_id = run["run_id"]
        for method, path in (
            ("GET", f"/runs/{run_id}"),
            ("POST", f"/runs/{run_id}/cancel"),
            ("POST", f"/runs/{run_id}/resume"),
            ("GET", f"/runs/{run_id}/events"),
        ):
            missing = is_problem(b.request(method, API + path), 404)
            assert missing["detail"] == f"no run with id '{run_id}'"
        assert b.get(f"{API}/runs").json()["items"] == []
        assert [r["run_id"] for r in a.get(f"{API}/runs").json()["items"]] == [run_id]
        assert admin.get(f"{API}/runs/{run_id}").json()["tenant"] == "a"  # no tenant: sees all
    [record] = served.orchestrator.runs()
    assert record.tenant == "a"


def test_expired_and_revoked_keys_are_refused(served: Served) -> None:
    ring = KeyRing(served.orchestrator.store)
    _, soon = ring.create("viewer", expires_at=time.time() + 1.0)
    revoked_key, revoked = ring.create("viewer")
    ring.revoke(revoked_key.key_id)
    with served.client("viewer") as client:
        headers = {"Authorization": f"Bearer {soon}"}
        assert client.get(f"{API}/runs", headers=headers).status_code == 200
        time.sleep(1.05)  # the expiry is checked on every request, even of a known key
        is_problem(client.get(f"{API}/runs", headers=headers), 401)
        gone = client.get(f"{API}/runs", headers={"Authorization": f"Bearer {revoked}"})
        assert "revoked" in is_problem(gone, 401)["detail"]
        wrong = client.get(f"{API}/runs", headers={"Authorization": "Bearer pdm_000000000000_x"})
        is_problem(wrong, 401)


def test_a_key_revoked_through_the_api_stops_working(served: Served) -> None:
    with served.client("admin") as admin:
        made = admin.post(f"{API}/keys", json={"role": "operator"}).json()
        headers = {"Authorization": f"Bearer {made['token']}"}
        assert admin.get(f"{API}/runs", headers=headers).status_code == 200
        assert admin.delete(f"{API}/keys/{made['key_id']}").json()["state"] == "revoked"
        is_problem(admin.get(f"{API}/runs", headers=headers), 401)


@pytest.fixture
def public(tmp_path: Path) -> Iterator[Served]:
    orch = Orchestrator(home=tmp_path / "home", discover=False)
    add_test_models(orch)
    url, serving = start_server(create_app(orch, ServerConfig(public_read=True, resume_every_s=0)))
    found = Served(url, orch)
    found.keys["operator"] = found.key("operator")
    try:
        yield found
    finally:
        serving.stop()
        orch.close()


def test_public_read_lets_anyone_read_but_never_write(public: Served) -> None:
    with public.client(None) as anonymous:
        assert anonymous.get(f"{API}/models").status_code == 200
        assert anonymous.get(f"{API}/runs").status_code == 200
        refused = anonymous.post(f"{API}/runs", json={"workflow": shout_flow()})
        is_problem(refused, 401)
    assert public.orchestrator.runs() == []
