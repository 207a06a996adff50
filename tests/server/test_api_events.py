"""A run's events as Server-Sent Events: ids are sequence numbers, Last-Event-ID and
?after resume, the stream follows a live run and ends when it settles."""

from __future__ import annotations

import json
import time

import httpx
from api_support import API, gated_flow, is_problem, shout_flow, slow_flow, sse_events
from server_support import Served


def _run(client: httpx.Client, flow: dict[str, object], wait: bool = True) -> str:
    answer = client.post(
        f"{API}/runs", json={"workflow": flow, "inputs": {"text": "e"}, "wait": wait}
    )
    run_id: str = answer.json()["run_id"]
    return run_id


def test_a_finished_runs_events_stream_with_sequence_ids_then_end(served: Served) -> None:
    with served.client("viewer") as viewer, served.client("operator") as operator:
        run_id = _run(operator, shout_flow(steps=3))
        answer = viewer.get(f"{API}/runs/{run_id}/events")
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    frames = sse_events(answer.text)
    events, end = frames[:-1], frames[-1]
    stored = served.orchestrator.store.events(run_id)
    assert [int(f["id"]) for f in events] == [e.seq for e in stored]
    assert [f["event"] for f in events] == [e.type for e in stored]
    assert events[0]["event"] == "run_started" and events[-1]["event"] == "run_succeeded"
    assert json.loads(events[-1]["data"])["data"]["outputs"] == {"text": "E"}
    assert end["event"] == "end" and "id" not in end
    assert json.loads(end["data"]) == {"status": "succeeded"}


def test_last_event_id_and_after_resume_where_the_client_left(served: Served) -> None:
    with served.client("operator") as client:
        run_id = _run(client, shout_flow(steps=3))
        seqs = [e.seq for e in served.orchestrator.store.events(run_id)]
        middle = seqs[len(seqs) // 2]
        resumed = client.get(f"{API}/runs/{run_id}/events", headers={"Last-Event-ID": str(middle)})
        after = client.get(f"{API}/runs/{run_id}/events", params={"after": middle})
    for answer in (resumed, after):
        ids = [int(f["id"]) for f in sse_events(answer.text) if "id" in f]
        assert ids == [s for s in seqs if s > middle]


def test_the_stream_follows_a_live_run_until_it_ends(served: Served) -> None:
    with served.client("operator") as client:
        run_id = _run(client, slow_flow(delay=0.5), wait=False)
        began = time.monotonic()
        seen: list[str] = []
        with client.stream("GET", f"{API}/runs/{run_id}/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("event: "):
                    seen.append(line.removeprefix("event: "))
    assert time.monotonic() - began >= 0.3  # it waited for the model
    assert seen[0] == "run_started"
    assert seen[-2:] == ["run_succeeded", "end"]
    assert "step_succeeded" in seen


def test_the_stream_ends_when_the_run_waits_for_approval(served: Served) -> None:
    with served.client("operator") as client:
        run_id = _run(client, gated_flow())
        frames = sse_events(client.get(f"{API}/runs/{run_id}/events").text)
    assert [f["event"] for f in frames][-3:] == ["approval_requested", "run_waiting", "end"]
    assert json.loads(frames[-1]["data"]) == {"status": "waiting"}


def test_a_client_that_disconnects_stops_the_stream(served: Served) -> None:
    with served.client("operator") as client:
        run_id = _run(client, slow_flow(delay=3.0), wait=False)
        with client.stream("GET", f"{API}/runs/{run_id}/events") as stream:
            for line in stream.iter_lines():
                if line.startswith("event: run_started"):
                    break
        # the server goes on serving, and the run goes on
        assert client.get(f"{API}/runs/{run_id}").json()["status"] == "running"
        client.post(f"{API}/runs/{run_id}/cancel")


def test_another_tenants_events_are_not_found(served: Served) -> None:
    with served.client("a") as a, served.client("b") as b:
        run_id = _run(a, shout_flow())
        is_problem(b.get(f"{API}/runs/{run_id}/events"), 404)
        assert a.get(f"{API}/runs/{run_id}/events").status_code == 200
