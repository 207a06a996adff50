"""Learned routing: a contextual Thompson-sampling bandit over quality, with known costs.

Each request is put in a *context* by a featurizer (``route: {context: ...}``):

* ``none``: one context for every request;
* ``length`` (default): the size of the input (characters of text, items of lists) in
  buckets that grow four-fold: ``len:0-15``, ``len:16-63``, ...;
* ``cluster``: the nearest of ``clusters`` centroids (default 8) learned online (sequential
  k-means) over a vector made from the input: numbers (signed log), booleans, and text as
  hashed word counts (``cluster8:3`` is centroid 3 of 8). A cheap stand-in for an
  embedding cluster.

For each ``(capability, context, model)`` the bandit keeps a Beta posterior over the
probability that an answer is good, started from the manifest's quality prior with weight
``prior_strength`` and updated by feedback scores in 0..1 (``Orchestrator.feedback``).
A decision samples each candidate's quality and picks the highest
``quality_weight * sample - cost_weight * cost / C - latency_weight * latency / L``
(``C``, ``L``: the highest cost and latency among the arms, so ``cost_weight`` is the
quality one would give up for the most expensive arm's price).

Exploration is bounded twice: only the ``explore_top`` best candidates by the balanced
prior score are arms (default 4), and at most a ``max_explore`` share (default 0.1) of a
context's decisions may differ from the posterior-mean (greedy) choice.
"""

from __future__ import annotations

import hashlib
import math
import random
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple, Protocol

from podium._types import JSONObject
from podium.registry import ModelSpec
from podium.store import Delta

ARMS = "routing.bandit"
EXPLORE = "routing.explore"
CONTEXTS = "routing.contexts"
_WORD = re.compile(r"[a-z0-9]+")
_TEXT_DIMS = 6


class Featurizer(Protocol):
    """Puts a request into a context (a short string)."""

    def context(self, inputs: JSONObject) -> str: ...

    def to_json(self) -> dict[str, Any] | None: ...


class NoContext:
    def context(self, inputs: JSONObject) -> str:
        return "all"

    def to_json(self) -> dict[str, Any] | None:
        return None


class LengthContext:
    """Input size in four-fold buckets."""

    def context(self, inputs: JSONObject) -> str:
        size = _size(inputs)
        bucket = 0 if size < 16 else int(math.log(size, 4)) - 1
        low = 0 if bucket == 0 else 4 ** (bucket + 1)
        return f"len:{low}-{4 ** (bucket + 2) - 1}"

    def to_json(self) -> dict[str, Any] | None:
        return None


def _size(value: Any) -> int:
    if isinstance(value, str):
        return len(value)
    if isinstance(value, dict):
        return sum(_size(v) for v in value.values())
    if isinstance(value, list | tuple):
        return len(value) + sum(_size(v) for v in value if isinstance(v, str | dict | list))
    return 0


class ClusterContext:
    """Sequential k-means over standardised input vectors; the context is the centroid id."""

    def __init__(self, clusters: int) -> None:
        self.k = clusters
        self.centroids: list[list[float]] = []
        self.counts: list[int] = []
        self.n = 0
        self.mean: list[float] = []
        self.m2: list[float] = []

    def context(self, inputs: JSONObject) -> str:
        raw = _vector(inputs)
        if len(raw) != len(self.mean):
            self._reset(len(raw))  # a new input shape: start over
        self.n += 1
        for i, x in enumerate(raw):  # Welford's running mean and variance per dimension
            delta = x - self.mean[i]
            self.mean[i] += delta / self.n
            self.m2[i] += delta * (x - self.mean[i])
        point = [
            (x - m) / (math.sqrt(s / self.n) or 1.0)
            for x, m, s in zip(raw, self.mean, self.m2, strict=True)
        ]
        if len(self.centroids) < self.k and point not in self.centroids:
            self.centroids.append(point)
            self.counts.append(1)
            return f"cluster{self.k}:{len(self.centroids) - 1}"
        if not self.centroids:
            return f"cluster{self.k}:0"
        best = min(
            range(len(self.centroids)),
            key=lambda c: sum((a - b) ** 2 for a, b in zip(point, self.centroids[c], strict=True)),
        )
        self.counts[best] = min(self.counts[best] + 1, 1000)
        rate = 1.0 / self.counts[best]
        centroid = self.centroids[best]
        for i, x in enumerate(point):
            centroid[i] += rate * (x - centroid[i])
        return f"cluster{self.k}:{best}"

    def _reset(self, dims: int) -> None:
        self.centroids, self.counts, self.n = [], [], 0
        self.mean, self.m2 = [0.0] * dims, [0.0] * dims

    def to_json(self) -> dict[str, Any] | None:
        return {
            "k": self.k,
            "centroids": self.centroids,
            "counts": self.counts,
            "n": self.n,
            "mean": self.mean,
            "m2": self.m2,
        }

    def load(self, data: dict[str, Any]) -> None:
        self.centroids = [list(map(float, c)) for c in data.get("centroids", [])]
        self.counts = [int(c) for c in data.get("counts", [])]
        self.n = int(data.get("n", 0))
        self.mean = [float(v) for v in data.get("mean", [])]
        self.m2 = [float(v) for v in data.get("m2", [])]


