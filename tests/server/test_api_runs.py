"""Runs through the REST API: start (by name or inline, waiting or not), read, list, page,
cancel and resume; what a client may not set is refused naming the field."""

from __future__ import annotations

import json
import time

from api_support import API, gated_flow, is_problem, shout_flow, slow_flow, until_status
from server_support import Served

from podium.store import RunFilter


def test_a_run_by_name_waits_for_its_outputs_and_is_the_clis_run(served: Served) -> None:
    with served.client("operator") as client:
        assert client.post(f"{API}/workflows", json=shout_flow(steps=3)).status_code == 201
        started = client.post(
            f"{API}/runs", json={"workflow": "shout-flow", "inputs": {"text": "hi"}, "wait": True}
        )
    assert started.status_code == 201, started.text
    body = started.json()
    assert body["status"] == "succeeded"
    assert body["outputs"] == {"text": "HI"}
    assert started.headers["location"] == f"{API}/runs/{body['run_id']}"
    # the same store the CLI reads, with the principal who started it
    [record] = served.orchestrator.runs(where=RunFilter(workflow="shout-flow"))
    assert record.run_id == body["run_id"]
    assert record.principal == body["principal"]
    assert record.principal.startswith("key:")


def test_a_run_without_wait_answers_at_once_and_runs_in_the_background(served: Served) -> None:
    with served.client("operator") as client:
        started = client.post(
            f"{API}/runs", json={"workflow": slow_flow(delay=0.3), "inputs": {"text": "x"}}
        )
        assert started.status_code == 201
        assert started.json()["status"] == "running"
        run_id = started.json()["run_id"]
        assert client.get(f"{API}/runs/{run_id}").json()["status"] == "running"
        done = until_status(client, run_id, "succeeded")
    assert done["outputs"] == {"text": "x"}
    assert [s["step"] for s in done["steps"]] == ["wait"]
    assert done["steps"][0]["status"] == "succeeded"
    assert done["lineage"][0]["model"].startswith("slow@")


def test_prefer_wait_bounds_the_wait(served: Served) -> None:
    with served.client("operator") as client:
        quick = client.post(
            f"{API}/runs",
            json={"workflow": shout_flow(), "inputs": {"text": "a"}},
            headers={"Prefer": "wait=5"},
        )
        assert quick.json()["status"] == "succeeded"
        assert quick.headers["preference-applied"] == "wait=5"
        began = time.monotonic()
        slow = client.post(
            f"{API}/runs",
            json={"workflow": slow_flow(delay=2.0), "inputs": {"text": "a"}},
            params={"wait": "0.1"},
        )
        assert time.monotonic() - began < 1.8
        assert slow.json()["status"] == "running"
        until_status(client, slow.json()["run_id"], "succeeded")


def test_query_wait_alone_means_wait(served: Served) -> None:
    with served.client("operator") as client:
        answer = client.post(
            f"{API}/runs?wait", json={"workflow": shout_flow(), "inputs": {"text": "q"}}
        )
        assert answer.json()["outputs"] == {"text": "Q"}
        bad = client.post(f"{API}/runs?wait=soon", json={"workflow": shout_flow()})
    assert is_problem(bad, 422)["field"] == "wait"


def test_fields_only_the_server_decides_are_refused_by_name(served: Served) -> None:
    with served.client("operator") as client:
        for field in ("cost", "status", "principal", "tenant", "owner", "quality"):
            answer = client.post(
                f"{API}/runs", json={"workflow": shout_flow(), "inputs": {}, field: "x"}
            )
            problem = is_problem(answer, 422)
            assert problem["field"] == field
            assert field in problem["detail"]
    assert served.orchestrator.runs() == []


def test_bad_inputs_and_unknown_workflows_are_the_requests_errors(served: Served) -> None:
    with served.client("operator") as client:
        wrong = client.post(f"{API}/runs", json={"workflow": shout_flow(), "inputs": {"text": 3}})
        problem = is_problem(wrong, 422)
        assert problem["field"].startswith("inputs")
        assert "string" in problem["detail"]
        missing = client.post(f"{API}/runs", json={"workflow": "nowhere", "inputs": {}})
        is_problem(missing, 404)
        versioned = client.post(f"{API}/runs", json={"workflow": shout_flow(), "version": 2})
        assert is_problem(versioned, 422)["field"] == "version"
        broken = dict(shout_flow(), steps={"s1": {"uses": "capability/nope"}})
        invalid = client.post(f"{API}/runs", json={"workflow": broken})
        assert is_problem(invalid, 422)["field"] == "steps.s1.uses"
    assert served.orchestrator.runs() == []


def test_a_workflow_sent_over_http_cannot_include_a_server_file(served: Served) -> None:
    flow = {"name": "sneaky", "steps": {"sub": {"workflow": "/etc/passwd"}}}
    with served.client("operator") as client:
        answer = client.post(f"{API}/runs", json={"workflow": flow})
    assert is_problem(answer, 422)["field"] == "steps.sub.workflow"


