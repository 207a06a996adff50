"""A run's state as a pure function of its event log (no I/O).

Events advance each step through an explicit transition table; replaying a stored log
rebuilds exactly the state the run had, which is how a run resumes after its process died.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from podium._types import RunStatus, StepStatus
from podium.errors import InvalidStateError
from podium.store import Event

S = StepStatus
NEW: None = None

#: (status before, event type) -> status after. Anything else is an invalid transition.
STEP_TRANSITIONS: dict[tuple[StepStatus | None, str], StepStatus] = {
    (NEW, "step_started"): S.RUNNING,
    (S.RUNNING, "step_started"): S.RUNNING,  # a resumed process starts the step again
    (S.FAILED, "step_started"): S.RUNNING,  # resuming a failed run retries its failed steps
    (S.CANCELLED, "step_started"): S.RUNNING,
    (S.WAITING, "step_started"): S.WAITING,
    (S.RUNNING, "attempt_failed"): S.RUNNING,
    (S.RUNNING, "step_succeeded"): S.SUCCEEDED,
    (S.WAITING, "step_succeeded"): S.SUCCEEDED,
    (S.RUNNING, "step_failed"): S.FAILED,
    (NEW, "step_skipped"): S.SKIPPED,
    (S.RUNNING, "step_skipped"): S.SKIPPED,
    (S.RUNNING, "approval_requested"): S.WAITING,
    (S.WAITING, "approval_requested"): S.WAITING,
    (S.WAITING, "approval_decided"): S.RUNNING,
    (S.RUNNING, "step_cancelled"): S.CANCELLED,
    (S.WAITING, "step_cancelled"): S.CANCELLED,
}

#: The same table by event type: event type -> {status before: status after}.
_STEP_MOVES: dict[str, dict[StepStatus | None, StepStatus]] = {}
for (_before, _type), _after in STEP_TRANSITIONS.items():
    _STEP_MOVES.setdefault(_type, {})[_before] = _after

RUN_TRANSITIONS: dict[str, RunStatus] = {
    "run_queued": RunStatus.PENDING,  # submitted; a worker starts it
    "run_started": RunStatus.RUNNING,
    "run_resumed": RunStatus.RUNNING,
    "run_waiting": RunStatus.WAITING,
    "run_succeeded": RunStatus.SUCCEEDED,
    "run_failed": RunStatus.FAILED,
    "run_cancelled": RunStatus.CANCELLED,
}


@dataclass(frozen=True, slots=True)
class Anomaly:
    """An event the transition table does not allow: skipped by a tolerant replay."""

    seq: int
    type: str
    step: str | None
    reason: str

    def describe(self, run_id: str) -> str:
        return f"run {run_id}, event {self.seq} ({self.type}): {self.reason}"

    def to_json(self) -> dict[str, Any]:
        return {"seq": self.seq, "type": self.type, "step": self.step, "reason": self.reason}


@dataclass(slots=True)
class StepRecord:
    """What the log says about one step key."""

    status: StepStatus | None = None
    output: Any = None
    attempts: int = 0
    model: str | None = None
    cost: float = 0.0
    cached: bool = False
    error: str | None = None
    started_at: float | None = None
    finished_at: float | None = None
    decision: dict[str, Any] | None = None
    approval: dict[str, Any] | None = None
    info: dict[str, Any] = field(default_factory=dict)


@dataclass
class RunState:
    """Every step's record and the run's status, built by applying events in order."""

    status: RunStatus = RunStatus.PENDING
    steps: dict[str, StepRecord] = field(default_factory=dict)
    inputs: dict[str, Any] = field(default_factory=dict)
    outputs: dict[str, Any] | None = None
    error: str | None = None
    anomalies: list[Anomaly] = field(default_factory=list)

    @classmethod
    def replay(cls, events: Iterable[Event]) -> RunState:
        """Rebuild the state from a stored log. An impossible event does not stop the replay:
        it is skipped and listed in :attr:`anomalies` (``podium runs repair`` quarantines it).
        """
        state = cls()
        for event in events:
            try:
                state.apply(event)
            except InvalidStateError as exc:
                state.anomalies.append(Anomaly(event.seq, event.type, event.step, str(exc)))
        return state

    def apply(self, event: Event) -> None:
        """Advance by one event; an impossible transition raises :class:`InvalidStateError`."""
        moves = _STEP_MOVES.get(event.type)
        key = event.step
        if moves is None or key is None:
            self._apply_other(event)
            return
        record = self.steps.get(key)
        after = moves.get(record.status if record is not None else None)
        if after is None:
            before = record.status if record and record.status else "new"
            raise InvalidStateError(f"step '{key}' cannot go from {before} by {event.type}")
        if record is None:
            record = self.steps[key] = StepRecord()
        record.status = after
        _RECORDERS[event.type](record, event)
        decision = record.decision
        if decision is not None and decision.get("same_as") is not None:
            source = self.steps.get(decision["same_as"])
            record.decision = source.decision if source else None

    def _apply_other(self, event: Event) -> None:
        """A run event; a step event without a step key (ignored); an unknown type."""
        run_status = RUN_TRANSITIONS.get(event.type)
        if run_status is not None:
            self.status = run_status
            if event.type in ("run_started", "run_queued") and "inputs" in event.data:
                self.inputs = dict(event.data.get("inputs") or {})
            elif event.type == "run_succeeded":
                self.outputs = event.data.get("outputs")
            elif event.type == "run_failed":
                self.error = event.data.get("error")
            return
        if event.step is not None:
            before = self.steps[event.step].status if event.step in self.steps else None
            raise InvalidStateError(
                f"step '{event.step}' cannot go from {before or 'new'} by {event.type}"
            )

    def step(self, key: str) -> StepRecord | None:
        return self.steps.get(key)

    @property
    def cost(self) -> float:
        return sum(r.cost for r in self.steps.values() if r.status is S.SUCCEEDED)


def _started(record: StepRecord, event: Event) -> None:
    record.attempts = max(record.attempts, int(event.data.get("attempt", 1)))
    record.started_at = record.started_at or event.ts
    record.decision = event.data.get("decision") or record.decision
    record.error = None


def _attempt_failed(record: StepRecord, event: Event) -> None:
    record.attempts = max(record.attempts, int(event.data.get("attempt", record.attempts)))
    record.error = event.data.get("error")


def _succeeded(record: StepRecord, event: Event) -> None:
    info = dict(event.data)  # what is left once output, model, cost and cached are taken out
    record.output = info.pop("output", None)
    record.model = info.pop("model", None)
    record.cost = float(info.pop("cost", None) or 0.0)
    record.cached = bool(info.pop("cached", None))
    record.decision = info.get("decision") or record.decision
    record.attempts = max(record.attempts, int(info.get("attempt") or 0))
    record.info = info
    record.finished_at = event.ts
    record.error = None


def _failed(record: StepRecord, event: Event) -> None:
    record.error = event.data.get("error")
    record.finished_at = event.ts


def _skipped(record: StepRecord, event: Event) -> None:
    record.info = {"reason": event.data.get("reason")}
    record.finished_at = event.ts


def _approval_requested(record: StepRecord, event: Event) -> None:
    record.approval = dict(event.data) | {"requested_at": event.ts}


def _approval_decided(record: StepRecord, event: Event) -> None:
    record.approval = (record.approval or {}) | {"decision": dict(event.data)}


_RECORDERS = {
    "step_started": _started,
    "attempt_failed": _attempt_failed,
    "step_succeeded": _succeeded,
    "step_failed": _failed,
    "step_skipped": _skipped,
    "step_cancelled": _failed,
    "approval_requested": _approval_requested,
    "approval_decided": _approval_decided,
}
assert set(_STEP_MOVES) <= set(_RECORDERS), "every step transition has a recorder"
