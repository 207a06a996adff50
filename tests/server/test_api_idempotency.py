"""Idempotency-Key: retries of one request never start a second run, even all at once."""

from __future__ import annotations

import threading

from api_support import API, is_problem, shout_flow, slow_flow, until_status
from server_support import Served

from podium.store import RunFilter


def test_concurrent_retries_with_one_key_start_exactly_one_run(served: Served) -> None:
    body = {"workflow": slow_flow(delay=0.3), "inputs": {"text": "once"}}
    answers: list[dict[str, object]] = []
    statuses: list[int] = []
    barrier = threading.Barrier(8)

    def retry() -> None:
        with served.client("operator") as client:
            barrier.wait()
            answer = client.post(f"{API}/runs", json=body, headers={"Idempotency-Key": "k-1"})
            statuses.append(answer.status_code)
            answers.append(answer.json())

    threads = [threading.Thread(target=retry) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert statuses == [201] * 8, answers
    assert len({a["run_id"] for a in answers}) == 1
    runs = served.orchestrator.runs(where=RunFilter(workflow="slow-flow"))
    assert len(runs) == 1
    with served.client("operator") as client:
        done = until_status(client, runs[0].run_id, "succeeded")
    assert done["outputs"] == {"text": "once"}
    assert [s["attempts"] for s in done["steps"]] == [1]  # the model was called once


def test_a_retry_after_the_end_returns_the_same_run_and_says_so(served: Served) -> None:
    body = {"workflow": shout_flow(), "inputs": {"text": "a"}, "wait": True}
    with served.client("operator") as client:
        first = client.post(f"{API}/runs", json=body, headers={"Idempotency-Key": "k-2"})
        again = client.post(f"{API}/runs", json=body, headers={"Idempotency-Key": "k-2"})
    assert first.json()["run_id"] == again.json()["run_id"]
    assert again.json()["outputs"] == {"text": "A"}
    assert again.headers["idempotent-replayed"] == "true"
    assert "idempotent-replayed" not in first.headers
    assert len(served.orchestrator.runs()) == 1


def test_the_same_key_with_another_body_is_refused(served: Served) -> None:
    with served.client("operator") as client:
        headers = {"Idempotency-Key": "k-3"}
        client.post(
            f"{API}/runs", json={"workflow": shout_flow(), "inputs": {"text": "a"}}, headers=headers
        )
        other = client.post(
            f"{API}/runs", json={"workflow": shout_flow(), "inputs": {"text": "b"}}, headers=headers
        )
    problem = is_problem(other, 422)
    assert problem["field"] == "Idempotency-Key"
    assert len(served.orchestrator.runs()) == 1


def test_keys_belong_to_their_principal(served: Served) -> None:
    body = {"workflow": shout_flow(), "inputs": {"text": "a"}, "wait": True}
    headers = {"Idempotency-Key": "shared-key"}
    with served.client("operator") as one, served.client("admin") as other:
        first = one.post(f"{API}/runs", json=body, headers=headers).json()
        second = other.post(f"{API}/runs", json=body, headers=headers).json()
    assert first["run_id"] != second["run_id"]
    assert len(served.orchestrator.runs()) == 2


def test_a_refused_first_attempt_can_be_retried_with_the_same_key(served: Served) -> None:
    headers = {"Idempotency-Key": "k-4"}
    with served.client("operator") as client:
        bad = client.post(
            f"{API}/runs", json={"workflow": shout_flow(), "inputs": {"text": 1}}, headers=headers
        )
        is_problem(bad, 422)
        good = client.post(
            f"{API}/runs",
            json={"workflow": shout_flow(), "inputs": {"text": 1}},
            headers=headers,
        )
        is_problem(good, 422)  # the same request is refused the same way
    assert served.orchestrator.runs() == []
