"""E-mail addresses: the usual dot-atom syntax (RFC 5322 without quoted local parts or
comments, and without ``=``, so that ``user=ana@example.org`` in a log line is the
address after the ``=``) with a domain of at least two labels whose last one is
alphabetic.

A pattern is the right tool here: an address has no checksum, and a syntax check of the
same rules is what a validating library would do without a DNS lookup. File names written
like addresses (``icon@2x.png``) are not addresses.
"""

from __future__ import annotations

import re

from podium.governance.pii._kinds import Finding, PiiKind

_LOCAL = r"[A-Za-z0-9!#$%&'*+/?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/?^_`{|}~-]+)*"
_LABEL = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL = re.compile(
    rf"(?<![\w.!#$%&'*+/?^`{{|}}~-])({_LOCAL})@((?:{_LABEL}\.)+[A-Za-z]{{2,24}})(?![\w-]|\.[A-Za-z0-9])"
)
#: Last labels that name a file type, never a top-level domain in practice.
_FILE_SUFFIXES = frozenset(
    {"png", "jpg", "jpeg", "gif", "svg", "webp", "pdf", "txt", "js", "css", "json", "yaml"}
)


def find_emails(text: str) -> list[Finding]:
    """Every e-mail address in ``text``."""
    found: list[Finding] = []
    for match in _EMAIL.finditer(text):
        local, domain = match.group(1), match.group(2)
        if len(local) > 64 or len(domain) > 253:
            continue
        if domain.rsplit(".", 1)[1].lower() in _FILE_SUFFIXES:
            continue
        found.append(Finding(PiiKind.EMAIL, match.start(), match.end(), match.group(0)))
    return found
