"""An in-memory store: same contract as the SQL store, nothing written to disk."""

from __future__ import annotations

import copy
import json
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

from podium._context import current_actor
from podium._types import JSONObject
from podium.errors import LeaseLostError, StoreError
from podium.store._audit import AuditNote, AuditRecord
from podium.store._audit_events import RunInfo
from podium.store._audit_memory import AuditedMemory
from podium.store._json import dumps as _dumps
from podium.store._protocol import (
    Claim,
    Decision,
    Delta,
    Event,
    ModelRecord,
    Quarantined,
    QueueSpec,
    RunBrief,
    RunFilter,
    RunRecord,
    Tokens,
)
from podium.store._tables import OPEN_STATUSES, SETTLED_STATUSES, runs_table

_RUN_COLUMNS = frozenset(runs_table.c.keys())  # a set: a column collection's ``in`` is slow
_PLAIN = frozenset((str, int, float, bool, type(None)))


def _claimable(record: RunRecord, stale: float, dead: tuple[str, ...]) -> bool:
    """Pending, or running with a lease that lapsed (or was released), or a dead owner."""
    if record.status == "pending":
        return True
    return record.status == "running" and (
        record.heartbeat is None or record.heartbeat < stale or record.owner in dead
    )


def _copied(value: Any) -> Any:
    """A deep copy of ``value``: JSON-like dicts and lists copied here (every run's inputs,
    outputs and summary go through this), anything else by :func:`copy.deepcopy`."""
    kind = type(value)
    if kind in _PLAIN:
        return value
    if kind is dict:
        return {key: _copied(item) for key, item in value.items()}
    if kind is list:
        return [_copied(item) for item in value]
    return copy.deepcopy(value)


