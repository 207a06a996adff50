"""The ``learned`` policy: a contextual bandit chooses among the best few candidates.

See :mod:`podium.routing._bandit` for the model. Options: ``context`` (``none``, ``length``,
``cluster``), ``clusters``, ``explore_top``, ``max_explore``, ``prior_strength``, and the
weights ``quality_weight`` (1.0), ``cost_weight`` (0.1), ``latency_weight`` (0.0). The
candidates are ranked by the same weighted score on their priors to pick the arms.
"""

from __future__ import annotations

from podium._types import JSONObject
from podium.routing._bandit import Arm, Featurizer, Weights
from podium.routing._candidates import Norms, Signals, Table
from podium.routing._policies import Env, OptionError, Policy, healthy_top, number, whole
from podium.routing._policy import RoutePolicy
from podium.routing._protocol import Candidate, RouteDecision

CONTEXTS = ("none", "length", "cluster")


class Learned(Policy):
    """Thompson sampling per request context, with a bounded share of exploration."""

    name = "learned"
    cacheable = False
    accepts = frozenset(
        {
            "context",
            "clusters",
            "explore_top",
            "max_explore",
            "prior_strength",
            "quality_weight",
            "cost_weight",
            "latency_weight",
        }
    )

    def __init__(self, route: RoutePolicy) -> None:
        super().__init__(route)
        options = route.options
        context = options.get("context", "length")
        if context not in CONTEXTS:
            raise OptionError("context", f"must be one of {', '.join(CONTEXTS)}")
        self.context = str(context)
        self.clusters = whole(options, "clusters", 8, low=1)
        self.explore_top = whole(options, "explore_top", 4, low=1)
        self.weights = Weights(
            quality=number(options, "quality_weight", 1.0, low=0.0),
            cost=number(options, "cost_weight", 0.1, low=0.0),
            latency=number(options, "latency_weight", 0.0, low=0.0),
            prior_strength=number(options, "prior_strength", 2.0, low=0.01),
            max_explore=number(options, "max_explore", 0.1, low=0.0, high=1.0),
        )

        self.uses_latency = self.weights.latency > 0
        self._arms: tuple[int, int, float, list[Arm], str] | None = None

    def prepare(self, table: Table, env: Env) -> None:
        table.state = env.bandit.featurizer(table.capability, self.context, self.clusters)

    def score(self, s: Signals, norms: Norms) -> float:
        w = self.weights
        return (
            w.quality * s.quality
            - w.cost * s.cost / norms.cost
            - w.latency * s.latency_ms / norms.latency_ms
        )

    def decide(self, table: Table, env: Env, inputs: JSONObject) -> RouteDecision:
        featurizer: Featurizer = table.state
        context = featurizer.context(inputs)
        capability = table.capability
        arms, skipped = self._shortlist(table, env)
        picks, explored, held_back = env.bandit.choose(
            capability, context, arms, self.weights, env.rng
        )
        ranked = tuple(
            Candidate(
                p.spec,
                p.score,
                f"sampled quality {p.sampled:.3f}, mean {p.mean:.3f} "
                f"from {p.judgements:g} judgement(s)",
            )
            for p in picks
        )
        top = picks[0]
        reason = (
            f"learned: context {context}: {top.spec.key} scored {top.score:.4f} "
            f"(sampled quality {top.sampled:.3f}, posterior mean {top.mean:.3f} from "
            f"{top.judgements:g} judgement(s), cost {top.spec.cost.per_call:g})"
        )
        if explored:
            reason += ", exploring"
        if held_back:
            reason += ", exploration budget spent so took the greedy choice"
        reason += f"; {len(picks)} arm(s) of {len(table.members)} candidate(s)" + skipped
        return RouteDecision(
            str(table.ref),
            self.name,
            ranked,
            tuple(table.rejected),
            reason,
            considered=len(table.members),
            failover=tuple(c.spec for c in ranked[1 : 1 + self.failover]),
            hedge_after_s=self.hedge_after_s,
            context=context,
        )

    def _shortlist(self, table: Table, env: Env) -> tuple[list[Arm], str]:
        """The arms: the ``explore_top`` healthy candidates (reused while nothing changed)."""
        now = env.now()
        cached = self._arms
        if (
            cached is not None
            and cached[0] == table.version
            and cached[1] == env.epoch
            and now < cached[2]
        ):
            return cached[3], cached[4]
        shortlist, valid_until, skipped = healthy_top(table, env, now, self.explore_top)
        capability = table.capability
        arms = []
        for candidate in shortlist:
            spec = candidate.spec
            signals = env.signals(spec, capability)
            arms.append(
                Arm(spec, spec.key, spec.quality_for(capability), signals.cost, signals.latency_ms)
            )
        self._arms = (table.version, env.epoch, valid_until, arms, skipped)
        return arms, skipped
