"""The adaptive router: candidates, policies, instances, breakers, limits, live statistics.

``route`` reads a cached decision when nothing it depended on has changed (the registry,
the ranking's top, the health of a candidate, a tuned threshold), so the common case is a
dictionary read and a few comparisons. ``observe`` updates the statistics, the instance's
breaker and, only when a score actually changes, that one model's place in the rankings.

With a durable store attached, the statistics, bandit, breakers and rate limits are shared
with every other process on that store by :class:`~podium.routing._shared.LiveSync`, in the
background; what the hot path changes is guarded by :attr:`AdaptiveRouter.mutex`.
"""

from __future__ import annotations

import logging
import math
import random
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from podium._types import JSONObject
from podium.errors import NoCandidateError, PodiumError
from podium.registry import ModelRef, ModelSpec, Registry
from podium.routing._bandit import Bandit
from podium.routing._candidates import INF, Signals, Table, violation
from podium.routing._cascade import CascadeBook
from podium.routing._catalog import make_policy
from podium.routing._config import RoutingConfig
from podium.routing._instances import InstancePool
from podium.routing._policies import OptionError
from podium.routing._policy import RoutePolicy
from podium.routing._protocol import CallOutcome, Lease, RouteDecision
from podium.routing._ratelimit import RateLimit, SharedBucket, TokenBucket
from podium.routing._shared import LiveSync
from podium.routing._stats import Key, ModelStats, StatsBook
from podium.store import Store

log = logging.getLogger("podium.routing")

_GRID = math.log(1.02)  # live latency is read in 2% steps, so jitter does not re-rank
_SHOWN_REJECTIONS = 16
_SEEN_MAX = 4096  # steps remembered by identity (see ``AdaptiveRouter._seen``)


class _Slot:
    """What the router keeps per model version, found by the spec object's identity (a
    ``name@version`` string is rebuilt on every ``spec.key`` read; this is the hot path)."""

    __slots__ = ("capability", "key", "pool", "priced", "spec", "stats")

    def __init__(self, spec: ModelSpec, pool: InstancePool) -> None:
        self.spec = spec
        self.key = spec.key
        self.capability = spec.capabilities[0]
        self.priced = spec.cost.per_1k_tokens > 0
        self.pool = pool
        self.stats: dict[str, tuple[ModelStats, tuple[str, str]]] = {}