class MemoryStore(AuditedMemory):
    """Keeps everything in dictionaries; for tests and for runs that need no durability."""

    durable = False

    def __init__(self, *, audit: bool = True) -> None:
        self.audited = audit
        self._audit: list[AuditRecord] = []
        self._budgets: dict[str, list[Any]] = {}
        self._models: dict[tuple[str, str], ModelRecord] = {}
        self._contracts: dict[str, JSONObject] = {}
        self._runs: dict[str, RunRecord] = {}
        # (seq, type, step, data as JSON, ts): kept encoded, as a database would keep it
        self._events: dict[str, list[tuple[int, str, str | None, str, float]]] = {}
        self._seq = 0
        self._removed: dict[str, dict[int, Quarantined]] = {}
        self._decisions: dict[str, dict[str, JSONObject]] = {}
        self._cache: dict[str, JSONObject] = {}
        self._documents: dict[str, dict[str, JSONObject]] = {}
        self._definitions: dict[str, str] = {}
        # kind -> key -> name -> (value, changed at)
        self._counters: dict[str, dict[str, dict[str, tuple[float, float]]]] = {}
        self._buckets: dict[str, tuple[float, float]] = {}  # key -> (tokens, updated at)
        self._lock = threading.Lock()

    def put_model(self, record: ModelRecord) -> None:
        from podium.store._sql import model_note

        with self._lock:
            old = self._models.get((record.name, record.version))
            if old is None or old.spec != record.spec:
                self._chain_notes([model_note(record, changed=old is not None)])
            self._models[(record.name, record.version)] = record

    def models(self) -> list[ModelRecord]:
        return sorted(self._models.values(), key=lambda r: (r.name, r.registered_at))

    def put_contract(self, capability: str, contract: JSONObject) -> None:
        self._contracts[capability] = copy.deepcopy(contract)

    def contracts(self) -> dict[str, JSONObject]:
        return copy.deepcopy(self._contracts)

    def create_run(self, run: RunRecord, events: Sequence[Event]) -> None:
        with self._lock:
            if run.run_id in self._runs:
                raise StoreError(f"a run with id '{run.run_id}' already exists")
            self._definitions[run.run_id] = _dumps(run.definition)
            self._runs[run.run_id] = replace(
                run,
                inputs=_copied(run.inputs),
                outputs=_copied(run.outputs),
                caller=_copied(run.caller),
                definition={},
            )
            self._events[run.run_id] = []
            self._add(run.run_id, events)
            info = RunInfo(run.principal, run.tenant, run.workflow)
            self._chain_notes(self._describe(run.run_id, info, events))

    def _add(self, run_id: str, events: Sequence[Event]) -> None:
        log = self._events[run_id]
        for e in events:
            self._seq += 1
            log.append((self._seq, e.type, e.step, e.raw or _dumps(e.data), e.ts))

    def append(
        self,
        run_id: str,
        events: Sequence[Event],
        update: dict[str, Any] | None = None,
        *,
        fence: int | None = None,
    ) -> list[Event]:
        for column in update or ():
            if column not in _RUN_COLUMNS:
                raise StoreError(f"no run column '{column}'")
        with self._lock:
            record = self._runs.get(run_id)
            if record is None:
                raise StoreError(f"no run with id '{run_id}'")
            if fence is not None and record.claim != fence:
                raise LeaseLostError(f"run {run_id} was claimed by another process")
            self._add(run_id, events)
            info = RunInfo(record.principal, record.tenant, record.workflow)
            self._chain_notes(self._describe(run_id, info, events))
            if update:
                self._runs[run_id] = replace(record, **_copied(update))
        return list(events)

    def claim_run(self, run_id: str, owner: str, *, expected: int, now: float) -> int | None:
        with self._lock:
            record = self._runs.get(run_id)
            if record is None or record.claim != expected or record.status in SETTLED_STATUSES:
                return None
            self._runs[run_id] = replace(record, owner=owner, heartbeat=now, claim=expected + 1)
            return expected + 1

    def heartbeat(self, run_id: str, *, fence: int, now: float) -> bool:
        with self._lock:
            record = self._runs.get(run_id)
            if record is None or record.claim != fence:
                return False
            self._runs[run_id] = replace(record, heartbeat=now)
            return True

    def claim_next(self, owner: str, spec: QueueSpec, *, now: float, limit: int = 1) -> list[Claim]:
        taken: list[Claim] = []
        stale = now - spec.lease_s
        with self._lock:
            waiting = sorted(
                (
                    r
                    for r in self._runs.values()
                    if r.queue in spec.queues and _claimable(r, stale, spec.dead_owners)
                ),
                key=lambda r: r.started_at,
            )
            for record in waiting[:limit]:
                claim = record.claim + 1
                self._runs[record.run_id] = replace(
                    record, status="running", owner=owner, heartbeat=now, claim=claim
                )
                taken.append(Claim(record.run_id, claim))
        return taken

    def queue_counts(self) -> dict[str, dict[str, int]]:
        counts: dict[str, dict[str, int]] = {}
        for record in list(self._runs.values()):
            if record.queue is not None and record.status in OPEN_STATUSES:
                per = counts.setdefault(record.queue, dict.fromkeys(OPEN_STATUSES, 0))
                per[record.status] += 1
        return counts

    def run(self, run_id: str) -> RunRecord | None:
        record = self._runs.get(run_id)
        return self._copy_out(record) if record else None

    def run_brief(self, run_id: str) -> RunBrief | None:
        record = self._runs.get(run_id)
        if record is None:
            return None
        return RunBrief(record.status, record.owner, record.heartbeat, record.claim)

    def runs(self, limit: int = 50, *, where: RunFilter | None = None) -> list[RunRecord]:
        ordered = sorted(self._runs.values(), key=lambda r: r.started_at, reverse=True)
        chosen = [r for r in ordered if where is None or where.admits(r)]
        return [self._copy_out(r) for r in chosen[:limit]]

    def _copy_out(self, record: RunRecord) -> RunRecord:
        return replace(
            record,
            inputs=copy.deepcopy(record.inputs),
            outputs=copy.deepcopy(record.outputs),
            caller=copy.deepcopy(record.caller),
            definition=json.loads(self._definitions[record.run_id]),
        )

    def events(self, run_id: str, *, after: int = 0) -> list[Event]:
        removed = self._removed.get(run_id, {})
        return [
            Event(kind, step, json.loads(data), ts, seq)
            for seq, kind, step, data, ts in self._events.get(run_id, [])
            if seq > after and seq not in removed
        ]

    def update_run(self, run_id: str, update: dict[str, Any]) -> None:
        with self._lock:
            self._runs[run_id] = replace(self._runs[run_id], **_copied(update))

    def decide(self, run_id: str, step: str, decision: JSONObject, ts: float) -> Decision:
        with self._lock:
            record = self._runs.get(run_id)
            if record is None or record.status not in OPEN_STATUSES:
                return Decision(False, run_status=record.status if record else None)
            made = self._decisions.setdefault(run_id, {})
            if step in made:
                return Decision(False, existing=copy.deepcopy(made[step]))
            made[step] = copy.deepcopy(decision)
            decided = Event("approval_decided", step, decision, ts)
            self._add(run_id, [decided])
            info = RunInfo(record.principal, record.tenant, record.workflow)
            self._chain_notes(self._describe(run_id, info, [decided]))
            return Decision(True)

    def decisions(self, run_id: str) -> dict[str, JSONObject]:
        return copy.deepcopy(self._decisions.get(run_id, {}))

    def quarantine(self, run_id: str, seqs: Sequence[int], reason: str) -> int:
        with self._lock:
            wanted = set(seqs)
            removed = self._removed.setdefault(run_id, {})
            moved = 0
            for event in self.events(run_id):
                if event.seq in wanted:
                    removed[event.seq] = Quarantined(event, reason, time.time())
                    moved += 1
            note = AuditNote(
                "run.repaired",
                time.time(),
                {"events": sorted(seqs), "reason": reason},
                subject=run_id,
                principal=current_actor().principal,
                run_id=run_id,
            )
            self._chain_notes([note])
            return moved

    def quarantined(self, run_id: str) -> list[Quarantined]:
        return [q for _, q in sorted(self._removed.get(run_id, {}).items())]

    def put_document(
        self, kind: str, key: str, value: JSONObject, *, audit: AuditNote | None = None
    ) -> None:
        with self._lock:
            self._documents.setdefault(kind, {})[key] = copy.deepcopy(value)
            if audit is not None:
                self._chain_notes([audit])

    def get_document(self, kind: str, key: str) -> JSONObject | None:
        return copy.deepcopy(self._documents.get(kind, {}).get(key))

    def documents(self, kind: str) -> dict[str, JSONObject]:
        return copy.deepcopy(self._documents.get(kind, {}))

    def delete_document(self, kind: str, key: str) -> None:
        self._documents.get(kind, {}).pop(key, None)

    def add_counters(self, changes: Mapping[str, Sequence[Delta]]) -> None:
        now = time.time()
        with self._lock:
            for kind, deltas in changes.items():
                self._add_counters(self._counters.setdefault(kind, {}), deltas, now)

    @staticmethod
    def _add_counters(
        book: dict[str, dict[str, tuple[float, float]]], deltas: Sequence[Delta], now: float
    ) -> None:
        for d in deltas:
            names = book.setdefault(d.key, {})
            found = names.get(d.name)
            if found is None:
                value = d.value
            elif d.blend is None:
                value = found[0] + d.value
            else:
                value = found[0] + d.blend * (d.value - found[0])
            names[d.name] = (value, now)

    def counters(
        self, kind: str, *, since: float = 0.0
    ) -> tuple[dict[str, dict[str, float]], float]:
        with self._lock:
            now = time.time()
            found: dict[str, dict[str, float]] = {}
            for key, names in self._counters.get(kind, {}).items():
                for name, (value, at) in names.items():
                    if at > since:
                        found.setdefault(key, {})[name] = value
            return found, now

    def delete_counters(self, kind: str, keys: Sequence[str]) -> None:
        with self._lock:
            book = self._counters.get(kind, {})
            for key in keys:
                book.pop(key, None)

    def take_tokens(self, key: str, want: int, per_s: float, burst: float) -> Tokens:
        with self._lock:
            now = time.time()
            tokens, updated = self._buckets.get(key, (burst, now))
            tokens = min(burst, tokens + max(now - updated, 0.0) * per_s)
            granted = max(0, min(int(want), int(tokens)))
            tokens -= granted
            self._buckets[key] = (tokens, now)
        wait = 0.0 if granted >= want or tokens >= 1.0 else (1.0 - tokens) / per_s
        return Tokens(granted, wait)

    def cache_get(self, key: str) -> JSONObject | None:
        value = self._cache.get(key)
        return copy.deepcopy(value) if value is not None else None

    def cache_put(self, key: str, value: JSONObject) -> None:
        self._cache[key] = copy.deepcopy(value)

    def close(self) -> None:
        """Nothing to release."""
