"""Payment card numbers: 13 to 19 digits, whole or in groups, that pass the Luhn check
(python-stdnum's ``luhn``) and start with a card network's issuer prefix at a length
that network issues.

The prefix table is the networks' published issuer ranges (ISO/IEC 7812 major industry
identifiers 2 to 6). It is what keeps Luhn-valid numbers of other kinds out: an IMEI
(15 digits, usually ``35...``) passes Luhn but no network issues 15-digit ``35`` cards.
A grouped number may be followed by more groups (an expiry date, a security code); the
card is then the leading groups that make a valid number. A run of more than 19 digits
without separators is never a card.
"""

from __future__ import annotations

import re

from podium.governance.pii._kinds import Finding, PiiKind

#: (network, lowest prefix, highest prefix, lengths), prefixes compared on their digits.
_NETWORKS: tuple[tuple[str, int, int, frozenset[int]], ...] = (
    ("amex", 34, 34, frozenset({15})),
    ("amex", 37, 37, frozenset({15})),
    ("diners", 300, 305, frozenset({14, 16, 17, 18, 19})),
    ("diners", 36, 36, frozenset({14, 15, 16, 17, 18, 19})),
    ("diners", 38, 39, frozenset({14, 16, 17, 18, 19})),
    ("jcb", 3528, 3589, frozenset({16, 17, 18, 19})),
    ("visa", 4, 4, frozenset({13, 16, 19})),
    ("mastercard", 51, 55, frozenset({16})),
    ("mastercard", 2221, 2720, frozenset({16})),
    ("maestro", 5018, 5018, frozenset(range(12, 20))),
    ("maestro", 5020, 5020, frozenset(range(12, 20))),
    ("maestro", 5038, 5038, frozenset(range(12, 20))),
    ("maestro", 5893, 5893, frozenset(range(12, 20))),
    ("maestro", 6304, 6304, frozenset(range(12, 20))),
    ("maestro", 6759, 6759, frozenset(range(12, 20))),
    ("maestro", 6761, 6763, frozenset(range(12, 20))),
    ("discover", 6011, 6011, frozenset({16, 17, 18, 19})),
    ("discover", 644, 649, frozenset({16, 17, 18, 19})),
    ("discover", 65, 65, frozenset({16, 17, 18, 19})),
    ("unionpay", 62, 62, frozenset({16, 17, 18, 19})),
    ("mir", 2200, 2204, frozenset({16, 17, 18, 19})),
)

#: Digit groups joined by single spaces or dashes, not inside a longer word or number.
_GROUPS = re.compile(r"(?<![\w./-])\d+(?:[ -]\d+)*(?![\w])")
_SPLIT = re.compile(r"[ -]")


def _prefix_table() -> dict[str, tuple[tuple[str, frozenset[int]], ...]]:
    table: dict[str, list[tuple[str, frozenset[int]]]] = {}
    for name, low, high, lengths in _NETWORKS:
        width = len(str(low))
        for prefix in range(low, high + 1):
            table.setdefault(str(prefix).zfill(width), []).append((name, lengths))
    return {prefix: tuple(entries) for prefix, entries in table.items()}


_PREFIXES = _prefix_table()


def network(digits: str) -> str | None:
    """The network that issues ``digits`` (a card number), or ``None``."""
    size = len(digits)
    for width in (4, 3, 2, 1):
        for name, lengths in _PREFIXES.get(digits[:width], ()):
            if size in lengths:
                return name
    return None


def card_network(digits: str) -> str | None:
    """The network of a Luhn-valid card number ``digits``, else ``None``."""
    from stdnum import luhn

    if not 12 <= len(digits) <= 19:
        return None
    name = network(digits)
    if name is None or not luhn.is_valid(digits):
        return None
    return name


def find_cards(text: str, taken: list[tuple[int, int]] | None = None) -> list[Finding]:
    """Every card number in ``text`` (runs overlapping a ``taken`` span are skipped)."""
    found: list[Finding] = []
    for match in _GROUPS.finditer(text):
        chunk = match.group(0)
        if taken and any(s < match.end() and match.start() < e for s, e in taken):
            continue
        digits = chunk.replace(" ", "").replace("-", "")
        if len(digits) < 12:
            continue
        if chunk.isdigit():
            name = card_network(digits)
            if name is not None:
                found.append(Finding(PiiKind.CARD, match.start(), match.end(), chunk, name))
            continue
        # grouped: the leading groups that make a card (more groups may follow)
        total = 0
        end = 0
        for group in _SPLIT.split(chunk):
            end += len(group) if end == 0 else len(group) + 1
            total += len(group)
            if total > 19:
                break
            if total >= 12:
                head = chunk[:end]
                name = card_network(head.replace(" ", "").replace("-", ""))
                if name is not None:
                    start = match.start()
                    found.append(Finding(PiiKind.CARD, start, start + end, head, name))
                    break
    return found
