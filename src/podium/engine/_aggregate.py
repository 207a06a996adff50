"""Ensemble combiners: turn several members' answers into one, recording each contribution.

Classifier members answer ``{label, confidence, probabilities?}``; regressors ``{value}``
(``score`` is accepted as the value too). Each combiner is a class in :data:`COMBINERS`.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, Protocol

from podium.errors import ModelCallError

#: ``combine: stacking`` asks a trained meta-model (``stacker: model/NAME``), so it is not a
#: plain function of the votes; the executor handles it with :func:`stacking_features`.
STACKING = "stacking"


@dataclass(frozen=True)
class Vote:
    """One member's answer and its weight (the member's measured quality)."""

    model: str
    output: dict[str, Any]
    weight: float


class Combiner(Protocol):
    """Turns the members' votes into one answer with each member's contribution."""

    def combine(self, votes: list[Vote]) -> dict[str, Any]: ...


def _label(vote: Vote) -> Any:
    if "label" not in vote.output:
        raise ModelCallError(f"{vote.model} gave no 'label' to vote with", retryable=False)
    return vote.output["label"]


def _number(vote: Vote) -> float:
    for key in ("value", "score"):
        value = vote.output.get(key)
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
    raise ModelCallError(f"{vote.model} gave no numeric 'value' or 'score'", retryable=False)


def _probabilities(vote: Vote) -> dict[Any, float]:
    probs = vote.output.get("probabilities")
    if isinstance(probs, dict) and probs:
        return {k: float(v) for k, v in probs.items()}
    confidence = float(vote.output.get("confidence", 1.0))
    return {_label(vote): confidence}


def _members(votes: list[Vote], shares: list[float]) -> list[dict[str, Any]]:
    return [
        {
            "model": v.model,
            "output": v.output,
            "weight": round(v.weight, 6),
            "contribution": round(s, 6),
        }
        for v, s in zip(votes, shares, strict=True)
    ]


def _pick(scores: dict[Any, float]) -> tuple[Any, float]:
    total = sum(scores.values()) or 1.0
    label = max(sorted(scores, key=str), key=lambda k: scores[k])
    return label, scores[label] / total


class Majority:
    """The most frequent label; ties go to the higher summed confidence."""

    name = "majority"

    def combine(self, votes: list[Vote]) -> dict[str, Any]:
        counts: dict[Any, float] = defaultdict(float)
        for v in votes:
            counts[_label(v)] += 1.0 + 1e-6 * float(v.output.get("confidence", 0.0))
        label, _ = _pick(counts)
        agree = sum(1 for v in votes if _label(v) == label)
        shares = [1.0 / len(votes) if _label(v) == label else 0.0 for v in votes]
        return {
            "label": label,
            "confidence": agree / len(votes),
            "members": _members(votes, shares),
        }


class Weighted:
    """Sum of each member's class probabilities times its measured quality."""

    name = "weighted"

    def combine(self, votes: list[Vote]) -> dict[str, Any]:
        scores: dict[Any, float] = defaultdict(float)
        for v in votes:
            for label, p in _probabilities(v).items():
                scores[label] += v.weight * p
        label, confidence = _pick(scores)
        total_weight = sum(v.weight for v in votes) or 1.0
        shares = [v.weight * _probabilities(v).get(label, 0.0) / total_weight for v in votes]
        probs = {k: round(s / (sum(scores.values()) or 1.0), 6) for k, s in scores.items()}
        return {
            "label": label,
            "confidence": confidence,
            "probabilities": probs,
            "members": _members(votes, shares),
        }


class Mean:
    """Mean of numeric values; for classifiers, the mean of class probabilities."""

    name = "mean"

    def combine(self, votes: list[Vote]) -> dict[str, Any]:
        if all("label" in v.output for v in votes):
            scores: dict[Any, float] = defaultdict(float)
            for v in votes:
                for label, p in _probabilities(v).items():
                    scores[label] += p / len(votes)
            label, confidence = _pick(scores)
            return {
                "label": label,
                "confidence": confidence,
                "probabilities": {k: round(s, 6) for k, s in scores.items()},
                "members": _members(votes, [1.0 / len(votes)] * len(votes)),
            }
        values = [_number(v) for v in votes]
        return {
            "value": statistics.fmean(values),
            "members": _members(votes, [1.0 / len(votes)] * len(votes)),
        }


class Median:
    """Median of numeric values (robust to one wild member)."""

    name = "median"

    def combine(self, votes: list[Vote]) -> dict[str, Any]:
        values = [_number(v) for v in votes]
        median = statistics.median(values)
        ordered = sorted(values)
        middle = {ordered[(len(ordered) - 1) // 2], ordered[len(ordered) // 2]}
        credited = [v in middle for v in values]
        shares = [1.0 / sum(credited) if c else 0.0 for c in credited]
        return {"value": median, "members": _members(votes, shares)}


class MaxConfidence:
    """The answer of the single most confident member."""

    name = "max_confidence"

    def combine(self, votes: list[Vote]) -> dict[str, Any]:
        best = max(votes, key=lambda v: float(v.output.get("confidence", 0.0)))
        result = {
            k: v
            for k, v in best.output.items()
            if k in ("label", "value", "confidence", "probabilities")
        }
        shares = [1.0 if v is best else 0.0 for v in votes]
        return result | {"members": _members(votes, shares)}


COMBINERS: dict[str, Combiner] = {
    "majority": Majority(),
    "weighted": Weighted(),
    "mean": Mean(),
    "median": Median(),
    "max_confidence": MaxConfidence(),
}


def stacking_features(votes: list[Vote]) -> list[float]:
    """The stacker's input: each member's probabilities in sorted class order, in member order.

    A member that gives no ``probabilities`` contributes its ``confidence`` for its label
    and the rest shared equally among the labels the other members know.
    """
    labels = sorted({str(k) for v in votes for k in _probabilities(v)})
    features: list[float] = []
    for vote in votes:
        probs = {str(k): p for k, p in _probabilities(vote).items()}
        if "probabilities" not in vote.output:
            rest = (1.0 - sum(probs.values())) / max(1, len(labels) - len(probs))
            probs = {label: probs.get(label, rest) for label in labels}
        features.extend(probs.get(label, 0.0) for label in labels)
    return features
