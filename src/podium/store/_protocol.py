"""The storage contract every backend (SQL, in-memory) fulfils."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from podium._types import JSONObject

if TYPE_CHECKING:
    from podium.store._audit import AuditNote, AuditRecord
    from podium.store._budget import BudgetHold, Reservation
    from podium.store._usage import UsageQuery, UsageRow


@dataclass(slots=True)
class Event:
    """One entry of a run's event log. ``step`` is the step key (``a``, ``m[3]``, ``l#2/x``).

    ``raw``, when set, is ``data`` already encoded as JSON (a writer that measured the
    size of an output does not encode it twice). Treat an event as immutable once made
    (it is not frozen only because a frozen dataclass costs a microsecond more to create,
    and one is made for every transition of every step).
    """

    type: str
    step: str | None = None
    data: JSONObject = field(default_factory=dict)
    ts: float = 0.0
    seq: int = 0
    raw: str | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class RunRecord:
    """The summary row of a run."""

    run_id: str
    workflow: str
    status: str
    started_at: float
    finished_at: float | None = None
    inputs: JSONObject = field(default_factory=dict)
    outputs: JSONObject | None = None
    cost: float = 0.0
    error: str | None = None
    definition: JSONObject = field(default_factory=dict)
    parent_run_id: str | None = None
    owner: str | None = None
    heartbeat: float | None = None
    claim: int = 0
    principal: str | None = None
    tenant: str | None = None
    caller: JSONObject = field(default_factory=dict)
    queue: str | None = None
    """The queue a submitted run waits in for a worker (``None``: not submitted)."""

    def to_json(self) -> JSONObject:
        data: JSONObject = {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "cost": self.cost,
            "error": self.error,
        }
        if self.queue is not None:
            data["queue"] = self.queue
        return data


@dataclass(frozen=True, slots=True)
class RunFilter:
    """Which runs to list: by status, workflow, tenant, and started before a time (for
    paging: pass the ``started_at`` of the last run of the previous page)."""

    status: str | None = None
    workflow: str | None = None
    tenant: str | None = None
    before: float | None = None

    def admits(self, run: RunRecord) -> bool:
        return (
            (self.status is None or run.status == self.status)
            and (self.workflow is None or run.workflow == self.workflow)
            and (self.tenant is None or run.tenant == self.tenant)
            and (self.before is None or run.started_at < self.before)
        )


@dataclass(frozen=True, slots=True)
class RunBrief:
    """The few columns a driving process polls: status, who holds the run, and its claim."""

    status: str
    owner: str | None
    heartbeat: float | None
    claim: int


@dataclass(frozen=True, slots=True)
class Claim:
    """A queued run a worker took with :meth:`Store.claim_next`, and the claim it holds
    (pass it as ``fence`` to every write)."""

    run_id: str
    claim: int


@dataclass(frozen=True, slots=True)
class QueueSpec:
    """Which queued runs a worker may take: those of ``queues`` that are ``pending``, and
    those ``running`` whose lease lapsed (no heartbeat for ``lease_s`` seconds, or released
    by a process that stopped) or whose owner is one of ``dead_owners`` (processes known
    to be gone, such as a killed worker on this host)."""

    queues: tuple[str, ...]
    lease_s: float
    dead_owners: tuple[str, ...] = ()


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of :meth:`Store.decide`: recorded, or why not."""

    recorded: bool
    existing: JSONObject | None = None
    """The decision already made for the step, when this one was refused for that."""
    run_status: str | None = None
    """The run's status, when this one was refused because the run is not open."""


@dataclass(frozen=True, slots=True)
class Quarantined:
    """An event moved out of a run's log by a repair, with the reason."""

    event: Event
    reason: str
    at: float


@dataclass(frozen=True, slots=True)
class Delta:
    """A change to one shared counter (see :meth:`Store.add_counters`): ``value`` is added,
    or, with ``blend``, the counter moves that share of the way toward ``value`` (a mean
    merged batch by batch; ``blend=1`` sets it). A counter not there yet starts at ``value``.
    """

    key: str
    name: str
    value: float
    blend: float | None = None


@dataclass(frozen=True, slots=True)
class Tokens:
    """What :meth:`Store.take_tokens` gave: ``granted`` tokens, and when fewer than asked,
    how long until the bucket holds a whole one again."""

    granted: int
    wait_s: float = 0.0


@dataclass(frozen=True)
class ModelRecord:
    """A stored model manifest."""

    name: str
    version: str
    spec: JSONObject
    registered_at: float


