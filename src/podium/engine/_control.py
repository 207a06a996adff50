"""Acting on a stored run from outside its driver: who holds it, cancel, decide, repair.

Every change here is a conditional write, so two processes acting at once cannot both
succeed: a cancel claims the run first (fencing out the process driving it), a decision is
recorded once per step, and a repair only touches a run that nobody drives.
"""

from __future__ import annotations

import os
import socket
import time
from dataclasses import dataclass

from podium._types import RunStatus, StepStatus
from podium.engine._state import Anomaly, RunState
from podium.errors import InvalidStateError, RunNotFoundError
from podium.store import Event, RunBrief, RunRecord, Store

LEASE_S = 10.0
OWNER = f"{socket.gethostname()}:{os.getpid()}"

#: Runs this process is driving right now (several can run in one process).
ACTIVE_RUNS: set[str] = set()


def live_owner(record: RunRecord | RunBrief, run_id: str | None = None) -> str | None:
    """Who is driving the run right now, if anyone: a fresh heartbeat from a live process.

    On this host a dead process is recognised at once; elsewhere the lease lapses after
    :data:`LEASE_S` seconds without a heartbeat. In this process, a run is held while one
    of its drivers is active (``run_id`` names it).
    """
    if record.status != RunStatus.RUNNING or not record.owner or record.heartbeat is None:
        return None
    if record.owner == OWNER:
        rid = run_id if run_id is not None else getattr(record, "run_id", None)
        return OWNER if rid in ACTIVE_RUNS else None
    if time.time() - record.heartbeat > LEASE_S:
        return None
    host, _, pid = record.owner.rpartition(":")
    if host == socket.gethostname() and pid.isdigit():
        try:
            os.kill(int(pid), 0)
        except ProcessLookupError:
            return None
        except PermissionError:
            return record.owner
    return record.owner


def held_message(run_id: str, holder: str, heartbeat: float | None) -> str:
    age = time.time() - (heartbeat or time.time())
    return (
        f"run {run_id} is being run by {holder} (heartbeat {age:.1f} s ago); wait, or resume "
        "with --force if that process is gone"
    )


def claim(
    store: Store, run_id: str, *, force: bool = False, who: str = OWNER, purpose: str = "resume"
) -> int:
    """Take a run for this process: one compare-and-set on its claim counter.

    Refused (:class:`InvalidStateError` naming the holder) while another live process
    drives it, unless ``force``; and when another process claims it at the same moment.
    """
    brief = store.run_brief(run_id)
    if brief is None:
        raise RunNotFoundError(f"no run with id '{run_id}'")
    _refuse_settled(run_id, brief.status, purpose)
    holder = live_owner(brief, run_id)
    if holder and not force:
        raise InvalidStateError(held_message(run_id, holder, brief.heartbeat))
    taken = store.claim_run(run_id, who, expected=brief.claim, now=time.time())
    if taken is None:
        now = store.run_brief(run_id)
        if now is not None:  # another process may have finished it since our first read
            _refuse_settled(run_id, now.status, purpose)
        holder = (now.owner if now else None) or "another process"
        raise InvalidStateError(f"run {run_id} was just claimed by {holder}; it is running there")
    return taken


def _refuse_settled(run_id: str, status: str, purpose: str) -> None:
    if status in (RunStatus.SUCCEEDED, RunStatus.CANCELLED):
        raise InvalidStateError(f"run {run_id} is {status}; nothing to {purpose}")


def cancel_run(store: Store, run_id: str, *, by: str | None = None) -> RunRecord:
    """Cancel a run (for ``by``, who asked). The process driving it (if any) is fenced out
    at once and stops within a fraction of a second; its open steps are closed here."""
    record = store.run(run_id)
    if record is None:
        raise RunNotFoundError(f"no run with id '{run_id}'")
    if RunStatus(record.status).finished:
        raise InvalidStateError(f"run {run_id} already {record.status}")
    fence = claim(store, run_id, force=True, who=f"{OWNER} (cancel)", purpose="cancel")
    record = store.run(run_id)
    assert record is not None
    if RunStatus(record.status).finished:  # it finished just before our claim
        raise InvalidStateError(f"run {run_id} already {record.status}")
    now = time.time()
    state = RunState.replay(store.events(run_id))
    open_steps = [
        Event("step_cancelled", key, {"error": "run cancelled"}, now)
        for key, step in state.steps.items()
        if step.status in (StepStatus.RUNNING, StepStatus.WAITING)
    ]
    data: dict[str, str] = {"error": "cancelled by request"} | ({"by": by} if by else {})
    store.append(
        run_id,
        [*open_steps, Event("run_cancelled", None, data, now)],
        {
            "status": str(RunStatus.CANCELLED),
            "finished_at": now,
            "error": "cancelled by request",
            "heartbeat": None,
        },
        fence=fence,
    )
    return store.run(run_id)  # type: ignore[return-value]


