"""Unit tests for the ensemble combiners (podium.engine._aggregate) on hand-built votes."""

from __future__ import annotations

from typing import Any

import pytest

from podium.engine._aggregate import COMBINERS, Vote
from podium.engine._loader import COMBINERS as LOADER_COMBINERS
from podium.errors import ModelCallError


def vote(model: str, weight: float = 1.0, **output: Any) -> Vote:
    return Vote(model, dict(output), weight)


def contributions(result: dict[str, Any]) -> dict[str, float]:
    return {m["model"]: m["contribution"] for m in result["members"]}


def combine(name: str, votes: list[Vote]) -> dict[str, Any]:
    return COMBINERS[name].combine(votes)


def test_the_registered_combiners() -> None:
    assert set(COMBINERS) == {"majority", "weighted", "mean", "median", "max_confidence"}
    for name, combiner in COMBINERS.items():
        assert combiner.name == name


def test_every_combiner_the_loader_accepts_exists() -> None:
    assert set(LOADER_COMBINERS) <= set(COMBINERS)


# --------------------------------------------------------------------------- majority


def test_majority_takes_the_most_frequent_label() -> None:
    result = combine(
        "majority",
        [
            vote("a@1", label="pos", confidence=0.9),
            vote("b@1", label="pos", confidence=0.6),
            vote("c@1", label="neg", confidence=0.99),
        ],
    )
    assert result["label"] == "pos"
    assert result["confidence"] == pytest.approx(2 / 3)
    assert contributions(result) == {
        "a@1": pytest.approx(1 / 3, abs=1e-6),
        "b@1": pytest.approx(1 / 3, abs=1e-6),
        "c@1": 0.0,
    }


def test_majority_records_each_member() -> None:
    votes = [vote("a@1", 0.8, label="x", confidence=0.5), vote("b@1", 0.4, label="y")]
    members = combine("majority", votes)["members"]
    assert [m["model"] for m in members] == ["a@1", "b@1"]
    assert members[0]["output"] == {"label": "x", "confidence": 0.5}
    assert [m["weight"] for m in members] == [0.8, 0.4]
    assert set(members[0]) == {"model", "output", "weight", "contribution"}


def test_majority_tie_goes_to_the_higher_summed_confidence() -> None:
    votes = [
        vote("a@1", label="a", confidence=0.9),
        vote("b@1", label="b", confidence=0.6),
        vote("c@1", label="a", confidence=0.4),
        vote("d@1", label="b", confidence=0.8),
    ]
    result = combine("majority", votes)
    assert result["label"] == "b"  # 1.4 > 1.3
    assert result["confidence"] == 0.5
    assert contributions(result) == {"a@1": 0.0, "b@1": 0.25, "c@1": 0.0, "d@1": 0.25}


def test_majority_full_tie_is_deterministic_whatever_the_order() -> None:
    votes = [vote("a@1", label="cat", confidence=0.5), vote("b@1", label="dog", confidence=0.5)]
    first = combine("majority", votes)["label"]
    second = combine("majority", list(reversed(votes)))["label"]
    assert first == second == "cat"


def test_majority_without_confidence_still_counts() -> None:
    result = combine("majority", [vote("a@1", label=1), vote("b@1", label=1), vote("c@1", label=2)])
    assert result["label"] == 1


def test_majority_needs_labels() -> None:
    with pytest.raises(ModelCallError) as info:
        combine("majority", [vote("a@1", label="x"), vote("b@1", value=3.0)])
    assert "b@1" in str(info.value) and "label" in str(info.value)
    assert info.value.retryable is False


# --------------------------------------------------------------------------- weighted


def test_weighted_sums_probabilities_times_quality() -> None:
    votes = [
        vote("a@1", 0.9, label="pos", confidence=0.8, probabilities={"pos": 0.8, "neg": 0.2}),
        vote("b@1", 0.5, label="neg", confidence=0.9),
        vote("c@1", 0.2, label="neg", confidence=0.6),
    ]
    result = combine("weighted", votes)
    # pos: 0.9*0.8 = 0.72; neg: 0.9*0.2 + 0.5*0.9 + 0.2*0.6 = 0.75
    assert result["label"] == "neg"
    assert result["confidence"] == pytest.approx(0.75 / 1.47)
    assert result["probabilities"] == {
        "pos": pytest.approx(0.72 / 1.47, abs=1e-6),
        "neg": pytest.approx(0.75 / 1.47, abs=1e-6),
    }
    assert contributions(result) == {
        "a@1": pytest.approx(0.9 * 0.2 / 1.6, abs=1e-6),
        "b@1": pytest.approx(0.5 * 0.9 / 1.6, abs=1e-6),
        "c@1": pytest.approx(0.2 * 0.6 / 1.6, abs=1e-6),
    }