class Store(Protocol):
    """Persistence for the registry, runs and their event logs, and the result cache.

    Runs are driven by one process at a time. A process *claims* a run with
    :meth:`claim_run`, a compare-and-set on the run's ``claim`` counter, and passes the
    claim it holds as ``fence`` to :meth:`append` and :meth:`heartbeat`: once another
    process has claimed the run (a forced resume, a cancel), the old holder's writes are
    refused with :class:`~podium.errors.LeaseLostError` and nothing of them is stored.

    With ``audited`` set, every write the audit log covers (run events, registry changes,
    decisions, documents written with an ``audit`` note) appends its hash-chained records
    in the same transaction.
    """

    durable: bool
    audited: bool

    # registry
    def put_model(self, record: ModelRecord) -> None: ...
    def models(self) -> list[ModelRecord]: ...
    def put_contract(self, capability: str, contract: JSONObject) -> None: ...
    def contracts(self) -> dict[str, JSONObject]: ...

    # runs
    def create_run(self, run: RunRecord, events: Sequence[Event]) -> None: ...
    def append(
        self,
        run_id: str,
        events: Sequence[Event],
        update: dict[str, Any] | None = None,
        *,
        fence: int | None = None,
    ) -> list[Event]: ...
    def claim_run(self, run_id: str, owner: str, *, expected: int, now: float) -> int | None:
        """Take the run if its claim is still ``expected`` and it has not succeeded or been
        cancelled: the new claim, or ``None``."""
        ...

    def heartbeat(self, run_id: str, *, fence: int, now: float) -> bool:
        """Refresh the holder's heartbeat; ``False`` if the run was claimed by another."""
        ...

    def claim_next(self, owner: str, spec: QueueSpec, *, now: float, limit: int = 1) -> list[Claim]:
        """Take up to ``limit`` queued runs for ``owner``, oldest first, atomically: two
        workers asking at once never get the same run. Each taken run is ``running``, held
        by ``owner`` with a fresh heartbeat and a raised claim."""
        ...

    def queue_counts(self) -> dict[str, dict[str, int]]:
        """Per queue: how many submitted runs are ``pending``, ``running`` and ``waiting``."""
        ...

    def run_brief(self, run_id: str) -> RunBrief | None: ...
    def decide(self, run_id: str, step: str, decision: JSONObject, ts: float) -> Decision:
        """Record the one decision of a waiting step (and its ``approval_decided`` event),
        unless the step was already decided or the run is no longer open."""
        ...

    def decisions(self, run_id: str) -> dict[str, JSONObject]: ...
    def quarantine(self, run_id: str, seqs: Sequence[int], reason: str) -> int:
        """Move events out of the run's log into quarantine; returns how many moved."""
        ...

    def quarantined(self, run_id: str) -> list[Quarantined]: ...
    def run(self, run_id: str) -> RunRecord | None: ...
    def runs(self, limit: int = 50, *, where: RunFilter | None = None) -> list[RunRecord]:
        """Runs newest first, at most ``limit``, those ``where`` admits."""
        ...

    def events(self, run_id: str, *, after: int = 0) -> list[Event]:
        """The run's events in order; with ``after``, only those with a higher ``seq``."""
        ...

    def update_run(self, run_id: str, update: dict[str, Any]) -> None: ...

    # documents: small JSON records other layers keep (routing stats, plan templates, ...)
    def put_document(
        self, kind: str, key: str, value: JSONObject, *, audit: AuditNote | None = None
    ) -> None: ...
    def get_document(self, kind: str, key: str) -> JSONObject | None: ...
    def documents(self, kind: str) -> dict[str, JSONObject]: ...
    def delete_document(self, kind: str, key: str) -> None: ...

    # shared live state: numbers that several processes change at once
    def add_counters(self, changes: Mapping[str, Sequence[Delta]]) -> None:
        """Apply the deltas of every kind in one transaction: concurrent writers' deltas all
        count (none is lost to another's write)."""
        ...

    def counters(
        self, kind: str, *, since: float = 0.0
    ) -> tuple[dict[str, dict[str, float]], float]:
        """The counters of ``kind`` changed after ``since`` (the database's clock), as
        ``{key: {name: value}}``, and the database's clock when read (for the next ``since``,
        less a margin for transactions still committing)."""
        ...

    def delete_counters(self, kind: str, keys: Sequence[str]) -> None:
        """Remove every counter of these keys."""
        ...

    def take_tokens(self, key: str, want: int, per_s: float, burst: float) -> Tokens:
        """Take up to ``want`` whole tokens from the bucket ``key`` (refilled at ``per_s`` a
        second, holding at most ``burst``) in one atomic step shared by every process."""
        ...

    # cache
    def cache_get(self, key: str) -> JSONObject | None: ...
    def cache_put(self, key: str, value: JSONObject) -> None: ...

    # audit log, budgets and usage
    def audit(self, notes: Sequence[AuditNote]) -> None:
        """Append records that no other write carries, in their own transaction."""
        ...

    def audit_head(self) -> tuple[int, str] | None: ...
    def audit_records(
        self,
        *,
        after: int = 0,
        since: float | None = None,
        tenant: str | None = None,
        limit: int | None = None,
    ) -> Iterator[AuditRecord]: ...
    def usage(self, query: UsageQuery) -> list[UsageRow]: ...
    def reserve(self, holds: Sequence[BudgetHold], now: float | None = None) -> Reservation:
        """Hold each budget's share of a call, all or none, atomically."""
        ...

    def settle(
        self, holds: Sequence[BudgetHold], cost: float | None, now: float | None = None
    ) -> None: ...
    def budget_spent(self, key: str) -> tuple[float, int]: ...

    def close(self) -> None: ...
