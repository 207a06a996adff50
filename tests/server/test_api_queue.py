"""Queuing runs over the API for workers; the model view's use; the server's resumer
leaves queued runs to the workers."""

from __future__ import annotations

import time

from api_support import API, shout_flow
from server_support import Served

from podium.store import QueueSpec
from podium.worker import Worker, WorkerConfig


def _drain(served: Served) -> None:
    worker = Worker(served.orchestrator, WorkerConfig(burst=True, poll_s=0.02))
    served.orchestrator._sync(worker.run())


def test_a_queued_run_is_pending_until_a_worker_drives_it(served: Served) -> None:
    with served.client("operator") as client:
        queued = client.post(
            f"{API}/runs",
            json={"workflow": shout_flow(), "inputs": {"text": "hi"}, "queue": True},
        )
        assert queued.status_code == 201, queued.text
        body = queued.json()
        assert body["status"] == "pending" and body["queue"] == "default"
        run_id = body["run_id"]
        assert queued.headers["location"] == f"{API}/runs/{run_id}"
        time.sleep(0.6)  # the server's resumer looks every 0.5 s: it leaves queued runs alone
        assert client.get(f"{API}/runs/{run_id}").json()["status"] == "pending"
        named = client.post(
            f"{API}/runs",
            json={"workflow": shout_flow(), "inputs": {"text": "x"}, "queue": "batch"},
        )
        assert named.json()["queue"] == "batch"
        bad = client.post(
            f"{API}/runs", json={"workflow": shout_flow(), "inputs": {"text": 3}, "queue": True}
        )
        assert bad.status_code == 422 and "inputs" in bad.text
        _drain(served)
        done = client.get(f"{API}/runs/{run_id}").json()
    assert done["status"] == "succeeded" and done["outputs"] == {"text": "HI"}
    assert done["principal"].startswith("key:")  # the worker kept who asked


def test_the_resumer_leaves_a_queued_run_whose_worker_died_to_the_workers(
    served: Served,
) -> None:
    orch = served.orchestrator
    run_id = orch.submit(shout_flow(), {"text": "a"})
    [taken] = orch.store.claim_next(
        "elsewhere:1", QueueSpec(("default",), 10.0), now=time.time() - 60
    )
    assert taken.run_id == run_id  # held by a worker whose lease lapsed a minute ago
    time.sleep(0.7)
    record = orch.store.run(run_id)
    assert record is not None and record.owner == "elsewhere:1"  # not taken by the server
    _drain(served)
    assert orch.get_run(run_id).outputs == {"text": "A"}


def test_the_model_view_reports_its_use(served: Served) -> None:
    with served.client("viewer") as client:
        found = client.get(f"{API}/models/shout").json()
    assert found["use"] == {"in_flight": 0, "limit": None, "waiting": 0, "by_worker": {}}