def test_weighted_lets_one_strong_member_outvote_two_weak_ones() -> None:
    votes = [
        vote("strong@1", 0.9, label="y", confidence=1.0),
        vote("weak1@1", 0.3, label="x", confidence=1.0),
        vote("weak2@1", 0.3, label="x", confidence=1.0),
    ]
    assert combine("weighted", votes)["label"] == "y"
    assert combine("majority", votes)["label"] == "x"


def test_weighted_tie_is_deterministic() -> None:
    votes = [
        vote("a@1", 0.5, label="b", confidence=1.0),
        vote("b@1", 0.5, label="a", confidence=1.0),
    ]
    assert combine("weighted", votes)["label"] == combine("weighted", votes[::-1])["label"] == "a"


def test_weighted_with_zero_weights_does_not_divide_by_zero() -> None:
    result = combine("weighted", [vote("a@1", 0.0, label="x", confidence=1.0)])
    assert result["label"] == "x"
    assert contributions(result) == {"a@1": 0.0}


def test_weighted_needs_a_label_or_probabilities() -> None:
    ok = combine("weighted", [vote("a@1", 1.0, probabilities={"x": 0.3, "y": 0.7})])
    assert ok["label"] == "y"
    with pytest.raises(ModelCallError, match="b@1 gave no 'label'"):
        combine("weighted", [vote("a@1", 1.0, label="x"), vote("b@1", 1.0, confidence=0.9)])


# --------------------------------------------------------------------------- mean and median


def test_mean_of_values_and_scores() -> None:
    result = combine("mean", [vote("a@1", value=1), vote("b@1", value=2.0), vote("c@1", score=6)])
    assert result["value"] == pytest.approx(3.0)
    assert contributions(result) == {
        "a@1": pytest.approx(1 / 3, abs=1e-6),
        "b@1": pytest.approx(1 / 3, abs=1e-6),
        "c@1": pytest.approx(1 / 3, abs=1e-6),
    }


def test_mean_of_classifiers_averages_probabilities() -> None:
    votes = [
        vote("a@1", label="x", probabilities={"x": 0.6, "y": 0.4}),
        vote("b@1", label="y", probabilities={"x": 0.2, "y": 0.8}),
    ]
    result = combine("mean", votes)
    assert result["label"] == "y"
    assert result["confidence"] == pytest.approx(0.6)
    assert result["probabilities"] == {"x": pytest.approx(0.4), "y": pytest.approx(0.6)}


def test_mean_needs_numbers_when_not_every_member_has_a_label() -> None:
    with pytest.raises(ModelCallError, match="b@1 gave no numeric 'value' or 'score'"):
        combine("mean", [vote("a@1", value=1.0), vote("b@1", label="x")])
    with pytest.raises(ModelCallError, match="a@1"):
        combine("mean", [vote("a@1", value=True)])  # a bool is not a number


def test_median_is_robust_to_a_wild_member() -> None:
    result = combine("median", [vote("a@1", value=1), vote("b@1", value=2), vote("c@1", value=100)])
    assert result["value"] == 2
    assert contributions(result) == {"a@1": 0.0, "b@1": 1.0, "c@1": 0.0}


def test_median_of_an_even_count_is_the_middle_average() -> None:
    votes = [vote(f"m{i}@1", value=v) for i, v in enumerate([4, 1, 3, 2])]
    assert combine("median", votes)["value"] == pytest.approx(2.5)


def test_median_of_an_even_count_credits_the_two_middle_members() -> None:
    votes = [vote(f"m{i}@1", value=v) for i, v in enumerate([4, 1, 3, 2])]
    shares = contributions(combine("median", votes))
    assert shares["m2@1"] > 0 and shares["m3@1"] > 0
    assert shares["m0@1"] == shares["m1@1"] == 0.0


def test_median_needs_numbers() -> None:
    with pytest.raises(ModelCallError, match="b@1"):
        combine("median", [vote("a@1", value=1), vote("b@1", label="x")])


# --------------------------------------------------------------------------- max_confidence


def test_max_confidence_takes_the_most_confident_answer() -> None:
    votes = [
        vote("a@1", label="x", confidence=0.7, extra="dropped"),
        vote("b@1", label="y", confidence=0.95, probabilities={"y": 0.95, "x": 0.05}),
        vote("c@1", label="x", confidence=0.9),
    ]
    result = combine("max_confidence", votes)
    assert result["label"] == "y" and result["confidence"] == 0.95
    assert result["probabilities"] == {"y": 0.95, "x": 0.05}
    assert "extra" not in result
    assert contributions(result) == {"a@1": 0.0, "b@1": 1.0, "c@1": 0.0}


def test_max_confidence_tie_goes_to_the_first_member() -> None:
    votes = [vote("a@1", value=1.0, confidence=0.5), vote("b@1", value=2.0, confidence=0.5)]
    result = combine("max_confidence", votes)
    assert result["value"] == 1.0
    assert contributions(result) == {"a@1": 1.0, "b@1": 0.0}
