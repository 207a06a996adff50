"""The detector: every finder over one text, overlaps settled, nothing done when a text
cannot hold anything (no ``@``, no run of six digits, nothing shaped like a codice
fiscale), which is most text and costs one regular-expression search."""

from __future__ import annotations

import re
from collections.abc import Iterator

from podium._types import JSON
from podium.governance.pii._cards import find_cards
from podium.governance.pii._email import find_emails
from podium.governance.pii._iban import find_ibans
from podium.governance.pii._kinds import DetectorConfig, Finding, PiiKind
from podium.governance.pii._national import SCHEMES, find_ids
from podium.governance.pii._phones import find_phones

#: Could the text hold anything at all? (an address, six digits in a row or in groups,
#: or the start of a codice fiscale)
_MAYBE = re.compile(r"@|\d(?:[^\w@]{0,2}\d){5}|[A-Za-z]{6}\d\d[A-Za-z]")
_DIGIT = re.compile(r"\d")
#: Which finding wins where two overlap: the earlier kind, then the longer span.
_PRIORITY = {
    PiiKind.EMAIL: 0,
    PiiKind.IBAN: 1,
    PiiKind.CARD: 2,
    PiiKind.NATIONAL_ID: 3,
    PiiKind.PHONE: 4,
}
#: Integers with at least this many digits are read as text too (a card number sent as
#: a JSON number is still a card number).
MIN_INT = 1_000_000


class PiiDetector:
    """Finds e-mail addresses, phone numbers, card numbers, IBANs and national
    identifiers in text (see ``docs/pii.md`` for what counts and how each is checked).

    Thread-safe and cheap to share: it holds only its settings.
    """

    def __init__(self, config: DetectorConfig | None = None) -> None:
        self.config = config or DetectorConfig()
        unknown = [s for s in self.config.schemes if s not in SCHEMES]
        if unknown:
            raise ValueError(f"unknown national identifier schemes: {', '.join(unknown)}")

    def find(self, text: str, context: str = "") -> list[Finding]:
        """The findings in ``text``, in order, never overlapping. ``context`` is the name
        the text is filed under (a JSON key such as ``"bsn"``), read as a keyword."""
        at = "@" in text
        if not at and _DIGIT.search(text) is None:  # nothing can be found without either
            return []
        if _MAYBE.search(text) is None:
            return []
        config = self.config
        kinds = config.kinds
        found: list[Finding] = []
        if at and PiiKind.EMAIL in kinds:
            found += find_emails(text)
        if _DIGIT.search(text) is None:
            return found
        if PiiKind.IBAN in kinds:
            found += find_ibans(text)
        if PiiKind.CARD in kinds:
            found += find_cards(text, [(f.start, f.end) for f in found])
        if PiiKind.NATIONAL_ID in kinds:
            found += find_ids(
                text, config.schemes, config.context_before, config.context_after, context
            )
        if PiiKind.PHONE in kinds:
            taken = [(f.start, f.end) for f in found]
            phones = find_phones(
                text, config.regions, config.context_before, config.context_after, context, taken
            )
            found += phones
        return _settle(found) if len(found) > 1 else found

    def scan(self, value: JSON) -> Iterator[tuple[str, Finding]]:
        """The findings in every string (and large integer) inside ``value``, a JSON
        value, with the key each sits under (``""`` at the top)."""
        yield from _scan(self, value, "")

    def kinds_in(self, value: JSON) -> frozenset[PiiKind]:
        """Which kinds of personal data ``value`` (a JSON value) holds: what a policy
        reads to class a call's inputs as ``pii``."""
        return frozenset(finding.kind for _, finding in self.scan(value))

    def contains(self, value: JSON) -> bool:
        """Whether ``value`` (a JSON value) holds any personal data."""
        return next(self.scan(value), None) is not None


def _scan(detector: PiiDetector, value: JSON, key: str) -> Iterator[tuple[str, Finding]]:
    if isinstance(value, str):
        for finding in detector.find(value, key):
            yield key, finding
    elif isinstance(value, dict):
        for name, item in value.items():
            label = str(name)
            for finding in detector.find(label):
                yield key, finding
            yield from _scan(detector, item, label)
    elif isinstance(value, list | tuple):
        for item in value:
            yield from _scan(detector, item, key)
    elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= MIN_INT:
        for finding in detector.find(str(value), key):
            yield key, finding


def _settle(found: list[Finding]) -> list[Finding]:
    """Keep the findings that win their overlaps, in text order."""
    ranked = sorted(found, key=lambda f: (_PRIORITY[f.kind], f.start - f.end, f.start))
    kept: list[Finding] = []
    for finding in ranked:
        if all(finding.end <= k.start or finding.start >= k.end for k in kept):
            kept.append(finding)
    kept.sort(key=lambda f: f.start)
    return kept