def requeue_run(store: Store, run_id: str, *, by: str | None = None) -> str:
    """Put a submitted run that nobody drives (it waited for an approval that is now
    decided) back in its queue, so a worker of that queue continues it. Returns the queue."""
    record = store.run(run_id)
    if record is None:
        raise RunNotFoundError(f"no run with id '{run_id}'")
    if record.queue is None:
        raise InvalidStateError(f"run {run_id} was not submitted to a queue")
    fence = claim(store, run_id, purpose="requeue")
    data: dict[str, object] = {"queue": record.queue}
    if by:
        data["by"] = by
    store.append(
        run_id,
        [Event("run_queued", None, data, time.time())],
        {"status": str(RunStatus.PENDING), "owner": None, "heartbeat": None},
        fence=fence,
    )
    return record.queue


def decide_approval(
    store: Store, run_id: str, step: str, *, approved: bool, by: str, comment: str | None
) -> None:
    """Record the decision for a waiting step, once: a second decision is refused naming the
    first. The caller then continues the run (or the process driving it picks it up)."""
    record = store.run(run_id)
    if record is None:
        raise RunNotFoundError(f"no run with id '{run_id}'")
    made = store.decisions(run_id).get(step)
    if made is not None:
        raise InvalidStateError(already_decided(run_id, step, made))
    if RunStatus(record.status).finished:
        raise InvalidStateError(f"run {run_id} is {record.status}; nothing to approve")
    state = RunState.replay(store.events(run_id))
    waiting = sorted(k for k, r in state.steps.items() if r.status is StepStatus.WAITING)
    if step not in waiting:
        made = store.decisions(run_id).get(step)
        if made is not None:
            raise InvalidStateError(already_decided(run_id, step, made))
        hint = f"; waiting: {', '.join(waiting)}" if waiting else "; no step is waiting"
        raise InvalidStateError(f"step '{step}' of run {run_id} is not waiting for approval{hint}")
    decision = {"approved": approved, "by": by, "comment": comment}
    outcome = store.decide(run_id, step, decision, time.time())
    if outcome.recorded:
        return
    if outcome.existing is not None:
        raise InvalidStateError(already_decided(run_id, step, outcome.existing))
    raise InvalidStateError(f"run {run_id} is {outcome.run_status}; nothing to approve")


def already_decided(run_id: str, step: str, decision: dict[str, object]) -> str:
    verdict = "approved" if decision.get("approved") else "rejected"
    return f"step '{step}' of run {run_id} was already {verdict} by {decision.get('by')}"


@dataclass(frozen=True)
class Repair:
    """What :func:`repair_run` found and moved out of the log."""

    run_id: str
    quarantined: list[Anomaly]
    status: str


def repair_run(store: Store, run_id: str) -> Repair:
    """Quarantine every event the replay cannot apply, so the run reads (and resumes) again.

    The events are moved to the quarantine table with the reason, not deleted. Refused while
    a live process drives the run.
    """
    brief = store.run_brief(run_id)
    if brief is None:
        raise RunNotFoundError(f"no run with id '{run_id}'")
    holder = live_owner(brief, run_id)
    if holder:
        raise InvalidStateError(held_message(run_id, holder, brief.heartbeat))
    state = RunState.replay(store.events(run_id))
    found = list(state.anomalies)
    for anomaly in found:
        store.quarantine(run_id, [anomaly.seq], anomaly.reason)
    if found:
        again = RunState.replay(store.events(run_id))
        if again.anomalies:  # pragma: no cover - a skipped event cannot create a new one
            raise InvalidStateError(again.anomalies[0].describe(run_id))
    return Repair(run_id, found, brief.status)
