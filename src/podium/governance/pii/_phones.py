"""Phone numbers, found and validated by ``phonenumbers`` (Google's libphonenumber).

A cheap pattern picks the runs of at least seven digits written the way phone numbers
are (``+``, ``00``, spaces, dashes, dots, slashes, parentheses); ``PhoneNumberMatcher``
at leniency ``VALID`` then reads each run with a character of context on either side,
so its own checks (dates, times, letters glued to the number, the number's length and
ranges per region) apply. A number with a country code (``+49``, ``0049``) is checked
against that country; one without is tried in each configured region in turn.

A number written without a country code is a weaker finding: many order, invoice and
tracking numbers are valid phone numbers somewhere. It is dropped when a keyword for
such a number ("order", "Rechnung", "factura", "tracking", ...) stands just before it
and no phone keyword ("tel", "call", "Telefon", ...) does.
"""

from __future__ import annotations

import re
from functools import lru_cache

from podium.governance.pii._context import keyword_pattern, near
from podium.governance.pii._kinds import Finding, PiiKind

_CANDIDATE = re.compile(r"(?<![\w+@/.-])(?:\+|\(\+)?\(?\d[\d ()./\-\u00a0]{4,26}\d(?![\w@])")
_LIST = re.compile(r"\s+/\s+")
_DIGIT = re.compile(r"\d")
_MIN_DIGITS, _MAX_DIGITS = 7, 15
#: Shapes that are never phone numbers: a decimal number, a date (also at the start of a
#: timestamp), four or more groups of four digits (a card number that failed its check),
#: a run of more than 12 digits with no separators and no country code (a barcode), a
#: run ending in a lone check digit (``120.54874.43-8``, ``978-3-16-148410-0``).
_NOT_PHONES = re.compile(
    r"\d+[.,]\d+$"
    r"|(?:\d{1,2}[./-]\d{1,2}[./-](?:19|20)\d\d|(?:19|20)\d\d[./-]\d{1,2}[./-]\d{1,2})(?!\d)"
    r"|\d{4}([ -])\d{4}\1\d{4}\1\d{1,4}(?:\1\d{1,4})?$"
    r"|\d{13,}$"
    r"|.*[.-]\d$"
)
#: The start of an IBAN-shaped string ("NL18 ABNA "), for a run that is its tail.
_IBAN_HEAD = re.compile(r"(?<![A-Za-z0-9])[A-Z]{2}\d{2}(?: ?[A-Z0-9]{4})*[ -]?$")
_TRUNK = re.compile(r"\(0\)")

PHONE_WORDS = keyword_pattern(
    (
        "tel",
        "tel.",
        "phone",
        "call",
        "mobile",
        "cell",
        "text me",
        "whatsapp",
        "telefon",
        "telefonnummer",
        "handy",
        "mobil",
        "anrufen",
        "ruf",
        "téléphone",
        "telephone",
        "portable",
        "appelez",
        "appeler",
        "teléfono",
        "telefono",
        "móvil",
        "movil",
        "llámame",
        "llamar",
        "cellulare",
        "chiamami",
        "chiamare",
        "telefoon",
        "mobiel",
        "bel",
        "bellen",
        "telemóvel",
        "telemovel",
        "celular",
        "ligue",
        "ligar",
        "contacto",
        "contact",
        "fax",
    )
)
NOT_PHONE_WORDS = keyword_pattern(
    (
        "order",
        "order no",
        "invoice",
        "ref",
        "reference",
        "tracking",
        "ticket",
        "case",
        "account",
        "customer",
        "sku",
        "serial",
        "bestellung",
        "bestellnummer",
        "rechnung",
        "rechnungsnummer",
        "kundennummer",
        "auftrag",
        "sendung",
        "sendungsnummer",
        "commande",
        "facture",
        "référence",
        "colis",
        "dossier",
        "pedido",
        "factura",
        "referencia",
        "envío",
        "ordine",
        "fattura",
        "spedizione",
        "pratica",
        "bestelling",
        "factuur",
        "zending",
        "klantnummer",
        "encomenda",
        "fatura",
        "nota fiscal",
        "protocolo",
        "rastreio",
    )
)


@lru_cache(maxsize=4096)
def _match(window: str, regions: tuple[str, ...]) -> tuple[tuple[int, int, str, str, bool], ...]:
    """What ``PhoneNumberMatcher`` finds in ``window``: (start, end, text, region, written
    with a country code). The first region whose match covers all the window's digits
    wins; failing that, the region whose matches cover the most digits."""
    import phonenumbers
    from phonenumbers import Leniency, PhoneNumberMatcher

    wanted = len(_DIGIT.findall(window))
    tries = ("ZZ",) if window.lstrip(" (").startswith("+") else regions
    best: tuple[tuple[int, int, str, str, bool], ...] = ()
    best_digits = 0
    for region in tries:
        matches = tuple(
            (
                m.start,
                m.end,
                m.raw_string,
                phonenumbers.region_code_for_number(m.number) or region,
                m.raw_string.lstrip("(").startswith(("+", "00", "011")),
            )
            for m in PhoneNumberMatcher(window, region, leniency=Leniency.VALID)
        )
        covered = sum(len(_DIGIT.findall(m[2])) for m in matches)
        if covered == wanted:
            return matches
        if covered > best_digits:
            best, best_digits = matches, covered
    return best


def find_phones(
    text: str,
    regions: tuple[str, ...],
    before: int,
    after: int,
    context: str = "",
    taken: list[tuple[int, int]] | None = None,
) -> list[Finding]:
    """Every phone number in ``text``; runs inside a ``taken`` span (a card, an IBAN
    found already) are not read again."""
    found: list[Finding] = []
    for candidate in _CANDIDATE.finditer(text):
        offset = candidate.start()
        for part in (
            _LIST.split(candidate.group(0)) if " /" in candidate.group(0) else [candidate.group(0)]
        ):
            start = text.index(part, offset)
            end = offset = start + len(part)
            if _skip(text, part, start, end, taken):
                continue
            international = part.lstrip("(").startswith(("+", "00", "011"))
            if not international and _not_a_phone(text, start, end, before, context):
                continue  # decided before the (costly) matcher runs
            left = max(0, start - 1)
            for m_start, m_end, raw, region, international in _match(
                text[left:end] + text[end : end + 3].split("\n", 1)[0], regions
            ):
                s, e = left + m_start, left + m_end
                if not international and _not_a_phone(text, s, e, before, context):
                    continue
                found.append(Finding(PiiKind.PHONE, s, e, raw, region))
    return found


def _skip(text: str, part: str, start: int, end: int, taken: list[tuple[int, int]] | None) -> bool:
    """Whether a run cannot be (or need not be read as) a phone number."""
    digits = len(_DIGIT.findall(part)) - (1 if "(0)" in part else 0)
    limit = _MAX_DIGITS + (2 if part.startswith("00") else 0)
    if not _MIN_DIGITS <= digits <= limit:
        return True
    if part.count("/") > 1 or _NOT_PHONES.match(part):
        return True
    if taken and any(s <= start and end <= e for s, e in taken):
        return True
    return _IBAN_HEAD.search(text, max(0, start - 40), start) is not None


def _not_a_phone(text: str, start: int, end: int, before: int, context: str) -> bool:
    """A number without a country code under a keyword for another kind of number."""
    if near(PHONE_WORDS, text, start, end, before, 0, context):
        return False
    return near(NOT_PHONE_WORDS, text, start, end, min(before, 32), 0, context)
