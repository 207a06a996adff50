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

_CANDIDATE = re.compile(r"(?<![\w+@/.,-])(?:\+|\(\+)?\(?\d[\d ()./\-\u00a0]{4,26}\d(?![\w@])")
_DIGIT = re.compile(r"\d")
_MIN_DIGITS, _MAX_DIGITS = 7, 17

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
    """What ``PhoneNumberMatcher`` finds in ``window``: (start, end, text, region,
    written with a country code), from the first region that finds anything."""
    import phonenumbers
    from phonenumbers import Leniency, PhoneNumberMatcher

    tries = ("ZZ",) if window.lstrip(" (").startswith("+") else regions
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
        if matches:
            return matches
    return ()


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
        start, end = candidate.span()
        digits = len(_DIGIT.findall(candidate.group(0)))
        if not _MIN_DIGITS <= digits <= _MAX_DIGITS + 6:
            continue
        if taken and any(s <= start and end <= e for s, e in taken):
            continue
        left = max(0, start - 1)
        for m_start, m_end, raw, region, international in _match(text[left : end + 1], regions):
            s, e = left + m_start, left + m_end
            if not international and _not_a_phone(text, s, e, before, context):
                continue
            found.append(Finding(PiiKind.PHONE, s, e, raw, region))
    return found


def _not_a_phone(text: str, start: int, end: int, before: int, context: str) -> bool:
    """A number without a country code under a keyword for another kind of number."""
    if near(PHONE_WORDS, text, start, end, before, 0, context):
        return False
    return near(NOT_PHONE_WORDS, text, start, end, min(before, 32), 0, context)
