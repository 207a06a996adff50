"""What the PII guard finds: the kinds, one finding, and the detector's settings."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum


class PiiKind(StrEnum):
    """A kind of personal data the detector finds. The value names its placeholder."""

    EMAIL = "email"
    PHONE = "phone"
    CARD = "card"
    IBAN = "iban"
    NATIONAL_ID = "national_id"

    @property
    def label(self) -> str:
        """The word in this kind's placeholders: ``<EMAIL_1>``, ``<ID_1>``."""
        return "ID" if self is PiiKind.NATIONAL_ID else self.value.upper()


ALL_KINDS: frozenset[PiiKind] = frozenset(PiiKind)

#: Phone regions tried for numbers written without a country code, in this order.
DEFAULT_REGIONS: tuple[str, ...] = (
    "US",
    "GB",
    "DE",
    "AT",
    "CH",
    "FR",
    "BE",
    "ES",
    "IT",
    "NL",
    "PT",
    "BR",
)

#: National identifiers looked for (python-stdnum module names; see ``_national.py``).
DEFAULT_SCHEMES: tuple[str, ...] = (
    "us.ssn",
    "gb.nhs",
    "de.idnr",
    "ch.ssn",
    "fr.nir",
    "be.nn",
    "es.dni",
    "es.nie",
    "it.codicefiscale",
    "nl.bsn",
    "pt.nif",
    "br.cpf",
    "in_.aadhaar",
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One piece of personal data in a text: ``text[start:end]`` is ``value``.

    ``scheme`` says more where it is known: the phone's region (``DE``), the card's
    network (``visa``), the IBAN's country (``NL``) or the identifier (``nl.bsn``).
    """

    kind: PiiKind
    start: int
    end: int
    value: str
    scheme: str | None = None


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """What the detector looks for.

    ``regions``: phone regions tried, in order, for numbers without a country code.
    ``schemes``: the national identifiers checked (python-stdnum module names).
    ``context_before``/``context_after``: how many characters around a weak candidate
    (a bare number whose checksum alone proves little) are searched for its keywords.
    """

    kinds: frozenset[PiiKind] = ALL_KINDS
    regions: tuple[str, ...] = DEFAULT_REGIONS
    schemes: tuple[str, ...] = DEFAULT_SCHEMES
    context_before: int = 48
    context_after: int = 24
