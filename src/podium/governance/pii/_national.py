"""National identifiers, each confirmed by its python-stdnum validator.

Which ones, and how each is found:

============== ================================ =========================================
scheme         identifier                       found alone (strong) / with a keyword
============== ================================ =========================================
us.ssn         US Social Security number        ``123-45-6789`` / bare 9 digits
gb.nhs         UK NHS number                    keyword only ("NHS")
de.idnr        German Steuer-IdNr               keyword only ("Steuer-ID", "IdNr", ...)
ch.ssn         Swiss AHV/AVS number             ``756.1234.5678.97`` / bare 13 digits
fr.nir         French NIR (sécurité sociale)    always (15 characters, a mod-97 key)
be.nn          Belgian national number          ``85.07.30-033.28`` / bare 11 digits
es.dni         Spanish DNI                      ``12345678Z`` (check letter)
es.nie         Spanish NIE                      ``X1234567L`` (check letter)
it.codicefiscale  Italian codice fiscale        always (16 characters, check letter)
nl.bsn         Dutch BSN                        keyword only ("BSN", ...)
pt.nif         Portuguese NIF                   keyword only ("NIF", "contribuinte")
br.cpf         Brazilian CPF                    ``123.456.789-09`` / bare 11 digits
in_.aadhaar    Indian Aadhaar                   keyword only ("Aadhaar", "UID")
============== ================================ =========================================

A *strong* format is distinctive enough, with its check, to be reported on its own. A
*weak* one (a bare run of digits whose checksum passes by chance one time in ten or
eleven) is reported only with one of the scheme's keywords nearby (see ``_context``).
"""

from __future__ import annotations

import importlib
import re
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache

from podium.governance.pii._context import keyword_pattern, near
from podium.governance.pii._kinds import Finding, PiiKind

_L = r"(?<![\w+/.-])"
_R = r"(?![\w/]|[.-]\w)"


@dataclass(frozen=True, slots=True)
class Scheme:
    """How one national identifier is found: its formats and keywords."""

    name: str
    strong: re.Pattern[str] | None
    weak: re.Pattern[str] | None
    keywords: re.Pattern[str]


_KEYWORDS: dict[str, tuple[str, ...]] = {}


def _scheme(name: str, strong: str | None, weak: str | None, keywords: tuple[str, ...]) -> Scheme:
    _KEYWORDS[name] = keywords

    def compile_(body: str | None) -> re.Pattern[str] | None:
        return None if body is None else re.compile(f"{_L}(?:{body}){_R}")

    return Scheme(name, compile_(strong), compile_(weak), keyword_pattern(keywords))


_CF_DIGIT = "[0-9LMNPQRSTUV]"