def _vector(inputs: JSONObject) -> list[float]:
    out: list[float] = []
    for key in sorted(inputs):
        value = inputs[key]
        if isinstance(value, bool):
            out.append(float(value))
        elif isinstance(value, int | float):
            out.append(math.copysign(math.log1p(abs(value)), value))
        elif isinstance(value, str):
            counts = [0.0] * _TEXT_DIMS
            words = _WORD.findall(value.lower())
            for word in words:
                digest = hashlib.blake2b(word.encode(), digest_size=2).digest()
                counts[digest[0] % _TEXT_DIMS] += 1.0 if digest[1] & 1 else -1.0
            norm = math.sqrt(sum(c * c for c in counts)) or 1.0
            out.extend(c / norm for c in counts)
            out.append(math.log1p(len(words)))
    return out


class Arm(NamedTuple):
    """A candidate as the bandit sees it (``key``: its ``name@version``)."""

    spec: ModelSpec
    key: str
    prior: float
    cost: float
    latency_ms: float


class Pick(NamedTuple):
    """An arm's draw: the sampled and the mean quality, and how many judgements back it."""

    spec: ModelSpec
    sampled: float
    mean: float
    judgements: float
    score: float


@dataclass(frozen=True, slots=True)
class Weights:
    quality: float
    cost: float
    latency: float
    prior_strength: float
    max_explore: float


