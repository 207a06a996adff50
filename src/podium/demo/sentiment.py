"""``vader-sentiment``: the VADER lexicon and rules (``vaderSentiment`` package).

``score`` is VADER's compound score in -1..1; ``label`` follows VADER's own convention:
``positive`` at 0.05 or above, ``negative`` at -0.05 or below, else ``neutral``.
"""

from __future__ import annotations

from typing import Any

POSITIVE_AT = 0.05
NEGATIVE_AT = -0.05


def label_of(score: float) -> str:
    """``positive``, ``neutral`` or ``negative`` for a compound score."""
    if score >= POSITIVE_AT:
        return "positive"
    if score <= NEGATIVE_AT:
        return "negative"
    return "neutral"


class VaderSentiment:
    """Scores one text; the analyser (and its lexicon) is loaded once per instance."""

    def __init__(self) -> None:
        from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

        self._analyzer: Any = SentimentIntensityAnalyzer()

    def predict(self, text: str) -> dict[str, Any]:
        """``{score, label}`` for ``text``."""
        score = float(self._analyzer.polarity_scores(text)["compound"])
        return {"score": score, "label": label_of(score)}


def sentiment_scores() -> dict[str, float]:
    """Held-out accuracy and macro-F1 of :class:`VaderSentiment` on the support messages."""
    from podium.demo._artifacts import classification_scores
    from podium.demo.support import messages

    model = VaderSentiment()
    test = messages("test")
    return classification_scores(
        [r["sentiment"] for r in test], [model.predict(r["text"])["label"] for r in test]
    )
