"""Live statistics per model x capability, kept in memory and persisted to the store.

Each :class:`ModelStats` counts calls and errors, tracks latency as an EWMA and as a
streaming log-bucketed histogram (p50/p95 within a few percent, constant memory), the cost
spent, the recent availability and the quality feedback received.

:class:`StatsBook` writes the entries that changed to store documents (kind
``routing.stats``) at most once per ``flush_interval_s``, with a watermark. A new process
loads the documents and then replays the calls the event log recorded after the watermark,
so a restart keeps the statistics even when the last flush did not happen.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator
from typing import Any

from podium.errors import PodiumError
from podium.store import Store

log = logging.getLogger("podium.routing")

KIND = "routing.stats"
WATERMARK = "__watermark__"
REPLAY_RUNS = 200

_GROWTH = 1.04
_INV_LOG_GROWTH = 1.0 / math.log(_GROWTH)
_FLOOR_MS = 1e-3
_log = math.log


def _bucket(value_ms: float) -> int:
    return int(_log(value_ms / _FLOOR_MS) * _INV_LOG_GROWTH) if value_ms > _FLOOR_MS else 0


class StreamingHistogram:
    """Counts per logarithmic bucket (each 4% wider than the last), from 1 µs up.

    Memory grows with the spread of values, not their number (a few hundred buckets at
    most); a quantile is the geometric middle of its bucket, within 2% of the true value.
    """

    __slots__ = ("counts", "total")

    def __init__(self) -> None:
        self.counts: dict[int, int] = {}
        self.total = 0

    def add(self, value_ms: float) -> None:
        bucket = _bucket(value_ms)
        self.counts[bucket] = self.counts.get(bucket, 0) + 1
        self.total += 1

    def quantile(self, q: float) -> float | None:
        """The ``q``-quantile (0..1), or ``None`` when empty."""
        if not self.total:
            return None
        rank = q * self.total
        seen = 0
        for bucket in sorted(self.counts):
            seen += self.counts[bucket]
            if seen >= rank:
                return float(_FLOOR_MS * _GROWTH ** (bucket + 0.5))
        return float(_FLOOR_MS * _GROWTH ** (max(self.counts) + 0.5))

    def to_json(self) -> dict[str, int]:
        return {str(b): n for b, n in self.counts.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StreamingHistogram:
        hist = cls()
        hist.counts = {int(b): int(n) for b, n in data.items()}
        hist.total = sum(hist.counts.values())
        return hist


class ModelStats:
    """Live numbers for one model on one capability."""

    __slots__ = (
        "availability",
        "calls",
        "cost",
        "errors",
        "ewma_ms",
        "feedback_n",
        "feedback_sum",
        "hist",
        "ok_calls",
    )

    def __init__(self) -> None:
        self.calls = 0
        self.ok_calls = 0
        self.errors = 0
        self.ewma_ms = 0.0
        self.hist = StreamingHistogram()
        self.cost = 0.0
        self.availability = 1.0
        self.feedback_n = 0.0
        self.feedback_sum = 0.0

    def record(self, ok: bool, latency_ms: float, cost: float, alpha: float) -> None:
        """One finished call (latency counts only for answers: failures are not speed)."""
        self.calls += 1
        if ok:
            self.ok_calls += 1
            if self.ok_calls == 1:
                self.ewma_ms = latency_ms
            else:
                self.ewma_ms += alpha * (latency_ms - self.ewma_ms)
            hist = self.hist  # StreamingHistogram.add and _bucket, inlined: this runs on every call
            bucket = (
                int(_log(latency_ms / _FLOOR_MS) * _INV_LOG_GROWTH) if latency_ms > _FLOOR_MS else 0
            )
            hist.counts[bucket] = hist.counts.get(bucket, 0) + 1
            hist.total += 1
            self.cost += cost
            if self.availability != 1.0:
                self.availability += 0.1 * (1.0 - self.availability)
        else:
            self.errors += 1
            self.availability -= 0.1 * self.availability

    def to_json(self) -> dict[str, Any]:
        return {
            "calls": self.calls,
            "ok_calls": self.ok_calls,
            "errors": self.errors,
            "ewma_ms": self.ewma_ms,
            "hist": self.hist.to_json(),
            "cost": self.cost,
            "availability": self.availability,
            "feedback_n": self.feedback_n,
            "feedback_sum": self.feedback_sum,
        }

    def summary(self) -> dict[str, Any]:
        """Counts, error rate, latency (EWMA, p50, p95), cost and mean feedback."""
        p50, p95 = self.hist.quantile(0.5), self.hist.quantile(0.95)
        return {
            "calls": self.calls,
            "errors": self.errors,
            "error_rate": self.errors / self.calls if self.calls else 0.0,
            "latency_ewma_ms": round(self.ewma_ms, 3),
            "latency_p50_ms": None if p50 is None else round(p50, 3),
            "latency_p95_ms": None if p95 is None else round(p95, 3),
            "cost": self.cost,
            "availability": round(self.availability, 4),
            "feedback_n": self.feedback_n,
            "feedback_mean": self.feedback_sum / self.feedback_n if self.feedback_n else None,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> ModelStats:
        stats = cls()
        stats.calls = int(data.get("calls", 0))
        stats.ok_calls = int(data.get("ok_calls", 0))
        stats.errors = int(data.get("errors", 0))
        stats.ewma_ms = float(data.get("ewma_ms", 0.0))
        stats.hist = StreamingHistogram.from_json(data.get("hist") or {})
        stats.cost = float(data.get("cost", 0.0))
        stats.availability = float(data.get("availability", 1.0))
        stats.feedback_n = float(data.get("feedback_n", 0.0))
        stats.feedback_sum = float(data.get("feedback_sum", 0.0))
        return stats


Key = tuple[str, str]  # (model key, capability)


class StatsBook:
    """Every :class:`ModelStats`, with write-behind persistence to store documents."""

    def __init__(self, alpha: float = 0.2) -> None:
        self.alpha = alpha
        self._entries: dict[Key, ModelStats] = {}
        self._dirty: set[Key] = set()

    def get(self, model: str, capability: str) -> ModelStats | None:
        return self._entries.get((model, capability))

    def entry(self, model: str, capability: str) -> ModelStats:
        key = (model, capability)
        stats = self._entries.get(key)
        if stats is None:
            stats = self._entries[key] = ModelStats()
        return stats

    def handle(self, model: str, capability: str) -> tuple[ModelStats, Key]:
        """The entry and its key, for a caller that records often (see :meth:`touch`)."""
        return self.entry(model, capability), (model, capability)

    def touch(self, key: Key) -> None:
        """Mark an entry changed (to be written at the next flush)."""
        self._dirty.add(key)

    def record(self, model: str, capability: str, ok: bool, latency_ms: float, cost: float) -> None:
        key = (model, capability)
        stats = self._entries.get(key)
        if stats is None:
            stats = self._entries[key] = ModelStats()
        stats.record(ok, latency_ms, cost, self.alpha)
        self._dirty.add(key)

    def add_feedback(self, model: str, capability: str, score: float, weight: float = 1.0) -> None:
        """Add (``weight=1``) or withdraw (``weight=-1``) one quality judgement."""
        stats = self.entry(model, capability)
        stats.feedback_n += weight
        stats.feedback_sum += weight * score
        self._dirty.add((model, capability))

    def __iter__(self) -> Iterator[tuple[Key, ModelStats]]:
        return iter(self._entries.items())

    # persistence ---------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return bool(self._dirty)

    def flush(self, store: Store) -> None:
        """Write the changed entries, then the watermark (the time they are complete up to)."""
        if not self._dirty:
            return
        now = time.time()
        dirty, self._dirty = self._dirty, set()
        try:
            for key in dirty:
                store.put_document(KIND, "|".join(key), self._entries[key].to_json())
            store.put_document(KIND, WATERMARK, {"ts": now})
        except PodiumError as exc:
            self._dirty |= dirty
            log.warning("routing statistics not saved (will retry): %s", exc)

    def load(self, store: Store, capability_of: Callable[[str], str | None]) -> None:
        """Read the persisted entries, then replay the event log's calls after the watermark."""
        documents = store.documents(KIND)
        mark = documents.pop(WATERMARK, None)
        for name, data in documents.items():
            model, _, capability = name.partition("|")
            self._entries[(model, capability)] = ModelStats.from_json(data)
        since = float(mark["ts"]) if mark else 0.0
        self._replay(store, since, capability_of)

    def _replay(
        self, store: Store, since: float, capability_of: Callable[[str], str | None]
    ) -> None:
        for run in store.runs(REPLAY_RUNS):
            if run.finished_at is not None and run.finished_at <= since:
                continue
            for event in store.events(run.run_id):
                if event.ts <= since or event.type not in ("step_succeeded", "attempt_failed"):
                    continue
                data = event.data
                model = data.get("model")
                capability = data.get("capability") or (
                    capability_of(model) if isinstance(model, str) else None
                )
                if not isinstance(model, str) or capability is None:
                    continue
                if event.type == "attempt_failed":
                    self.record(model, capability, False, 0.0, 0.0)
                elif not data.get("cached") and "latency_ms" in data:
                    latency = float(data.get("latency_ms") or 0.0)
                    self.record(model, capability, True, latency, float(data.get("cost") or 0.0))
