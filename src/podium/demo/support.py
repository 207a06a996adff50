"""Support scenario: the labelled messages, the trained intent classifier and its fallback.

``data/support_messages.csv`` holds 325 hand-written customer messages, 65 for each intent
(``billing``, ``technical``, ``cancellation``, ``shipping``, ``account``), each also
labelled with its sentiment (``positive``, ``neutral``, ``negative``), a customer id and
the entities it contains (order ids, amounts, dates, e-mail addresses; several values are
separated by ``;``). The entity values (in varied formats) and the sign-offs were filled
into the written messages from a fixed seed, so the entity labels are exact. The
``split`` column fixes the held-out set: 25% of each intent (80 messages).

``intent-classifier`` is a TF-IDF (words and character n-grams) + LogisticRegression
pipeline saved with skops; it runs on the ``sklearn`` runtime, whose adapter passes a
``{text: string}`` input straight to such a text pipeline. ``keyword-intent``
(:class:`KeywordIntent`) is a rule-based fallback with the same output contract.
"""

from __future__ import annotations

import csv
import re
import time
from functools import cache
from pathlib import Path
from typing import Any

from podium.demo._artifacts import (
    classification_scores,
    median_latency_ms,
    save_metrics,
    save_skops,
    train_once,
)

INTENTS = ("billing", "technical", "cancellation", "shipping", "account")
SEED = 11
MODEL = "intent-classifier"
DATA = Path(__file__).resolve().parent / "data" / "support_messages.csv"


@cache
def _rows() -> tuple[dict[str, str], ...]:
    text = DATA.read_text(encoding="utf-8")
    return tuple(csv.DictReader(text.splitlines(keepends=True)))


def messages(split: str | None = None) -> list[dict[str, str]]:
    """The labelled messages as CSV rows; ``split`` is ``"train"``, ``"test"`` or ``None``."""
    return [dict(r) for r in _rows() if split is None or r["split"] == split]


def expected_entities(row: dict[str, str]) -> dict[str, list[Any]]:
    """The labelled entities of a CSV row, in :func:`podium.demo.entities.extract` form."""

    def items(column: str) -> list[str]:
        return [v for v in row[column].split(";") if v]

    amounts = []
    for item in items("amounts"):
        value, currency = item.split(" ")
        amounts.append({"amount": float(value), "currency": currency})
    return {
        "order_ids": items("order_ids"),
        "amounts": amounts,
        "dates": items("dates"),
        "emails": items("emails"),
    }


def held_out_cases() -> list[dict[str, Any]]:
    """Held-out messages as ``{"inputs": {message, customer_id}, "expected": {...}}``.

    ``expected`` holds ``intent``, ``sentiment`` and ``entities``.
    """
    return [
        {
            "inputs": {"message": r["text"], "customer_id": r["customer_id"]},
            "expected": {
                "intent": r["intent"],
                "sentiment": r["sentiment"],
                "entities": expected_entities(r),
            },
        }
        for r in messages("test")
    ]


def _pipeline() -> Any:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import FeatureUnion, Pipeline

    features = FeatureUnion(
        [
            ("words", TfidfVectorizer(ngram_range=(1, 2), sublinear_tf=True, min_df=1)),
            (
                "chars",
                TfidfVectorizer(analyzer="char_wb", ngram_range=(3, 5), sublinear_tf=True),
            ),
        ]
    )
    return Pipeline(
        [
            ("features", features),
            ("classifier", LogisticRegression(C=10.0, solver="newton-cg", max_iter=500)),
        ]
    )


def ensure_trained(home: Path) -> dict[str, dict[str, Any]]:
    """Train the intent classifier if missing; return its stored metrics."""
    return train_once(home, [MODEL], _train)


