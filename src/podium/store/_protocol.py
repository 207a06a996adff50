"""The storage contract every backend (SQL, in-memory) fulfils."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from podium._types import JSONObject


@dataclass(frozen=True, slots=True)
class Event:
    """One entry of a run's event log. ``step`` is the step key (``a``, ``m[3]``, ``l#2/x``)."""

    type: str
    step: str | None = None
    data: JSONObject = field(default_factory=dict)
    ts: float = 0.0
    seq: int = 0


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

    def to_json(self) -> JSONObject:
        return {
            "run_id": self.run_id,
            "workflow": self.workflow,
            "status": self.status,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "cost": self.cost,
            "error": self.error,
        }


@dataclass(frozen=True)
class ModelRecord:
    """A stored model manifest."""

    name: str
    version: str
    spec: JSONObject
    registered_at: float


class Store(Protocol):
    """Persistence for the registry, runs and their event logs, and the result cache."""

    durable: bool

    # registry
    def put_model(self, record: ModelRecord) -> None: ...
    def models(self) -> list[ModelRecord]: ...
    def put_contract(self, capability: str, contract: JSONObject) -> None: ...
    def contracts(self) -> dict[str, JSONObject]: ...

    # runs
    def create_run(self, run: RunRecord, events: Sequence[Event]) -> None: ...
    def append(
        self, run_id: str, events: Sequence[Event], update: dict[str, Any] | None = None
    ) -> list[Event]: ...
    def run(self, run_id: str) -> RunRecord | None: ...
    def runs(self, limit: int = 50) -> list[RunRecord]: ...
    def events(self, run_id: str) -> list[Event]: ...
    def update_run(self, run_id: str, update: dict[str, Any]) -> None: ...

    # documents: small JSON records other layers keep (routing stats, plan templates, ...)
    def put_document(self, kind: str, key: str, value: JSONObject) -> None: ...
    def get_document(self, kind: str, key: str) -> JSONObject | None: ...
    def documents(self, kind: str) -> dict[str, JSONObject]: ...
    def delete_document(self, kind: str, key: str) -> None: ...

    # cache
    def cache_get(self, key: str) -> JSONObject | None: ...
    def cache_put(self, key: str, value: JSONObject) -> None: ...

    def close(self) -> None: ...