class Bandit:
    """Posteriors per ``(capability, context, model)``, contexts' featurizers, exploration."""

    def __init__(self) -> None:
        self._arms: dict[str, list[float]] = {}  # "cap|ctx|model" -> [good, bad] judgements
        self._explore: dict[str, list[int]] = {}  # "cap|ctx" -> [decisions, explorations]
        self._featurizers: dict[str, Featurizer] = {}
        self._saved_contexts: dict[str, dict[str, Any]] = {}
        self._dirty: set[str] = set()
        self._explored: set[str] = set()  # contexts whose counters changed
        # what the store has (as last known): arms' judgements, contexts' counters
        self._sent: dict[str, tuple[float, float]] = {}
        self._sent_explore: dict[str, tuple[float, float]] = {}

    def featurizer(self, capability: str, kind: str, clusters: int) -> Featurizer:
        """The (shared, persisted) featurizer for a capability and kind."""
        key = f"{capability}|{kind}:{clusters}" if kind == "cluster" else f"{capability}|{kind}"
        found = self._featurizers.get(key)
        if found is None:
            found = (
                NoContext()
                if kind == "none"
                else LengthContext()
                if kind == "length"
                else ClusterContext(clusters)
            )
            saved = self._saved_contexts.get(key)
            if isinstance(found, ClusterContext) and saved:
                found.load(saved)
            self._featurizers[key] = found
        return found

    def choose(
        self,
        capability: str,
        context: str,
        arms: Sequence[Arm],
        weights: Weights,
        rng: random.Random,
    ) -> tuple[list[Pick], bool, bool]:
        """Draw every arm; returns the picks best first, whether the first one explores,
        and whether exploring was wanted but the budget was spent."""
        max_cost = max((a.cost for a in arms), default=0.0) or 1.0
        max_latency = max((a.latency_ms for a in arms), default=0.0) or 1.0
        picks: list[Pick] = []
        greedy: Pick | None = None
        greedy_value = -math.inf
        for arm in arms:
            good, bad = self._arms.get(f"{capability}|{context}|{arm.key}", (0.0, 0.0))
            prior = min(max(arm.prior, 0.01), 0.99) * weights.prior_strength
            a = prior + good
            b = weights.prior_strength - prior + bad
            sampled = rng.betavariate(a, b)
            mean = a / (a + b)
            penalty = (
                weights.cost * arm.cost / max_cost + weights.latency * arm.latency_ms / max_latency
            )
            pick = Pick(arm.spec, sampled, mean, good + bad, weights.quality * sampled - penalty)
            picks.append(pick)
            value = weights.quality * mean - penalty
            if value > greedy_value:
                greedy, greedy_value = pick, value
        picks.sort(key=lambda p: -p.score)
        where = f"{capability}|{context}"
        counters = self._explore.setdefault(where, [0, 0])
        counters[0] += 1
        self._explored.add(where)
        explored = held_back = False
        if greedy is not None and picks[0] is not greedy:
            if counters[1] < weights.max_explore * counters[0]:
                counters[1] += 1
                explored = True
            else:
                picks.remove(greedy)
                picks.insert(0, greedy)
                held_back = True
        return picks, explored, held_back

    def update(
        self, capability: str, context: str, model: str, score: float, weight: float = 1.0
    ) -> None:
        """Add (``weight=1``) or withdraw (``weight=-1``) one judgement of ``model``."""
        key = f"{capability}|{context}|{model}"
        arm = self._arms.setdefault(key, [0.0, 0.0])
        arm[0] = max(arm[0] + weight * score, 0.0)
        arm[1] = max(arm[1] + weight * (1.0 - score), 0.0)
        self._dirty.add(key)

    def posterior(self, capability: str, context: str, model: str) -> tuple[float, float]:
        """The judgements so far (good, bad) for one arm."""
        good, bad = self._arms.get(f"{capability}|{context}|{model}", (0.0, 0.0))
        return good, bad

    @property
    def active(self) -> bool:
        """Whether learned routing is in use here (else its shared state is not read)."""
        return bool(self._arms or self._featurizers)

    # sharing -------------------------------------------------------------------------------
    def cut(self) -> tuple[dict[str, list[Delta]], Any]:
        """Deltas (arms' judgements, contexts' exploration counters) since the last push,
        and what to :meth:`settle` once they are stored (or :meth:`unsettle` if not)."""
        arms, self._dirty = self._dirty, set()
        contexts, self._explored = self._explored, set()
        changes: dict[str, list[Delta]] = {ARMS: [], EXPLORE: []}
        marks: dict[str, tuple[float, float]] = {}
        for key in arms:
            now = (self._arms[key][0], self._arms[key][1])
            changes[ARMS].extend(_deltas(key, ("good", "bad"), now, self._sent.get(key)))
            marks[key] = now
        explore_marks: dict[str, tuple[float, float]] = {}
        for key in contexts:
            counters = self._explore[key]
            now = (float(counters[0]), float(counters[1]))
            before = self._sent_explore.get(key)
            changes[EXPLORE].extend(_deltas(key, ("decisions", "explored"), now, before))
            explore_marks[key] = now
        return changes, (marks, explore_marks)

    def settle(self, marks: Any) -> None:
        self._sent.update(marks[0])
        self._sent_explore.update(marks[1])

    def unsettle(self, marks: Any) -> None:
        self._dirty.update(marks[0])
        self._explored.update(marks[1])

    def apply(
        self, arms: dict[str, dict[str, float]], explore: dict[str, dict[str, float]]
    ) -> None:
        """Take the shared totals; what changed here since the last cut stays on top."""
        for key, numbers in arms.items():
            shared = (numbers.get("good", 0.0), numbers.get("bad", 0.0))
            mine = self._arms.get(key, [0.0, 0.0])
            sent = self._sent.get(key, (0.0, 0.0))
            self._arms[key] = [
                max(shared[0] + mine[0] - sent[0], 0.0),
                max(shared[1] + mine[1] - sent[1], 0.0),
            ]
            self._sent[key] = shared
        for key, numbers in explore.items():
            shared = (numbers.get("decisions", 0.0), numbers.get("explored", 0.0))
            counters = self._explore.setdefault(key, [0, 0])
            sent = self._sent_explore.get(key, (0.0, 0.0))
            counters[0] = round(shared[0] + counters[0] - sent[0])
            counters[1] = round(shared[1] + counters[1] - sent[1])
            self._sent_explore[key] = shared

    def contexts(self) -> dict[str, dict[str, Any]]:
        """The featurizers' learned state (cluster centroids), by key."""
        found = {}
        for key, featurizer in self._featurizers.items():
            state = featurizer.to_json()
            if state is not None:
                found[key] = state
        return found

    def load_contexts(self, saved: dict[str, dict[str, Any]]) -> None:
        self._saved_contexts = saved


def _deltas(
    key: str, names: tuple[str, str], now: tuple[float, float], before: tuple[float, float] | None
) -> list[Delta]:
    start = before or (0.0, 0.0)
    return [
        Delta(key, name, value - was)
        for name, value, was in zip(names, now, start, strict=True)
        if value != was
    ]