def test_runs_are_listed_newest_first_filtered_and_paged(served: Served) -> None:
    with served.client("operator") as client:
        ids = []
        for index in range(5):
            flow = shout_flow(name="even" if index % 2 == 0 else "odd")
            answer = client.post(
                f"{API}/runs", json={"workflow": flow, "inputs": {"text": "t"}, "wait": True}
            )
            ids.append(answer.json()["run_id"])
        everything = client.get(f"{API}/runs").json()
        assert [r["run_id"] for r in everything["items"]] == ids[::-1]
        assert everything["next_cursor"] is None
        first = client.get(f"{API}/runs", params={"limit": 2}).json()
        second = client.get(
            f"{API}/runs", params={"limit": 2, "cursor": first["next_cursor"]}
        ).json()
        third = client.get(
            f"{API}/runs", params={"limit": 2, "cursor": second["next_cursor"]}
        ).json()
        paged = [r["run_id"] for page in (first, second, third) for r in page["items"]]
        assert paged == ids[::-1]
        assert third["next_cursor"] is None
        odd = client.get(f"{API}/runs", params={"workflow": "odd"}).json()["items"]
        assert [r["run_id"] for r in odd] == [ids[3], ids[1]]
        assert client.get(f"{API}/runs", params={"status": "failed"}).json()["items"] == []
        bad = client.get(f"{API}/runs", params={"cursor": "yesterday"})
        assert is_problem(bad, 422)["field"] == "cursor"


def test_cancel_a_running_run_and_not_a_finished_one(served: Served) -> None:
    with served.client("operator") as client:
        run_id = client.post(
            f"{API}/runs", json={"workflow": slow_flow(delay=5.0), "inputs": {"text": "x"}}
        ).json()["run_id"]
        cancelled = client.post(f"{API}/runs/{run_id}/cancel")
        assert cancelled.status_code == 200, cancelled.text
        assert cancelled.json()["status"] == "cancelled"
        assert until_status(client, run_id, "cancelled")["status"] == "cancelled"
        again = client.post(f"{API}/runs/{run_id}/cancel")
        assert "already cancelled" in is_problem(again, 409)["detail"]
        is_problem(client.post(f"{API}/runs/nope/cancel"), 404)


def test_resume_continues_a_cancelled_run_and_refuses_a_succeeded_one(served: Served) -> None:
    with served.client("operator") as client:
        run_id = client.post(
            f"{API}/runs", json={"workflow": slow_flow(delay=2.0), "inputs": {"text": "r"}}
        ).json()["run_id"]
        client.post(f"{API}/runs/{run_id}/cancel")
        until_status(client, run_id, "cancelled")
        # a cancelled run is final; a failed one can be resumed
        refused = client.post(f"{API}/runs/{run_id}/resume")
        assert is_problem(refused, 409)["detail"].endswith("nothing to resume")
        done = client.post(
            f"{API}/runs", json={"workflow": shout_flow(), "inputs": {"text": "r"}, "wait": True}
        ).json()
        again = client.post(f"{API}/runs/{done['run_id']}/resume")
        assert "succeeded" in is_problem(again, 409)["detail"]


def test_a_failed_run_resumes_and_succeeds(served: Served) -> None:
    flaky = {"calls": 0}

    @served.orchestrator.model(capabilities=["text.flaky"])
    def flake(text: str) -> dict[str, str]:
        flaky["calls"] += 1
        if flaky["calls"] == 1:
            raise RuntimeError("not yet")
        return {"text": text}

    flow = {
        "name": "flaky",
        "inputs": {"text": "string"},
        "steps": {"f": {"uses": "capability/text.flaky", "with": {"text": "${{ inputs.text }}"}}},
        "outputs": {"text": "${{ steps.f.output.text }}"},
    }
    with served.client("operator") as client:
        failed = client.post(
            f"{API}/runs", json={"workflow": flow, "inputs": {"text": "ok"}, "wait": True}
        ).json()
        assert failed["status"] == "failed"
        resumed = client.post(f"{API}/runs/{failed['run_id']}/resume", params={"wait": "true"})
    assert resumed.status_code == 200, resumed.text
    assert resumed.json()["status"] == "succeeded"
    assert resumed.json()["outputs"] == {"text": "ok"}


def test_a_waiting_run_shows_its_pending_approval(served: Served) -> None:
    with served.client("operator") as client:
        run = client.post(
            f"{API}/runs", json={"workflow": gated_flow(), "inputs": {"text": "x"}, "wait": True}
        ).json()
        assert run["status"] == "waiting"
        detail = client.get(f"{API}/runs/{run['run_id']}").json()
    [pending] = detail["approvals"]
    assert pending["step"] == "gate"
    assert pending["prompt"] == "Shout it?"
    assert json.loads(json.dumps(detail["inputs"])) == {"text": "x"}