class AdaptiveRouter:
    """The default router (see :mod:`podium.routing`)."""

    def __init__(
        self,
        registry: Registry,
        config: RoutingConfig | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.registry = registry
        self.config = config or RoutingConfig()
        self.explain_top = self.config.explain_top
        self.rng = random.Random(self.config.seed)  # noqa: S311 - load balancing and exploration
        self.now = clock
        self.epoch = 0
        self.stats = StatsBook(self.config.ewma_alpha)
        self.bandit = Bandit()
        self.cascades = CascadeBook()
        self._tables: dict[tuple[ModelRef, RoutePolicy], Table] = {}
        # The same tables found by the identity of a step's ref and policy objects, which
        # are kept here so their ids stay theirs: hashing the two is most of a cached route.
        self._seen: dict[tuple[int, int], tuple[ModelRef, RoutePolicy, Table]] = {}
        self._by_model: dict[str, list[tuple[Table, int]]] = {}
        self._slots: dict[int, _Slot] = {}
        self._limits: dict[str, RateLimit] = dict(self.config.rate_limits)
        self._revision = registry.revision
        self._store: Store | None = None
        self._sync: LiveSync | None = None
        self._loaded = False
        self._alpha = self.config.ewma_alpha
        #: Held while the hot path or the sync changes the live state (never across I/O).
        self.mutex = threading.Lock()

    # the Router protocol -------------------------------------------------------------------
    def attach(self, store: Store) -> None:
        """Persist statistics, bandit posteriors and tuned thresholds in ``store`` and, when
        it is durable, share them (and breakers and rate limits) with its other users."""
        if store is self._store:
            return
        if self._sync is not None:
            self._sync.close()
        self._store = store
        self._sync = LiveSync(self, store, self.config.flush_interval_s) if store.durable else None
        self._loaded = False

    def route(self, ref: ModelRef, policy: RoutePolicy, inputs: JSONObject) -> RouteDecision:
        if self._revision != self.registry.revision:
            self._registry_changed()
        if not self._loaded:
            self._load()
        seen = self._seen.get((id(ref), id(policy)))
        if seen is not None and seen[0] is ref and seen[1] is policy:
            table = seen[2]
        else:
            found = self._tables.get((ref, policy))
            table = found if found is not None else self._build(ref, policy)
            if len(self._seen) >= _SEEN_MAX:
                self._seen.clear()
            self._seen[(id(ref), id(policy))] = (ref, policy, table)
        decision = table.decision
        if (
            decision is not None
            and table.epoch == self.epoch
            and (table.valid_until == INF or self.now() < table.valid_until)
        ):
            return decision
        if self._sync is None:  # nothing else changes the state: no lock to take
            return table.policy.decide(table, self, inputs)
        with self.mutex:
            return table.policy.decide(table, self, inputs)

    def acquire(self, spec: ModelSpec, avoid: Collection[int] = ()) -> Lease:
        slot = self._slots.get(id(spec))
        if slot is None or slot.spec is not spec:
            slot = self._slot(spec)
        if self._sync is None:
            return slot.pool.acquire(self.now(), avoid)
        with self.mutex:
            return slot.pool.acquire(self.now(), avoid)

    def observe(self, spec: ModelSpec, outcome: CallOutcome) -> None:
        slot = self._slots.get(id(spec))
        if slot is None or slot.spec is not spec:
            slot = self._slot(spec)
        if self._sync is None:
            self._observe(slot, spec, outcome)
            return
        with self.mutex:
            self._observe(slot, spec, outcome)

    def _observe(self, slot: _Slot, spec: ModelSpec, outcome: CallOutcome) -> None:
        now = self.now()
        if outcome.instance is not None:
            slot.pool.release(outcome, now)
        if outcome.cancelled:
            return
        capability = outcome.capability or slot.capability
        entry = slot.stats.get(capability)
        if entry is None:
            entry = slot.stats[capability] = self.stats.handle(slot.key, capability)
        stats = entry[0]
        availability = stats.availability
        stats.record(outcome.ok, outcome.latency_ms, outcome.cost, self._alpha)
        self.stats.touch(entry[1])
        refs = self._by_model.get(slot.key)
        if refs is not None:  # the model is ranked against others somewhere
            other = (outcome.ok and slot.priced) or stats.availability != availability
            self._rescore(refs, spec, capability, latency=outcome.ok, other=other)

    def feedback(
        self,
        model: str,
        capability: str | None,
        score: float,
        *,
        context: str | None = None,
        replaces: float | None = None,
    ) -> None:
        """A quality judgement (0..1) of one answer of ``model`` (``name@version``).

        It refines the model's quality estimate for the static policies and, with the
        decision's ``context``, the learned policy's posterior. ``replaces`` withdraws an
        earlier judgement of the same answer.
        """
        if not self._loaded:
            self._load()
        capability = capability or self._capability_of(model)
        if capability is None:
            return
        with self.mutex:
            if replaces is not None:
                self.stats.add_feedback(model, capability, replaces, -1.0)
                if context is not None:
                    self.bandit.update(capability, context, model, replaces, -1.0)
            self.stats.add_feedback(model, capability, score)
            if context is not None:
                self.bandit.update(capability, context, model, score)
            spec = self._spec(model)
            refs = self._by_model.get(model)
            if spec is not None and refs is not None:
                self._rescore(refs, spec, capability, latency=False, other=True)
        self.flush()

    # settings ------------------------------------------------------------------------------
    def set_rate_limit(self, model: str, limit: RateLimit | None) -> None:
        """Limit calls to a model (``name`` or ``name@version``); ``None`` lifts the limit."""
        with self.mutex:
            if limit is None:
                self._limits.pop(model, None)
            else:
                self._limits[model] = limit
            for slot in self._slots.values():
                if model in (slot.spec.name, slot.key):
                    slot.pool.limiter = self._limiter_for(slot.spec)

    def set_cascade_thresholds(self, capability: str, thresholds: Mapping[str, float]) -> None:
        """Use these thresholds (model ``name@version`` -> confidence) in cascades of
        ``capability`` whose ``threshold`` is ``auto``; they are persisted."""
        self.cascades.set(capability, thresholds)
        self.epoch += 1
        self.flush()

    # introspection -------------------------------------------------------------------------
    def model_stats(self, model: str, capability: str | None = None) -> dict[str, Any] | None:
        """Live numbers for ``model`` on ``capability`` (default: its first capability)."""
        if not self._loaded:
            self._load()
        capability = capability or self._capability_of(model)
        stats = self.stats.get(model, capability) if capability else None
        return None if stats is None else stats.summary()

    def instances(self, model: str) -> list[dict[str, Any]]:
        """Per instance of ``model``: load, cap, breaker state."""
        for slot in self._slots.values():
            if slot.key == model:
                return slot.pool.describe()
        return []

    def circuits(self) -> dict[str, list[str]]:
        """Per model called so far (``name@version``): its instances' circuit states."""
        return {
            slot.key: [str(breaker.state) for breaker in slot.pool.breakers]
            for slot in list(self._slots.values())
        }

    def flush(self) -> None:
        """Share what changed (statistics, posteriors, breakers, thresholds) now, and take
        what the other processes shared (the background sync does this every
        ``flush_interval_s``)."""
        if self._sync is None:
            return
        if not self._loaded:
            self._load()  # never push numbers that ignored what is stored
        self._sync.sync()

    def close(self) -> None:
        """Push what is left and stop sharing (the orchestrator calls this on close)."""
        if self._sync is not None:
            self._sync.close()

    # what policies ask (see _policies.Env) -----------------------------------------------
    def signals(self, spec: ModelSpec, capability: str) -> Signals:
        stats = self.stats.get(spec.key, capability)
        prior = spec.quality_for(capability)
        if stats is None:
            return Signals(prior, spec.cost.per_call, spec.latency_ms)
        weight = self.config.quality_prior_weight
        quality = (
            (prior * weight + stats.feedback_sum) / (weight + stats.feedback_n)
            if stats.feedback_n > 0
            else prior
        )
        latency = spec.latency_ms
        if stats.ok_calls >= self.config.min_latency_samples and stats.ewma_ms > 0:
            latency = math.exp(round(math.log(stats.ewma_ms) / _GRID) * _GRID)
        cost = spec.cost.per_call
        if spec.cost.per_1k_tokens and stats.ok_calls:
            cost = stats.cost / stats.ok_calls
        return Signals(quality, cost, latency, stats.availability)

    def health(self, spec: ModelSpec, now: float) -> tuple[float, str]:
        slot = self._slots.get(id(spec))
        if slot is None or slot.spec is not spec:
            return 0.0, ""
        return slot.pool.blocked_until(now), slot.pool.note()

    # internals -----------------------------------------------------------------------------
    def _build(self, ref: ModelRef, route: RoutePolicy) -> Table:
        try:
            policy = make_policy(route)
        except OptionError as exc:
            raise NoCandidateError(f"route: {exc.field}: {exc}") from None
        models = self.registry.resolve(ref, tenant=route.tenant)
        capability = ref.name if ref.kind == "capability" else models[0].capabilities[0]
        kept: list[ModelSpec] = []
        rejected: list[tuple[str, str]] = []
        for spec in models:
            why = violation(spec, capability, route)
            if why:
                rejected.append((spec.key, why))
            else:
                kept.append(spec)
        if not kept:
            reasons = "; ".join(f"{m}: {w}" for m, w in rejected[:_SHOWN_REJECTIONS])
            more = len(rejected) - _SHOWN_REJECTIONS
            reasons += f"; and {more} more" if more > 0 else ""
            raise NoCandidateError(
                f"no model for {ref} satisfies the route constraints ({reasons})"
            )
        table = Table(ref, route, policy, capability, kept, rejected[:_SHOWN_REJECTIONS])
        policy.prepare(table, self)
        table.rank([policy.score(self.signals(s, capability), table.norms) for s in kept])
        if len(kept) > 1:  # a lone candidate needs no re-ranking
            for index, spec in enumerate(kept):
                self._by_model.setdefault(spec.key, []).append((table, index))
        self._tables[(ref, route)] = table
        return table

    def _rescore(
        self,
        refs: list[tuple[Table, int]],
        spec: ModelSpec,
        capability: str,
        *,
        latency: bool,
        other: bool,
    ) -> None:
        signals: Signals | None = None
        for table, index in refs:
            if table.capability != capability:
                continue
            policy = table.policy
            if not other and not (latency and policy.uses_latency):
                continue
            if signals is None:
                signals = self.signals(spec, capability)
            table.rescore(index, policy.score(signals, table.norms), self.explain_top)

    def _slot(self, spec: ModelSpec) -> _Slot:
        if not self._loaded:
            self._load()
        with self.mutex:
            pool = InstancePool(
                spec,
                self.config.breaker,
                self.rng,
                self._health_changed,
                limiter=self._limiter_for(spec),
            )
            slot = self._slots[id(spec)] = _Slot(spec, pool)
            if self._sync is not None:
                self._sync.adopt_waiting(slot.key, pool)
        return slot

    def _limiter_for(self, spec: ModelSpec) -> TokenBucket | SharedBucket | None:
        for name in (spec.key, spec.name):
            limit = self._limits.get(name)
            if limit is not None:
                if self._sync is not None:
                    return SharedBucket(f"rate:{name}", limit, self._sync.ask_tokens)
                return TokenBucket(limit, self.now())
        return None

    def _registry_changed(self) -> None:
        """Rebuild rankings; forget the instances of versions replaced or removed."""
        with self.mutex:
            self._tables.clear()
            self._seen.clear()
            self._by_model.clear()
            self._revision = self.registry.revision
            self._slots = {
                k: slot for k, slot in self._slots.items() if self._spec(slot.key) is slot.spec
            }

    def _health_changed(self) -> None:
        self.epoch += 1
        if self._sync is not None:
            self._sync.breakers_changed()

    # what the sync asks (under the mutex) --------------------------------------------------
    def slots(self) -> Collection[_Slot]:
        """The model versions called so far, with their instance pools."""
        return self._slots.values()

    def capability_of(self, model: str) -> str | None:
        """The first capability of ``model`` (``name@version``), if it is registered."""
        return self._capability_of(model)

    def shared_changed(self, changed: list[Key], breakers: bool) -> None:
        """Other processes changed these models' statistics (or some breakers): re-rank."""
        if breakers:
            self.epoch += 1
        for model, capability in changed:
            spec = self._spec(model)
            refs = self._by_model.get(model)
            if spec is not None and refs is not None:
                self._rescore(refs, spec, capability, latency=True, other=True)

    def _spec(self, model: str) -> ModelSpec | None:
        name, _, version = model.partition("@")
        for spec in self.registry.versions(name):
            if spec.version == version:
                return spec
        return None

    def _capability_of(self, model: str) -> str | None:
        spec = self._spec(model)
        return spec.capabilities[0] if spec is not None else None

    def _load(self) -> None:
        self._loaded = True
        sync = self._sync
        if sync is None:
            return
        try:
            sync.load()
        except PodiumError as exc:
            log.warning("routing state not loaded: %s", exc)
        sync.start()
        with self.mutex:
            self._tables.clear()  # rankings made before the load did not know its statistics
            self._seen.clear()
            self._by_model.clear()