SCHEMES: dict[str, Scheme] = {
    s.name: s
    for s in (
        _scheme(
            "us.ssn",
            r"\d{3}-\d{2}-\d{4}",
            r"\d{3} \d{2} \d{4}|\d{9}",
            ("ssn", "social security", "soc sec", "soc. sec", "ss#", "ssn#"),
        ),
        _scheme(
            "gb.nhs",
            None,
            r"\d{3}[ -]\d{3}[ -]\d{4}|\d{10}",
            ("nhs", "nhs number", "nhs no", "nhs-nummer"),
        ),
        _scheme(
            "de.idnr",
            None,
            r"\d{2} \d{3} \d{3} \d{3}|\d{11}",
            (
                "steuer-id",
                "steuerid",
                "steuer-idnr",
                "steuer-identifikationsnummer",
                "steueridentifikationsnummer",
                "identifikationsnummer",
                "idnr",
                "id-nr",
                "tin",
                "tax id",
            ),
        ),
        _scheme(
            "ch.ssn",
            r"756\.\d{4}\.\d{4}\.\d{2}",
            r"756\d{10}|756 \d{4} \d{4} \d{2}",
            ("ahv", "avs", "ahv-nr", "avs-nr", "ahv-nummer", "sozialversicherungsnummer"),
        ),
        _scheme(
            "fr.nir",
            r"[12] ?\d{2} ?\d{2} ?(?:\d{2}|2[ABab]) ?\d{3} ?\d{3} ?\d{2}",
            None,
            ("sécurité sociale",),
        ),
        _scheme(
            "be.nn",
            r"\d{2}\.\d{2}\.\d{2}-\d{3}\.\d{2}",
            r"\d{11}|\d{6}[ -]\d{3}[ -]?\d{2}",
            (
                "rijksregisternummer",
                "rijksregister",
                "numéro national",
                "numero national",
                "registre national",
                "insz",
                "niss",
                "national number",
            ),
        ),
        _scheme(
            "es.dni",
            r"\d{2}\.?\d{3}\.?\d{3}[ -]?[A-Z]",
            r"\d{8}[ -]?[a-z]",
            ("dni", "nif", "documento nacional"),
        ),
        _scheme("es.nie", r"[XYZ][ -]?\d{7}[ -]?[A-Z]", r"[xyz]-?\d{7}-?[a-z]", ("nie",)),
        _scheme(
            "it.codicefiscale",
            rf"[A-Z]{{6}}{_CF_DIGIT}{{2}}[A-EHLMPRST]{_CF_DIGIT}{{2}}[A-Z]{_CF_DIGIT}{{3}}[A-Z]",
            r"[a-z]{6}[0-9lmnpqrstuv]{2}[a-ehlmprst][0-9lmnpqrstuv]{2}[a-z][0-9lmnpqrstuv]{3}[a-z]",
            ("codice fiscale", "cod. fiscale", "c.f.", "cf"),
        ),
        _scheme(
            "nl.bsn",
            None,
            r"\d{9}|\d{4}\.\d{2}\.\d{3}|\d{3}[ .]\d{3}[ .]\d{3}",
            ("bsn", "burgerservicenummer", "sofinummer", "sofi-nummer", "citizen service number"),
        ),
        _scheme(
            "pt.nif",
            None,
            r"\d{9}|\d{3} \d{3} \d{3}",
            (
                "nif",
                "contribuinte",
                "número fiscal",
                "numero fiscal",
                "identificação fiscal",
                "n.º fiscal",
            ),
        ),
        _scheme("br.cpf", r"\d{3}\.\d{3}\.\d{3}-\d{2}", r"\d{11}", ("cpf",)),
        _scheme(
            "in_.aadhaar",
            None,
            r"\d{4} \d{4} \d{4}|\d{4}-\d{4}-\d{4}|\d{12}",
            ("aadhaar", "aadhar", "uidai", "uid"),
        ),
    )
}

_SEPARATORS = re.compile(r"[^0-9A-Za-z]")


def _keyword_index() -> tuple[re.Pattern[str], dict[str, tuple[str, ...]]]:
    """One pattern for every scheme's keywords, and which schemes each keyword serves."""
    owners: dict[str, list[str]] = {}
    for scheme in SCHEMES.values():
        for word in _KEYWORDS[scheme.name]:
            owners.setdefault(word, []).append(scheme.name)
    return keyword_pattern(owners), {w: tuple(names) for w, names in owners.items()}


_ANY_KEYWORD, _KEYWORD_OWNERS = _keyword_index()


@cache
def validator(name: str) -> Callable[[str], bool]:
    """python-stdnum's ``is_valid`` for scheme ``name`` (imported on first use)."""
    module = importlib.import_module(f"stdnum.{name}")
    check: Callable[[str], bool] = module.is_valid
    return check


def find_ids(
    text: str,
    schemes: tuple[str, ...],
    before: int,
    after: int,
    context: str = "",
) -> list[Finding]:
    """Every national identifier of ``schemes`` in ``text`` (overlaps are left to the
    caller). ``context`` is the JSON key the text sits under, searched for keywords."""
    found: list[Finding] = []
    hinted: set[str] = set()  # schemes with a keyword somewhere in the text or key
    for source in (text.lower(), context.lower()):
        for match in _ANY_KEYWORD.finditer(source):
            hinted.update(_KEYWORD_OWNERS[match.group(0)])
    for name in schemes:
        scheme = SCHEMES[name]
        passes = [(scheme.strong, False)]
        if name in hinted:  # a bare number needs its keyword: none, no need to look
            passes.append((scheme.weak, True))
        for pattern, weak in passes:
            if pattern is None:
                continue
            for match in pattern.finditer(text):
                start, end = match.span()
                if weak and not near(scheme.keywords, text, start, end, before, after, context):
                    continue
                if validator(name)(_SEPARATORS.sub("", match.group(0))):
                    found.append(Finding(PiiKind.NATIONAL_ID, start, end, match.group(0), name))
    return found
