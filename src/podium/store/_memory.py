"""An in-memory store: same contract as the SQL store, nothing written to disk."""

from __future__ import annotations

import copy
import json
from collections.abc import Sequence
from dataclasses import replace
from typing import Any

from podium._types import JSONObject
from podium.errors import StoreError
from podium.store._json import dumps as _dumps
from podium.store._protocol import Event, ModelRecord, RunRecord


class MemoryStore:
    """Keeps everything in dictionaries; for tests and for runs that need no durability."""

    durable = False

    def __init__(self) -> None:
        self._models: dict[tuple[str, str], ModelRecord] = {}
        self._contracts: dict[str, JSONObject] = {}
        self._runs: dict[str, RunRecord] = {}
        self._events: dict[str, list[tuple[str]]] = {}  # one JSON batch per append
        self._cache: dict[str, JSONObject] = {}
        self._documents: dict[str, dict[str, JSONObject]] = {}
        self._definitions: dict[str, str] = {}

    def put_model(self, record: ModelRecord) -> None:
        self._models[(record.name, record.version)] = record

    def models(self) -> list[ModelRecord]:
        return sorted(self._models.values(), key=lambda r: (r.name, r.registered_at))

    def put_contract(self, capability: str, contract: JSONObject) -> None:
        self._contracts[capability] = copy.deepcopy(contract)

    def contracts(self) -> dict[str, JSONObject]:
        return copy.deepcopy(self._contracts)

    def create_run(self, run: RunRecord, events: Sequence[Event]) -> None:
        if run.run_id in self._runs:
            raise StoreError(f"a run with id '{run.run_id}' already exists")
        self._definitions[run.run_id] = _dumps(run.definition)
        self._runs[run.run_id] = replace(
            run, inputs=copy.deepcopy(run.inputs), outputs=copy.deepcopy(run.outputs), definition={}
        )
        self._events[run.run_id] = []
        self.append(run.run_id, events)

    def append(
        self, run_id: str, events: Sequence[Event], update: dict[str, Any] | None = None
    ) -> list[Event]:
        # Kept serialised, as a database would: a caller's later change cannot alter the log.
        self._events[run_id].append((_dumps([(e.type, e.step, e.data, e.ts) for e in events]),))
        if update:
            self.update_run(run_id, update)
        return list(events)

    def run(self, run_id: str) -> RunRecord | None:
        record = self._runs.get(run_id)
        return self._copy_out(record) if record else None

    def runs(self, limit: int = 50) -> list[RunRecord]:
        ordered = sorted(self._runs.values(), key=lambda r: r.started_at, reverse=True)
        return [self._copy_out(r) for r in ordered[:limit]]

    def _copy_out(self, record: RunRecord) -> RunRecord:
        return replace(
            record,
            inputs=copy.deepcopy(record.inputs),
            outputs=copy.deepcopy(record.outputs),
            definition=json.loads(self._definitions[record.run_id]),
        )

    def events(self, run_id: str) -> list[Event]:
        flat = [e for (batch,) in self._events.get(run_id, []) for e in json.loads(batch)]
        return [
            Event(kind, step, data, ts, seq) for seq, (kind, step, data, ts) in enumerate(flat, 1)
        ]

    def update_run(self, run_id: str, update: dict[str, Any]) -> None:
        self._runs[run_id] = replace(self._runs[run_id], **copy.deepcopy(update))

    def put_document(self, kind: str, key: str, value: JSONObject) -> None:
        self._documents.setdefault(kind, {})[key] = copy.deepcopy(value)

    def get_document(self, kind: str, key: str) -> JSONObject | None:
        return copy.deepcopy(self._documents.get(kind, {}).get(key))

    def documents(self, kind: str) -> dict[str, JSONObject]:
        return copy.deepcopy(self._documents.get(kind, {}))

    def delete_document(self, kind: str, key: str) -> None:
        self._documents.get(kind, {}).pop(key, None)

    def cache_get(self, key: str) -> JSONObject | None:
        value = self._cache.get(key)
        return copy.deepcopy(value) if value is not None else None

    def cache_put(self, key: str, value: JSONObject) -> None:
        self._cache[key] = copy.deepcopy(value)

    def close(self) -> None:
        """Nothing to release."""