def _train(folder: Path) -> None:
    train, test = messages("train"), messages("test")
    started = time.perf_counter()
    model = _pipeline().fit([r["text"] for r in train], [r["intent"] for r in train])
    seconds = time.perf_counter() - started
    path = folder / f"{MODEL}.skops"
    save_skops(model, path)
    texts = [r["text"] for r in test]
    scores = classification_scores([r["intent"] for r in test], list(model.predict(texts)))
    save_metrics(
        folder,
        MODEL,
        path,
        {
            **scores,
            "quality": scores["f1_macro"],
            "n_train": len(train),
            "n_test": len(test),
            "classes": [str(c) for c in model.classes_],
            "train_seconds": round(seconds, 3),
            "latency_ms": median_latency_ms(lambda: model.predict_proba(texts[:1])),
        },
    )


# keyword fallback -----------------------------------------------------------------------

#: intent -> word stems that vote for it (matched at word starts, case-insensitive).
KEYWORDS: dict[str, tuple[str, ...]] = {
    "billing": (
        "bill",
        "invoice",
        "charg",
        "refund",
        "payment",
        "pay ",
        "paid",
        "price",
        "pricing",
        "receipt",
        "card",
        "fee",
        "discount",
        "coupon",
        "tax",
        "vat",
        "overcharg",
        "money",
        "credit note",
        "statement",
        "chargeback",
        "reimburs",
    ),
    "technical": (
        "error",
        "crash",
        "bug",
        "not working",
        "stopped working",
        "doesn't work",
        "won't load",
        "app",
        "update",
        "install",
        "browser",
        "api",
        "sync",
        "firmware",
        "bluetooth",
        "wifi",
        "wi-fi",
        "device",
        "pair",
        "upload",
        "slow",
        "freez",
        "outage",
        "down",
        "integration",
        "dashboard",
        "battery",
        "screen",
    ),
    "cancellation": (
        "cancel",
        "terminate",
        "unsubscrib",
        "end my",
        "stop my",
        "renew",
        "quit",
        "opt out",
        "close out",
        "discontinue",
        "revoke",
        "retract",
        "don't need",
        "no longer",
    ),
    "shipping": (
        "ship",
        "deliver",
        "package",
        "parcel",
        "tracking",
        "track",
        "courier",
        "arriv",
        "return",
        "box",
        "postage",
        "post office",
        "dispatch",
        "customs",
        "warehouse",
        "address",
        "received",
        "transit",
    ),
    "account": (
        "account",
        "password",
        "login",
        "log in",
        "logged",
        "sign in",
        "signing in",
        "username",
        "profile",
        "email",
        "e-mail",
        "2fa",
        "two-factor",
        "verif",
        "hacked",
        "locked",
        "unlock",
        "personal data",
        "security",
        "recovery",
    ),
}


class KeywordIntent:
    """Rule-based intent: the intent whose keywords occur most often in the message.

    ``confidence`` is that intent's share of all keyword hits (0.2 when nothing matches);
    ties go to the intent listed first in :data:`KEYWORDS`.
    """

    def __init__(self) -> None:
        self._patterns = {
            intent: re.compile(
                "|".join(r"(?<![a-z0-9])" + re.escape(k.strip()) for k in words), re.IGNORECASE
            )
            for intent, words in KEYWORDS.items()
        }

    def predict(self, text: str) -> dict[str, Any]:
        """``{label, confidence, probabilities}`` for one message."""
        hits = {intent: len(p.findall(text)) for intent, p in self._patterns.items()}
        total = sum(hits.values())
        if total == 0:
            probabilities = {intent: 1.0 / len(hits) for intent in hits}
        else:
            probabilities = {intent: n / total for intent, n in hits.items()}
        label = max(probabilities, key=lambda i: probabilities[i])
        return {
            "label": label,
            "confidence": probabilities[label],
            "probabilities": probabilities,
        }


def keyword_intent_scores() -> dict[str, float]:
    """Held-out accuracy and macro-F1 of :class:`KeywordIntent`."""
    model = KeywordIntent()
    test = messages("test")
    return classification_scores(
        [r["intent"] for r in test], [model.predict(r["text"])["label"] for r in test]
    )
