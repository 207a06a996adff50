"""Live statistics per model x capability, kept in memory and persisted to the store.

Each :class:`ModelStats` counts calls and errors, tracks latency as an EWMA and as a
streaming log-bucketed histogram (p50/p95 within a few percent, constant memory), the cost
spent, the recent availability and the quality feedback received.

:class:`StatsBook` shares them with every process on the same store (see
:mod:`podium.routing._shared`): :meth:`StatsBook.cut` turns what changed since the last
push into deltas (counts, cost, histogram buckets add up; the latency EWMA and the
availability are blended batch by batch), and :meth:`StatsBook.apply` takes the shared
totals back, keeping the calls made since the cut on top.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Iterator
from typing import Any

from podium.store import Delta, Store

log = logging.getLogger("podium.routing")

KIND = "routing.stats"
REPLAY_RUNS = 200
#: The numbers that add up across processes, in :class:`_Mark` order.
_ADDITIVE = ("calls", "ok_calls", "errors", "cost", "feedback_n", "feedback_sum", "lat_sum")
_AVAILABILITY_ALPHA = 0.1

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
        "lat_sum",
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
        self.lat_sum = 0.0  # of answers' latencies: a batch's mean for the shared EWMA

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
            self.lat_sum += latency_ms
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
            "lat_sum": self.lat_sum,
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
        stats.lat_sum = float(data.get("lat_sum", stats.ewma_ms * stats.ok_calls))
        return stats


Key = tuple[str, str]  # (model key, capability)


class StatsBook:
    """Every :class:`ModelStats`, with write-behind persistence to store documents."""

    def __init__(self, alpha: float = 0.2) -> None:
        self.alpha = alpha
        self._entries: dict[Key, ModelStats] = {}
        self._dirty: set[Key] = set()
        self._sent: dict[Key, _Mark] = {}  # what the store has of each entry (as last known)
        self._shared: dict[Key, dict[str, float]] = {}  # the store's numbers, as last read

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

    # sharing -------------------------------------------------------------------------------
    @property
    def dirty(self) -> bool:
        return bool(self._dirty)

    def cut(self) -> tuple[list[Delta], dict[Key, _Mark]]:
        """The deltas of every entry changed since the last push, and the marks they lead
        to (:meth:`settle` them once pushed, :meth:`unsettle` if not)."""
        dirty, self._dirty = self._dirty, set()
        deltas: list[Delta] = []
        marks: dict[Key, _Mark] = {}
        for key in dirty:
            now = _Mark.of(self._entries[key])
            deltas.extend(now.deltas("|".join(key), self._sent.get(key, _ZERO), self.alpha))
            marks[key] = now
        return deltas, marks

    def settle(self, marks: dict[Key, _Mark]) -> None:
        """The deltas from :meth:`cut` are in the store."""
        self._sent.update(marks)

    def unsettle(self, marks: dict[Key, _Mark]) -> None:
        """The deltas from :meth:`cut` did not reach the store: cut them again next time."""
        self._dirty.update(marks)

    def apply(self, shared: dict[str, dict[str, float]]) -> list[Key]:
        """Take the shared totals (only the numbers that changed need be given); the calls
        made since the last cut stay on top. Returns the keys whose counts others changed."""
        changed: list[Key] = []
        for name, numbers in shared.items():
            model, _, capability = name.partition("|")
            key = (model, capability)
            known = self._shared.setdefault(key, {})
            known.update(numbers)
            base = _Mark.shared(known)
            sent = self._sent.get(key)
            if sent is not None and base.same(sent):
                continue  # only what this process pushed: its own numbers are already these
            stats = self.entry(model, capability)
            sent = sent or _ZERO
            mine = _Mark.of(stats)
            changed.append(key)
            base.install(stats, known, mine.minus(sent), self.alpha)
            self._sent[key] = base
            if not mine.same(sent):
                self._dirty.add(key)
        return changed

    def replay(
        self,
        store: Store,
        since: float,
        until: float,
        capability_of: Callable[[str], str | None],
    ) -> int:
        """Count the calls the event log recorded after ``since`` and up to ``until`` (those
        of a process that stopped before it pushed them); returns how many."""
        counted = 0
        for run in store.runs(REPLAY_RUNS):
            if run.finished_at is not None and run.finished_at <= since:
                continue
            for event in store.events(run.run_id):
                if not since < event.ts <= until or event.type not in (
                    "step_succeeded",
                    "attempt_failed",
                ):
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
                    counted += 1
                elif not data.get("cached") and "latency_ms" in data:
                    latency = float(data.get("latency_ms") or 0.0)
                    self.record(model, capability, True, latency, float(data.get("cost") or 0.0))
                    counted += 1
        return counted


class _Mark:
    """An entry's additive numbers at one moment (what was pushed, or is shared)."""

    __slots__ = ("counts", "hist")

    def __init__(self, counts: tuple[float, ...], hist: dict[int, int]) -> None:
        self.counts = counts
        self.hist = hist

    @classmethod
    def of(cls, stats: ModelStats) -> _Mark:
        return cls(tuple(getattr(stats, f) for f in _ADDITIVE), dict(stats.hist.counts))

    @classmethod
    def shared(cls, numbers: dict[str, float]) -> _Mark:
        hist = {int(n[2:]): int(v) for n, v in numbers.items() if n.startswith("h:") and v}
        return cls(tuple(numbers.get(f, 0.0) for f in _ADDITIVE), hist)

    def minus(self, other: _Mark) -> _Mark:
        hist = {b: n - other.hist.get(b, 0) for b, n in self.hist.items()}
        return _Mark(
            tuple(a - b for a, b in zip(self.counts, other.counts, strict=True)),
            {b: n for b, n in hist.items() if n},
        )

    def same(self, other: _Mark) -> bool:
        """Equal, but for the rounding of sums added up in another order."""
        return self.hist == other.hist and all(
            abs(a - b) <= 1e-9 * max(1.0, abs(a))
            for a, b in zip(self.counts, other.counts, strict=True)
        )

    def deltas(self, key: str, before: _Mark, alpha: float) -> list[Delta]:
        """What changed since ``before``, as deltas of the store's counters for ``key``."""
        out: list[Delta] = []
        step = self.minus(before)
        for name, value in zip(_ADDITIVE, step.counts, strict=True):
            if value:
                out.append(Delta(key, name, value))
        out.extend(Delta(key, f"h:{b}", float(n)) for b, n in step.hist.items())
        calls, ok = step.counts[0], step.counts[1]
        if ok > 0:  # the batch's mean latency, weighted as that many calls of the EWMA
            out.append(Delta(key, "ewma_ms", step.counts[6] / ok, 1.0 - (1.0 - alpha) ** ok))
        if calls > 0:
            share = 1.0 - (1.0 - _AVAILABILITY_ALPHA) ** calls
            out.append(Delta(key, "availability", ok / calls, share))
        return out

    def install(
        self, stats: ModelStats, numbers: dict[str, float], extra: _Mark, alpha: float
    ) -> None:
        """Make ``stats`` the shared numbers plus ``extra`` (the calls not pushed yet)."""
        for name, value, more in zip(_ADDITIVE, self.counts, extra.counts, strict=True):
            total = value + more
            setattr(stats, name, int(total) if name in ("calls", "ok_calls", "errors") else total)
        hist = dict(self.hist)
        for bucket, n in extra.hist.items():
            hist[bucket] = hist.get(bucket, 0) + n
        stats.hist.counts = {b: n for b, n in hist.items() if n > 0}
        stats.hist.total = sum(stats.hist.counts.values())
        stats.ewma_ms = numbers.get("ewma_ms", stats.ewma_ms)
        stats.availability = numbers.get("availability", stats.availability)
        calls, ok = extra.counts[0], extra.counts[1]
        if ok > 0:
            mean = extra.counts[6] / ok
            stats.ewma_ms += (1.0 - (1.0 - alpha) ** ok) * (mean - stats.ewma_ms)
        if calls > 0:
            share = 1.0 - (1.0 - _AVAILABILITY_ALPHA) ** calls
            stats.availability += share * (ok / calls - stats.availability)


_ZERO = _Mark((0.0,) * len(_ADDITIVE), {})
