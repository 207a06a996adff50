"""Keywords near a candidate: what turns a bare number into an identifier or a phone.

A nine-digit number passes the Dutch BSN checksum one time in eleven, so a bare one is
reported only when a keyword for it ("BSN", "burgerservicenummer") stands near it: in the
text just before or after, or in the JSON key the text sits under. Negative keywords
("order", "Rechnung", "tracking") near a number written without a country code keep it
from being read as a phone.
"""

from __future__ import annotations

import re
from collections.abc import Iterable


def keyword_pattern(words: Iterable[str]) -> re.Pattern[str]:
    """A pattern matching any of ``words`` (lower case) not inside a longer word."""
    alternatives = "|".join(sorted((re.escape(w) for w in words), key=len, reverse=True))
    return re.compile(rf"(?<![^\W\d_])(?:{alternatives})(?![^\W\d_])")


def near(
    pattern: re.Pattern[str],
    text: str,
    start: int,
    end: int,
    before: int,
    after: int,
    context: str = "",
) -> bool:
    """Whether ``pattern`` matches the key ``context`` or the text around ``[start, end)``."""
    if context and pattern.search(context.lower()):
        return True
    lead = text[max(0, start - before) : start].lower()
    if pattern.search(lead):
        return True
    return after > 0 and pattern.search(text[end : end + after].lower()) is not None
