"""``entity-extractor``: order ids, money amounts, dates and e-mail addresses, by regex.

Normalised output (each list in the order found in the text):

* ``order_ids``: ``"ORD-12345"`` (also found as ``#ORD-12345``, ``ord-12345``, ``ORD 12345``)
* ``amounts``: ``{"amount": 49.99, "currency": "USD"}`` from ``$49.99``, ``49.99 USD``,
  ``USD 49.99``, ``€1,299.00``, ``£15``, ``20 euros``...
* ``dates``: ISO ``"2024-03-05"`` from ``2024-03-05``, ``03/05/2024`` (US month/day),
  ``March 5, 2024``, ``Mar 5th 2024``, ``5 March 2024``, ``5th of March 2024``
* ``emails``: as written
"""

from __future__ import annotations

import datetime as dt
import re
from collections import Counter
from collections.abc import Iterable
from typing import Any

_MONTHS = {
    name: i
    for i, full in enumerate(
        (
            "january",
            "february",
            "march",
            "april",
            "may",
            "june",
            "july",
            "august",
            "september",
            "october",
            "november",
            "december",
        ),
        start=1,
    )
    for name in (full, full[:3])
}
_MONTH = r"(?P<{}>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_NUMBER = r"\d{1,3}(?:,\d{3})+(?:\.\d{1,2})?|\d+(?:\.\d{1,2})?"
_SYMBOLS = {"$": "USD", "€": "EUR", "£": "GBP"}
_WORDS = {
    "usd": "USD",
    "eur": "EUR",
    "gbp": "GBP",
    "dollars": "USD",
    "euros": "EUR",
    "pounds": "GBP",
}

ORDER_RE = re.compile(r"(?<![A-Za-z0-9])#?ORD[-\s]?(\d{5,8})(?!\d)", re.IGNORECASE)
EMAIL_RE = re.compile(r"[A-Za-z0-9._%+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}")
AMOUNT_RE = re.compile(
    rf"(?P<sym>[$€£])\s?(?P<n1>{_NUMBER})"
    rf"|\b(?P<pre>USD|EUR|GBP)\s?(?P<n2>{_NUMBER})"
    rf"|(?<![\w.,])(?P<n3>{_NUMBER})\s?(?P<post>USD|EUR|GBP|dollars|euros|pounds)\b",
    re.IGNORECASE,
)
DATE_RE = re.compile(
    r"\b(?P<iy>\d{4})-(?P<im>\d{2})-(?P<id>\d{2})\b"
    r"|\b(?P<um>\d{1,2})/(?P<ud>\d{1,2})/(?P<uy>\d{4})\b"
    rf"|\b{_MONTH.format('mm')}\s(?P<md>\d{{1,2}})(?:st|nd|rd|th)?,?\s(?P<my>\d{{4}})\b"
    rf"|\b(?P<dd>\d{{1,2}})(?:st|nd|rd|th)?(?:\sof)?\s{_MONTH.format('dm')},?\s(?P<dy>\d{{4}})\b",
    re.IGNORECASE,
)


def _amount(match: re.Match[str]) -> dict[str, Any]:
    number = match["n1"] or match["n2"] or match["n3"]
    if match["sym"]:
        currency = _SYMBOLS[match["sym"]]
    else:
        currency = _WORDS[(match["pre"] or match["post"]).lower()]
    return {"amount": float(number.replace(",", "")), "currency": currency}


def _date(match: re.Match[str]) -> str | None:
    if match["iy"]:
        parts = (match["iy"], match["im"], match["id"])
    elif match["uy"]:
        parts = (match["uy"], match["um"], match["ud"])
    elif match["my"]:
        parts = (match["my"], str(_MONTHS[match["mm"].lower()]), match["md"])
    else:
        parts = (match["dy"], str(_MONTHS[match["dm"].lower()]), match["dd"])
    try:
        return dt.date(int(parts[0]), int(parts[1]), int(parts[2])).isoformat()
    except ValueError:
        return None


def extract(text: str) -> dict[str, list[Any]]:
    """``{order_ids, amounts, dates, emails}`` found in ``text`` (see the module docstring)."""
    emails = [m.group(0) for m in EMAIL_RE.finditer(text)]
    scrubbed = EMAIL_RE.sub(" ", text)
    dates = [d for m in DATE_RE.finditer(scrubbed) if (d := _date(m)) is not None]
    return {
        "order_ids": [f"ORD-{m.group(1)}" for m in ORDER_RE.finditer(scrubbed)],
        "amounts": [_amount(m) for m in AMOUNT_RE.finditer(DATE_RE.sub(" ", scrubbed))],
        "dates": dates,
        "emails": emails,
    }


def _items(entities: dict[str, list[Any]]) -> Counter[tuple[str, str]]:
    found: Counter[tuple[str, str]] = Counter()
    for kind, values in entities.items():
        for value in values:
            if isinstance(value, dict):
                found[(kind, f"{float(value['amount']):.2f} {value['currency']}")] += 1
            else:
                found[(kind, str(value))] += 1
    return found


def micro_f1(pairs: Iterable[tuple[dict[str, list[Any]], dict[str, list[Any]]]]) -> float:
    """Micro-averaged F1 of ``(predicted, expected)`` entity sets over all kinds, 4 places.

    A message with no entities and none predicted counts for nothing either way; if
    nothing is expected or predicted at all, the score is 1.0.
    """
    true_pos = predicted = expected = 0
    for got, want in pairs:
        got_items, want_items = _items(got), _items(want)
        true_pos += sum((got_items & want_items).values())
        predicted += sum(got_items.values())
        expected += sum(want_items.values())
    if predicted + expected == 0:
        return 1.0
    return round(2 * true_pos / (predicted + expected), 4)


def entity_scores() -> dict[str, float]:
    """Held-out micro-F1 of :func:`extract` against the labelled support messages."""
    from podium.demo.support import expected_entities, messages

    test = messages("test")
    return {"f1_micro": micro_f1((extract(r["text"]), expected_entities(r)) for r in test)}
