"""/metrics on a real server: runs, steps, model calls, cost, breakers, active runs and HTTP
requests move the counters a scrape reads back, with bounded labels only."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client.parser import text_string_to_metric_families
from server_support import Served, add_test_models, start_server

from podium import Orchestrator
from podium.server import ServerConfig, create_app
from podium.server.observability import PUBLIC_METRICS_ENV

UPPER = {
    "name": "obs-upper",
    "inputs": {"text": "string"},
    "steps": {"up": {"uses": "capability/text.upper", "with": {"text": "${{ inputs.text }}"}}},
    "outputs": {"text": "${{ steps.up.output.text }}"},
}


def flow(uses: str, **step: Any) -> dict[str, Any]:
    return {
        "name": "obs-flow",
        "inputs": {"text": "string"},
        "steps": {"only": {"uses": uses, "with": {"text": "${{ inputs.text }}"}, **step}},
    }


Samples = dict[tuple[str, frozenset[tuple[str, str]]], float]


def scrape(client: httpx.Client) -> Samples:
    response = client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    found: Samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            found[(sample.name, frozenset(sample.labels.items()))] = sample.value
    return found


def value(samples: Samples, name: str, **labels: str) -> float:
    return samples.get((name, frozenset(labels.items())), 0.0)


def test_a_run_moves_the_run_step_model_and_cost_counters(served: Served) -> None:
    orch = served.orchestrator

    @orch.model(capabilities=["text.priced"], cost=0.25)
    def priced(text: str) -> dict[str, Any]:
        return {"text": text}

    with served.client("viewer") as client:
        before = scrape(client)
        assert orch.run(UPPER, {"text": "hi"}).ok
        assert orch.run(flow("capability/text.priced"), {"text": "hi"}).ok
        after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("podium_runs_total", status="succeeded") == 2
    assert moved("podium_model_calls_total", model="shout@0.1.0", status="ok") == 1
    assert moved("podium_model_calls_total", model="priced@0.1.0", status="ok") == 1
    assert moved("podium_model_latency_seconds_count", model="shout@0.1.0") == 1
    assert moved("podium_model_latency_seconds_sum", model="shout@0.1.0") > 0
    assert moved("podium_step_duration_seconds_count", kind="call", status="succeeded") == 2
    assert moved("podium_cost_total") == pytest.approx(0.25)


def test_failures_cache_hits_and_step_kinds_are_told_apart(served: Served) -> None:
    orch = served.orchestrator

    @orch.model(capabilities=["text.broken"])
    def broken(text: str) -> dict[str, Any]:
        raise RuntimeError("the model is down")

    mapped = {
        "name": "obs-map",
        "inputs": {"lines": "array"},
        "steps": {
            "each": {
                "map": "${{ inputs.lines }}",
                "step": {"uses": "capability/text.upper", "with": {"text": "${{ item }}"}},
            }
        },
    }
    with served.client("viewer") as client:
        before = scrape(client)
        assert not orch.run(flow("model/broken", retry={"attempts": 2}), {"text": "x"}).ok
        assert orch.run(flow("capability/text.upper", cache=True), {"text": "same"}).ok
        assert orch.run(flow("capability/text.upper", cache=True), {"text": "same"}).ok
        assert orch.run(mapped, {"lines": ["a", "b", "c"]}).ok
        after = scrape(client)

    def moved(name: str, **labels: str) -> float:
        return value(after, name, **labels) - value(before, name, **labels)

    assert moved("podium_runs_total", status="failed") == 1
    assert moved("podium_model_calls_total", model="broken@0.1.0", status="error") == 2
    assert moved("podium_model_latency_seconds_count", model="broken@0.1.0") == 0
    assert moved("podium_model_calls_total", model="shout@0.1.0", status="cached") == 1
    assert moved("podium_model_calls_total", model="shout@0.1.0", status="ok") == 4
    assert moved("podium_step_duration_seconds_count", kind="call", status="failed") == 1
    assert moved("podium_step_duration_seconds_count", kind="map", status="succeeded") == 1
    # the map's three items and the two cached-step runs are call steps
    assert moved("podium_step_duration_seconds_count", kind="call", status="succeeded") == 5


def test_an_open_breaker_is_read_live_at_scrape_time(served: Served) -> None:
    orch = served.orchestrator

    @orch.model(capabilities=["text.down"])
    def down(text: str) -> dict[str, Any]:
        raise RuntimeError("unreachable")

    with served.client("viewer") as client:
        assert orch.run(flow("model/down", retry={"attempts": 8}), {"text": "x"}).status == "failed"
        samples = scrape(client)
    assert value(samples, "podium_breaker_open", model="down@0.1.0") == 1
    assert value(samples, "podium_breaker_open", model="shout@0.1.0") == 0


def test_active_runs_are_counted_while_they_run(served: Served) -> None:
    slow = flow("capability/text.slow")
    slow["steps"]["only"]["with"]["delay"] = 1.0
    results: list[Any] = []
    worker = threading.Thread(
        target=lambda: results.append(served.orchestrator.run(slow, {"text": "x"}))
    )
    with served.client("viewer") as client:
        worker.start()
        deadline = time.monotonic() + 5
        active = 0.0
        while time.monotonic() < deadline and not active:
            active = value(scrape(client), "podium_runs_active")
            time.sleep(0.02)
        worker.join(timeout=10)
        assert active >= 1
        assert value(scrape(client), "podium_runs_active") == 0
    assert results and results[0].ok


async def item_of_thing(thing: str) -> dict[str, str]:
    return {"thing": thing}


@pytest.fixture
def probed(tmp_path: Path) -> Iterator[Served]:
    """A server with one more route, templated, to see that labels never carry raw paths."""
    orch = Orchestrator(home=tmp_path / "home", discover=False)
    add_test_models(orch)
    app = create_app(orch, ServerConfig(resume_every_s=0))

    async def item(item_id: str) -> dict[str, str]:
        return {"item": item_id}

    app.add_api_route("/probe/{item_id}", item, methods=["GET"])
    (tmp_path / "files").mkdir()
    for name in ("a.txt", "b.txt"):
        (tmp_path / "files" / name).write_text(name)
    app.mount("/files", StaticFiles(directory=tmp_path / "files"))
    below = FastAPI()
    below.add_api_route("/things/{thing}", item_of_thing, methods=["GET"])
    app.mount("/below", below)
    url, serving = start_server(app)
    found = Served(url, orch)
    found.keys["viewer"] = found.key("viewer")
    try:
        yield found
    finally:
        serving.stop()
        orch.close()


def test_http_requests_are_labelled_by_route_template_not_path(probed: Served) -> None:
    with probed.client("viewer") as client:
        for n in range(5):
            assert client.get(f"/probe/{n}-secret-id").status_code == 200
        for n in range(3):
            assert client.get(f"/nowhere/{n}").status_code == 404
        assert client.request("PURGE", "/probe/x").status_code == 405
        assert client.get("/files/a.txt").text == "a.txt"
        assert client.get("/files/b.txt").status_code == 200
        assert client.get("/below/things/7").json() == {"thing": "7"}
        samples = scrape(client)
    requests = {
        labels: v for (name, labels), v in samples.items() if name == "podium_http_requests_total"
    }
    by_labels = {tuple(sorted(dict(k).items())): v for k, v in requests.items()}
    assert by_labels[(("method", "GET"), ("route", "/probe/{item_id}"), ("status", "200"))] == 5
    assert by_labels[(("method", "GET"), ("route", "unmatched"), ("status", "404"))] == 3
    assert by_labels[(("method", "other"), ("route", "/probe/{item_id}"), ("status", "405"))] == 1
    assert by_labels[(("method", "GET"), ("route", "/files/*"), ("status", "200"))] == 2
    assert (
        by_labels[(("method", "GET"), ("route", "/below/things/{thing}"), ("status", "200"))] == 1
    )
    durations = value(
        samples,
        "podium_http_request_duration_seconds_count",
        route="/probe/{item_id}",
        method="GET",
    )
    assert durations == 5
    every_label = {v for (_, labels) in samples for _, v in labels}
    assert not any("secret-id" in v or "/nowhere" in v or ".txt" in v for v in every_label)


def test_labels_carry_no_run_ids_users_or_tenants(served: Served) -> None:
    results = [served.orchestrator.run(UPPER, {"text": f"t{n}"}) for n in range(3)]
    with served.client("viewer") as client:
        samples = scrape(client)
    names = {label for (_, labels) in samples for label, _ in labels}
    assert names <= {"status", "kind", "model", "route", "method", "le"}
    values = {v for (_, labels) in samples for _, v in labels}
    assert not values & {r.run_id for r in results}
    assert not any(v.startswith("key:") for v in values)


def test_metrics_need_a_viewer_key(served: Served) -> None:
    with served.client(None) as anonymous:
        refused = anonymous.get("/metrics")
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    with served.client("viewer") as viewer:
        assert viewer.get("/metrics").status_code == 200


def test_metrics_can_be_made_public(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(PUBLIC_METRICS_ENV, "1")
    with Orchestrator(home=tmp_path / "home", discover=False) as orch:
        url, serving = start_server(create_app(orch, ServerConfig(resume_every_s=0)))
        try:
            with httpx.Client(base_url=url) as client:
                open_read = client.get("/metrics")
                still_closed = client.get("/api/v1/runs")
        finally:
            serving.stop()
    assert open_read.status_code == 200 and "podium_runs_active" in open_read.text
    assert still_closed.status_code in (401, 404)  # only /metrics was opened


def test_each_application_has_its_own_registry(tmp_path: Path) -> None:
    with (
        Orchestrator(home=tmp_path / "one", discover=False) as one,
        Orchestrator(home=tmp_path / "two", discover=False) as two,
    ):
        add_test_models(one)
        add_test_models(two)
        first = create_app(one, ServerConfig(resume_every_s=0))
        second = create_app(two, ServerConfig(resume_every_s=0))
        assert one.run(UPPER, {"text": "x"}).ok
        from podium.server.observability import observability_of

        texts = [observability_of(app).render().decode() for app in (first, second)]
    assert 'podium_runs_total{status="succeeded"} 1.0' in texts[0]
    assert 'podium_runs_total{status="succeeded"}' not in texts[1]


def test_a_run_cancelled_from_outside_is_counted_once_its_drive_stops(served: Served) -> None:
    orch = served.orchestrator
    slow = flow("capability/text.slow")
    slow["steps"]["only"]["with"]["delay"] = 1.5
    results: list[Any] = []
    worker = threading.Thread(
        target=lambda: results.append(orch.run(slow, {"text": "x"}, run_id="obs-cancel-1"))
    )
    with served.client("viewer") as client:
        before = value(scrape(client), "podium_runs_total", status="cancelled")
        worker.start()
        deadline = time.monotonic() + 5
        while not value(scrape(client), "podium_runs_active"):
            assert time.monotonic() < deadline, "the run never started"
            time.sleep(0.02)
        orch.cancel("obs-cancel-1")
        worker.join(timeout=10)
        deadline = time.monotonic() + 10
        while value(scrape(client), "podium_runs_total", status="cancelled") == before:
            assert time.monotonic() < deadline, "the cancelled run was never counted"
            time.sleep(0.1)
        assert value(scrape(client), "podium_runs_total", status="cancelled") == before + 1
    assert results and results[0].status == "cancelled"
