"""IBANs: a country code, two check digits and the account, whole or in groups of four,
confirmed by python-stdnum's ``iban`` (the country's length and structure, the ISO 7064
mod 97-10 check, and the national check digits where the country has them).

A candidate may run on into the next word ("... 0130 00 BIC COBADEFF"): it is cut back
to the longest run of whole groups that is a valid IBAN.
"""

from __future__ import annotations

import re

from podium.governance.pii._kinds import Finding, PiiKind

_CANDIDATE = re.compile(r"(?<![A-Za-z0-9])[A-Za-z]{2}\d{2}(?:[ -]?[A-Za-z0-9]){11,32}")
_MIN, _MAX = 15, 34


def find_ibans(text: str) -> list[Finding]:
    """Every IBAN in ``text``."""
    from stdnum import iban

    found: list[Finding] = []
    pos = 0
    while True:
        match = _CANDIDATE.search(text, pos)
        if match is None:
            return found
        chunk = match.group(0)
        size = len(chunk)
        ends = [
            i + 1
            for i in range(size)
            if chunk[i].isalnum()
            and (
                (i + 1 < size and not chunk[i + 1].isalnum())
                or (i + 1 == size and not text[match.end() : match.end() + 1].isalnum())
            )
        ]
        pos = match.start() + 1
        for end in reversed(ends):
            compact = chunk[:end].replace(" ", "").replace("-", "")
            if _MIN <= len(compact) <= _MAX and iban.is_valid(compact):
                value = chunk[:end]
                start = match.start()
                found.append(Finding(PiiKind.IBAN, start, start + end, value, compact[:2].upper()))
                pos = start + end
                break
