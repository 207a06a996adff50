"""Approvals through the API: listed across visible runs, decided once (the loser of a
race is told who won), attributed to the principal, and the run goes on."""

from __future__ import annotations

import threading

from api_support import API, gated_flow, is_problem, until_status
from server_support import Served


def _waiting(served: Served, who: str = "operator", **flow: object) -> str:
    with served.client(who) as client:
        answer = client.post(
            f"{API}/runs",
            json={"workflow": gated_flow(**flow), "inputs": {"text": "go"}, "wait": True},  # type: ignore[arg-type]
        )
    assert answer.json()["status"] == "waiting", answer.text
    run_id: str = answer.json()["run_id"]
    return run_id


def test_pending_approvals_are_listed_and_an_approval_continues_the_run(served: Served) -> None:
    run_id = _waiting(served)
    with served.client("viewer") as viewer:
        [pending] = viewer.get(f"{API}/approvals").json()
        assert pending["run_id"] == run_id and pending["step"] == "gate"
        assert pending["prompt"] == "Shout it?"
        is_problem(viewer.post(f"{API}/runs/{run_id}/approvals/gate", json={}), 403)
    with served.client("operator") as operator:
        decided = operator.post(
            f"{API}/runs/{run_id}/approvals/gate",
            json={"approved": True, "comment": "fine"},
            params={"wait": "5"},
        )
        assert decided.status_code == 200, decided.text
        body = decided.json()
        assert body["status"] == "succeeded"
        assert body["outputs"] == {"text": "GO"}
        assert body["by"].startswith("key:")
        assert operator.get(f"{API}/approvals").json() == []
    decision = served.orchestrator.store.decisions(run_id)["gate"]
    assert decision == {"approved": True, "by": body["by"], "comment": "fine"}


def test_a_rejection_skips_the_gated_step(served: Served) -> None:
    run_id = _waiting(served)
    with served.client("operator") as client:
        client.post(f"{API}/runs/{run_id}/approvals/gate", json={"approved": False})
        done = until_status(client, run_id, "succeeded")
    assert {s["step"]: s["status"] for s in done["steps"]}["loud"] == "skipped"


def test_of_two_racing_decisions_one_wins_and_the_other_learns_who(served: Served) -> None:
    run_id = _waiting(served)
    answers = []
    barrier = threading.Barrier(2)

    def decide(who: str, approved: bool) -> None:
        with served.client(who) as client:
            barrier.wait()
            answers.append(
                client.post(f"{API}/runs/{run_id}/approvals/gate", json={"approved": approved})
            )

    racers = [
        threading.Thread(target=decide, args=("operator", True)),
        threading.Thread(target=decide, args=("admin", False)),
    ]
    for racer in racers:
        racer.start()
    for racer in racers:
        racer.join()
    codes = sorted(a.status_code for a in answers)
    assert codes == [200, 409], [a.text for a in answers]
    winner = next(a for a in answers if a.status_code == 200).json()
    loser = is_problem(next(a for a in answers if a.status_code == 409), 409)
    assert f"already decided by {winner['by']}" in loser["detail"]
    assert loser["decided_by"] == winner["by"]


def test_a_step_for_admins_cannot_be_decided_by_an_operator(served: Served) -> None:
    run_id = _waiting(served, approvers=["admin"])
    with served.client("operator") as operator:
        is_problem(operator.post(f"{API}/runs/{run_id}/approvals/gate", json={}), 403)
    with served.client("admin") as admin:
        assert admin.post(f"{API}/runs/{run_id}/approvals/gate", json={}).status_code == 200


def test_another_tenants_approvals_are_invisible(served: Served) -> None:
    run_id = _waiting(served, who="a")
    with served.client("b") as b:
        assert b.get(f"{API}/approvals").json() == []
        is_problem(b.post(f"{API}/runs/{run_id}/approvals/gate", json={}), 404)
    with served.client("a") as a:
        assert [p["run_id"] for p in a.get(f"{API}/approvals").json()] == [run_id]


def test_deciding_a_step_that_does_not_wait_is_a_conflict(served: Served) -> None:
    run_id = _waiting(served)
    with served.client("operator") as client:
        answer = client.post(f"{API}/runs/{run_id}/approvals/loud", json={})
        assert "not waiting" in is_problem(answer, 409)["detail"]
        extra = client.post(f"{API}/runs/{run_id}/approvals/gate", json={"by": "someone-else"})
        assert is_problem(extra, 422)["field"] == "by"
