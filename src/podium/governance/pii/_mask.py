"""Masking: each piece of personal data becomes a placeholder (``<EMAIL_1>``,
``<CARD_2>``), over a whole JSON value, and placeholders go back to the originals in an
answer.

Within one call the same text always gets the same placeholder, wherever it appears:
once a value is found somewhere (say a BSN next to its keyword), every other occurrence
of it in the value is masked too, even where it would not have been found on its own.
Numbers already taken by placeholder-like text in the input (a literal ``<EMAIL_1>``) are
skipped, so restoring never turns the user's own text into someone's address. Dictionary
keys are masked like values; an integer that holds a card or an identifier becomes its
placeholder (a string) and is restored as the integer.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from podium._types import JSON
from podium.governance.pii._detect import MIN_INT, PiiDetector
from podium.governance.pii._kinds import PiiKind

_LABELS = {kind.label: kind for kind in PiiKind}
_NONE: Mapping[str, str | int] = MappingProxyType({})
_NO_COUNTS: Mapping[PiiKind, int] = MappingProxyType({})
PLACEHOLDER = re.compile(r"<(" + "|".join(_LABELS) + r")_([1-9][0-9]*)>")


@dataclass(frozen=True, slots=True)
class Masked:
    """A masked JSON value and what it takes to undo it.

    ``originals`` maps each placeholder to the text (or integer) it stands for;
    ``counts`` says how many distinct values of each kind were masked.
    """

    value: JSON
    originals: Mapping[str, str | int] = field(default_factory=dict)
    counts: Mapping[PiiKind, int] = field(default_factory=dict)

    @property
    def masked(self) -> bool:
        """Whether anything was masked."""
        return bool(self.originals)

    def restore(self, value: JSON) -> JSON:
        """``value`` (an answer, say) with this call's placeholders put back."""
        return restore(value, self.originals)


class Masker:
    """Masks the personal data a :class:`PiiDetector` finds in JSON values."""

    def __init__(self, detector: PiiDetector | None = None) -> None:
        self.detector = detector or PiiDetector()

    def mask(self, value: JSON) -> Masked:
        """``value`` with every finding replaced by its placeholder. When nothing is
        found, ``value`` itself comes back (not a copy)."""
        texts: dict[str, PiiKind] = {}
        numbers: dict[int, PiiKind] = {}
        self._collect(value, "", texts, numbers)
        if not texts and not numbers:
            return Masked(value, _NONE, _NO_COUNTS)
        taken: set[tuple[str, int]] = set()
        _visit_strings(value, lambda s: _note_placeholders(s, taken))
        names = _Names(taken)
        for text, kind in texts.items():  # numbered in the order first found
            names.of(text, kind)
        for number, kind in numbers.items():
            names.of(number, kind)
            texts.setdefault(str(number), kind)  # its digits inside text go too
        # longest first: a value inside a longer one is replaced with the longer one
        order = sorted(texts, key=len, reverse=True)

        def swap(text: str) -> str:
            for original in order:
                if original in text:
                    text = text.replace(original, names.of(original, texts[original]))
            return text

        def swap_number(number: int) -> str | int:
            kind = numbers.get(number)
            return number if kind is None else names.of(number, kind)

        masked = _rebuild(value, swap, swap_number)
        return Masked(masked, names.originals, names.counts)

    def _collect(
        self, value: JSON, key: str, texts: dict[str, PiiKind], numbers: dict[int, PiiKind]
    ) -> None:
        find = self.detector.find
        if isinstance(value, str):
            for finding in find(value, key):
                texts.setdefault(finding.value, finding.kind)
        elif isinstance(value, dict):
            for name, item in value.items():
                label = str(name)
                for finding in find(label):
                    texts.setdefault(finding.value, finding.kind)
                self._collect(item, label, texts, numbers)
        elif isinstance(value, list | tuple):
            for item in value:
                self._collect(item, key, texts, numbers)
        elif isinstance(value, int) and not isinstance(value, bool) and abs(value) >= MIN_INT:
            found = find(str(value), key)
            if found:  # a number cannot be masked in part: all of it goes
                numbers.setdefault(value, found[0].kind)


class _Names:
    """Hands out placeholders in the order asked, skipping numbers already taken."""

    def __init__(self, taken: set[tuple[str, int]]) -> None:
        self.taken = taken
        self.given: dict[tuple[bool, str | int], str] = {}
        self.last: dict[PiiKind, int] = {}
        self.originals: dict[str, str | int] = {}
        self.counts: dict[PiiKind, int] = {}

    def of(self, original: str | int, kind: PiiKind) -> str:
        key = (isinstance(original, int), original)
        name = self.given.get(key)
        if name is None:
            number = self.last.get(kind, 0) + 1
            while (kind.label, number) in self.taken:
                number += 1
            self.last[kind] = number
            self.counts[kind] = self.counts.get(kind, 0) + 1
            name = self.given[key] = f"<{kind.label}_{number}>"
            self.originals[name] = original
        return name


def restore(value: JSON, originals: Mapping[str, str | int]) -> JSON:
    """``value`` with each placeholder in ``originals`` replaced by what it stands for
    (a string that is just a placeholder for an integer becomes the integer again)."""
    if not originals:
        return value

    def put_back(text: str) -> str | int:
        whole = originals.get(text)
        if whole is not None:
            return whole
        if "<" not in text:
            return text
        return PLACEHOLDER.sub(lambda m: str(originals.get(m.group(0), m.group(0))), text)

    return _map_strings(value, put_back)


def _note_placeholders(text: str, taken: set[tuple[str, int]]) -> None:
    if "<" in text:
        for match in PLACEHOLDER.finditer(text):
            taken.add((match.group(1), int(match.group(2))))


def _visit_strings(value: JSON, visit: Callable[[str], None]) -> None:
    if isinstance(value, str):
        visit(value)
    elif isinstance(value, dict):
        for key, item in value.items():
            visit(str(key))
            _visit_strings(item, visit)
    elif isinstance(value, list | tuple):
        for item in value:
            _visit_strings(item, visit)


def _rebuild(
    value: JSON, swap: Callable[[str], str], swap_number: Callable[[int], str | int]
) -> JSON:
    """A copy of ``value`` with ``swap`` applied to every string and key and
    ``swap_number`` to every large integer."""
    if isinstance(value, str):
        return swap(value)
    if isinstance(value, dict):
        return {swap(str(k)): _rebuild(v, swap, swap_number) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_rebuild(v, swap, swap_number) for v in value]
    if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= MIN_INT:
        return swap_number(value)
    return value


def _map_strings(value: JSON, fn: Callable[[str], str | int]) -> JSON:
    if isinstance(value, str):
        return fn(value)
    if isinstance(value, dict):
        return {str(fn(str(k))): _map_strings(v, fn) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_map_strings(v, fn) for v in value]
    return value
