"""Builds ``pii_set.jsonl``, the labelled PII evaluation set, from the texts in ``texts/``.

The texts are written by hand; the personal data in them is written as tags that this
script fills with test values and labels with exact character spans:

``{{email:ADDRESS}}``               the address as written (all domains are made up)
``{{phone:REGION:TYPE:STYLE}}``     a valid number (``phonenumbers``' example number for the
                                    region and type, last digits varied, checked valid),
                                    STYLE: intl e164 00 national plain dashes dots slash
``{{card:NETWORK:STYLE}}``          a payment processor's published test number, or a test
                                    prefix completed with python-stdnum's Luhn check digit;
                                    STYLE: spaces dashes plain
``{{iban:COUNTRY:STYLE}}``          the IBAN registry's example for the country, account
                                    digits varied, check digits from python-stdnum; STYLE:
                                    print (groups of four) compact
``{{id:SCHEME:STYLE}}``             a national identifier made with python-stdnum's check
                                    digit functions (random body); STYLE: plain formatted

Negatives, not labelled: ``{{badcard:NETWORK:STYLE}}``, ``{{badiban:COUNTRY:STYLE}}`` and
``{{badid:SCHEME:STYLE}}`` make the same shapes with a wrong check digit. Hard negatives
(order, tracking and invoice numbers, dates, amounts, versions, product codes) are written
into the texts as they are.

Every third text of each file (the third, sixth, ...) is held out: it was written with the
others, before the detector was tuned, and was not looked at while tuning.

Run ``python tests/governance_pii/make_pii_set.py`` to rebuild; the output is
deterministic (a fixed seed per text).
"""

from __future__ import annotations

import json
import random
import re
import string
import sys
from pathlib import Path
from typing import Any

import phonenumbers
import yaml
from phonenumbers import PhoneNumberFormat, PhoneNumberType
from stdnum import iban as stdiban
from stdnum import luhn, verhoeff
from stdnum.be import nn as be_nn
from stdnum.br import cpf
from stdnum.ch import ssn as ch_ssn
from stdnum.de import idnr
from stdnum.es import dni, nie
from stdnum.fr import nir
from stdnum.gb import nhs
from stdnum.in_ import aadhaar
from stdnum.it import codicefiscale
from stdnum.nl import bsn
from stdnum.pt import nif
from stdnum.us import ssn as us_ssn

HERE = Path(__file__).resolve().parent
TAG = re.compile(r"\{\{(\w+):([^}]*)\}\}")

# Published test card numbers (Stripe, Adyen, PayPal, Braintree test cards).
TEST_CARDS: dict[str, list[str]] = {
    "visa": ["4242424242424242", "4000056655665556", "4111111111111111", "4012888888881881"],
    "mc": ["5555555555554444", "2223003122003222", "5200828282828210", "5105105105105100"],
    "amex": ["378282246310005", "371449635398431", "378734493671000"],
    "discover": ["6011111111111117", "6011000990139424", "6011981111111113"],
    "diners": ["3056930009020004", "36227206271667"],
    "jcb": ["3566002020360505", "3530111333300000"],
    "unionpay": ["6200000000000005"],
    "maestro": ["6759649826438453"],
}
# Test prefixes (issuer ranges) and lengths used to make more numbers with a Luhn digit.
CARD_PREFIXES: dict[str, list[tuple[str, int]]] = {
    "visa": [("4000", 16), ("4242", 16), ("4111", 16), ("4917", 16), ("4571", 16)],
    "mc": [("5100", 16), ("5425", 16), ("2221", 16), ("2720", 16), ("5555", 16)],
    "amex": [("34", 15), ("37", 15)],
    "discover": [("6011", 16), ("65", 16), ("644", 16)],
    "diners": [("36", 14), ("300", 14), ("38", 16)],
    "jcb": [("3528", 16), ("3589", 16)],
    "unionpay": [("62", 16), ("62", 19)],
    "maestro": [("6759", 16), ("5018", 16), ("6304", 19)],
}
# The IBAN registry's example IBAN per country.
IBAN_EXAMPLES = {
    "DE": "DE89370400440532013000",
    "AT": "AT611904300234573201",
    "CH": "CH9300762011623852957",
    "FR": "FR1420041010050500013M02606",
    "BE": "BE71096123456769",  # the registry example (bank 539) is not in the bank list
    "ES": "ES9121000418450200051332",
    "IT": "IT60X0542811101000000123456",
    "NL": "NL91ABNA0417164300",
    "PT": "PT50000201231234567890154",
    "GB": "GB29NWBK60161331926819",
    "IE": "IE29AIBK93115212345678",
    "LU": "LU280019400644750000",
    "PL": "PL61109010140000071219812874",
    "BR": "BR1800360305000010009795493C1",
}
REGION_TYPES = {"mobile": PhoneNumberType.MOBILE, "fixed": PhoneNumberType.FIXED_LINE}


def phone(rng: random.Random, region: str, kind: str, style: str) -> str:
    example = phonenumbers.example_number_for_type(region, REGION_TYPES[kind])
    assert example is not None
    base = phonenumbers.national_significant_number(example)
    for _ in range(1000):
        tail = "".join(rng.choice(string.digits) for _ in range(4))
        number = phonenumbers.parse(f"+{example.country_code}{base[:-4]}{tail}")
        if phonenumbers.is_valid_number(number):
            break
    else:
        raise AssertionError(f"no valid {region} {kind} number")
    national = phonenumbers.format_number(number, PhoneNumberFormat.NATIONAL)
    international = phonenumbers.format_number(number, PhoneNumberFormat.INTERNATIONAL)
    styles = {
        "intl": international,
        "e164": phonenumbers.format_number(number, PhoneNumberFormat.E164),
        "00": "00" + international[1:],
        "national": national,
        "plain": re.sub(r"\D", "", national),
        "dashes": re.sub(r"[ ]+", "-", national.replace("(", "").replace(")", "")),
        "dots": national.replace(" ", "."),
        "slash": national.replace(" ", "/", 1),
    }
    return styles[style]


def group(digits: str, sizes: list[int], sep: str) -> str:
    out, at = [], 0
    for size in sizes:
        out.append(digits[at : at + size])
        at += size
    if at < len(digits):
        out.append(digits[at:])
    return sep.join(out)


def card_style(digits: str, style: str) -> str:
    if style == "plain":
        return digits
    sep = " " if style == "spaces" else "-"
    if len(digits) == 15:
        return group(digits, [4, 6, 5], sep)
    if len(digits) == 14:
        return group(digits, [4, 6, 4], sep)
    return group(digits, [4] * (len(digits) // 4), sep)


def card(rng: random.Random, network: str, bad: bool = False) -> str:
    if not bad and rng.random() < 0.5:
        return rng.choice(TEST_CARDS[network])
    prefix, size = rng.choice(CARD_PREFIXES[network])
    body = prefix + "".join(rng.choice(string.digits) for _ in range(size - len(prefix) - 1))
    check = luhn.calc_check_digit(body)
    if bad:
        check = str((int(check) + rng.randint(1, 9)) % 10)
    value = body + check
    assert luhn.is_valid(value) != bad
    return value


def iban(rng: random.Random, country: str, style: str, bad: bool = False) -> str:
    example = IBAN_EXAMPLES[country]
    for _ in range(5000):
        chars = list(example[4:])
        digit_spots = [i for i, c in enumerate(chars) if c.isdigit()]
        for i in rng.sample(digit_spots[-8:], 4):
            chars[i] = rng.choice(string.digits)
        body = "".join(chars)
        check = stdiban.calc_check_digits(country + "00" + body)
        if bad:
            check = f"{(int(check) + rng.randint(1, 90)) % 97 + 2:02d}"[:2]
        value = country + check + body
        if stdiban.is_valid(value) != bad:
            break
    else:
        raise AssertionError(f"no {'bad ' if bad else ''}IBAN for {country}")
    if style == "print":
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4))
    if style == "lower":
        return " ".join(value[i : i + 4] for i in range(0, len(value), 4)).lower()
    return value


def digits(rng: random.Random, n: int, first: str = string.digits) -> str:
    return rng.choice(first) + "".join(rng.choice(string.digits) for _ in range(n - 1))


def try_check(body: str, valid: Any, alphabet: str = string.digits, width: int = 1) -> str:
    """``body`` plus the check characters that make it valid (found by trying)."""
    options = [a + b for a in alphabet for b in alphabet] if width == 2 else list(alphabet)
    for option in options:
        if valid(body + option):
            return body + option
    raise ValueError(body)


def national(rng: random.Random, scheme: str, style: str, bad: bool = False) -> str:
    for _ in range(1000):
        try:
            value = _national(rng, scheme, style)
        except ValueError:
            continue
        if bad:
            value = _spoil(rng, value)
            if not _validators[scheme](re.sub(r"[^0-9A-Za-z]", "", value)):
                return value
        elif _validators[scheme](re.sub(r"[^0-9A-Za-z]", "", value)):
            return value
    raise AssertionError(scheme)


def _spoil(rng: random.Random, value: str) -> str:
    spots = [i for i, c in enumerate(value) if c.isdigit()]
    i = spots[-1]
    return value[:i] + str((int(value[i]) + rng.randint(1, 9)) % 10) + value[i + 1 :]


def _national(rng: random.Random, scheme: str, style: str) -> str:
    fmt = style == "formatted"
    if scheme == "us.ssn":
        area = rng.choice([n for n in range(1, 900) if n != 666])
        v = f"{area:03d}{rng.randint(1, 99):02d}{rng.randint(1, 9999):04d}"
        return f"{v[:3]}-{v[3:5]}-{v[5:]}" if fmt else v
    if scheme == "gb.nhs":
        v = try_check(digits(rng, 9, "4"), nhs.is_valid)
        return f"{v[:3]} {v[3:6]} {v[6:]}" if fmt else v
    if scheme == "de.idnr":
        base = rng.sample(string.digits[1:], 8)
        first = [*base, base[rng.randint(0, 7)], rng.choice(string.digits)]
        body = "".join(first[:10])
        v = try_check(body, idnr.is_valid)
        return f"{v[:2]} {v[2:5]} {v[5:8]} {v[8:]}" if fmt else v
    if scheme == "ch.ssn":
        v = try_check("756" + digits(rng, 9), ch_ssn.is_valid)
        return f"{v[:3]}.{v[3:7]}.{v[7:11]}.{v[11:]}" if fmt else v
    if scheme == "fr.nir":
        body = (
            rng.choice("12")
            + f"{rng.randint(40, 99):02d}{rng.randint(1, 12):02d}"
            + f"{rng.choice([75, 69, 13, 33, 59, 44, 67, 31]):02d}"
            + f"{rng.randint(1, 400):03d}{rng.randint(1, 999):03d}"
        )
        v = body + nir.calc_check_digits(body)
        b = v
        return f"{b[0]} {b[1:3]} {b[3:5]} {b[5:7]} {b[7:10]} {b[10:13]} {b[13:]}" if fmt else v
    if scheme == "be.nn":
        body = f"{rng.randint(40, 99):02d}{rng.randint(1, 12):02d}{rng.randint(1, 28):02d}"
        body += f"{rng.randint(1, 997):03d}"
        v = try_check(body, be_nn.is_valid, width=2)
        return f"{v[:2]}.{v[2:4]}.{v[4:6]}-{v[6:9]}.{v[9:]}" if fmt else v
    if scheme == "es.dni":
        body = digits(rng, 8, "1234567")
        v = body + dni.calc_check_digit(body)
        return f"{v[:2]}.{v[2:5]}.{v[5:8]}-{v[8]}" if fmt else v
    if scheme == "es.nie":
        body = rng.choice("XYZ") + digits(rng, 7)
        v = body + nie.calc_check_digit(body)
        return f"{v[0]}-{v[1:8]}-{v[8]}" if fmt else v
    if scheme == "it.codicefiscale":
        letters = "".join(rng.choice("BCDFGLMNPRSTVZ") for _ in range(3))
        letters += "".join(rng.choice("BCDFGLMNPRSTVZAEIO") for _ in range(3))
        day = rng.randint(1, 28) + rng.choice([0, 40])
        body = (
            letters
            + f"{rng.randint(50, 99):02d}"
            + rng.choice("ABCDEHLMPRST")
            + f"{day:02d}"
            + rng.choice("ABCDEFGHLM")
            + f"{rng.randint(1, 999):03d}"
        )
        return body + codicefiscale.calc_check_digit(body)
    if scheme == "nl.bsn":
        v = try_check(digits(rng, 8, "123456789"), bsn.is_valid)
        return f"{v[:4]}.{v[4:6]}.{v[6:]}" if fmt else v
    if scheme == "pt.nif":
        body = digits(rng, 8, "123")
        v = body + nif.calc_check_digit(body)
        return f"{v[:3]} {v[3:6]} {v[6:]}" if fmt else v
    if scheme == "br.cpf":
        v = try_check(digits(rng, 9), cpf.is_valid, width=2)
        return f"{v[:3]}.{v[3:6]}.{v[6:9]}-{v[9:]}" if fmt else v
    if scheme == "in_.aadhaar":
        body = digits(rng, 11, "23456789")
        v = body + verhoeff.calc_check_digit(body)
        if not aadhaar.is_valid(v):
            raise ValueError(v)
        return f"{v[:4]} {v[4:8]} {v[8:]}" if fmt else v
    raise AssertionError(scheme)


_validators: dict[str, Any] = {
    "us.ssn": us_ssn.is_valid,
    "gb.nhs": nhs.is_valid,
    "de.idnr": idnr.is_valid,
    "ch.ssn": ch_ssn.is_valid,
    "fr.nir": nir.is_valid,
    "be.nn": be_nn.is_valid,
    "es.dni": dni.is_valid,
    "es.nie": nie.is_valid,
    "it.codicefiscale": codicefiscale.is_valid,
    "nl.bsn": bsn.is_valid,
    "pt.nif": nif.is_valid,
    "br.cpf": cpf.is_valid,
    "in_.aadhaar": aadhaar.is_valid,
}


def fill(template: str, rng: random.Random) -> tuple[str, list[dict[str, Any]]]:
    """The text with its tags filled, and the labelled spans."""
    out: list[str] = []
    spans: list[dict[str, Any]] = []
    at = 0
    size = 0
    for match in TAG.finditer(template):
        out.append(template[at : match.start()])
        size += len(template[at : match.start()])
        kind, args = match.group(1), match.group(2).split(":")
        label: str | None = kind
        if kind == "email":
            value = args[0]
        elif kind == "phone":
            value = phone(rng, args[0], args[1], args[2])
        elif kind == "card":
            value = card_style(card(rng, args[0]), args[1])
        elif kind == "badcard":
            value, label = card_style(card(rng, args[0], bad=True), args[1]), None
        elif kind == "iban":
            value = iban(rng, args[0], args[1])
        elif kind == "badiban":
            value, label = iban(rng, args[0], args[1], bad=True), None
        elif kind == "id":
            value, label = national(rng, args[0], args[1]), "national_id"
        elif kind == "badid":
            value, label = national(rng, args[0], args[1], bad=True), None
        else:
            raise AssertionError(f"unknown tag {match.group(0)}")
        if label is not None:
            spans.append({"start": size, "end": size + len(value), "kind": label})
        out.append(value)
        size += len(value)
        at = match.end()
    out.append(template[at:])
    return "".join(out), spans


def build() -> list[dict[str, Any]]:
    rows: list[dict[str, Any]] = []
    for path in sorted((HERE / "texts").glob("*.yaml")):
        entries = yaml.safe_load(path.read_text(encoding="utf-8"))
        for index, entry in enumerate(entries):
            ident = f"{path.stem}-{index + 1:03d}"
            rng = random.Random(ident)
            text, spans = fill(entry["t"].rstrip("\n") if "\n" in entry["t"] else entry["t"], rng)
            for span in spans:
                assert (
                    text[span["start"] : span["end"]].strip() == text[span["start"] : span["end"]]
                )
            rows.append(
                {
                    "id": ident,
                    "lang": path.stem,
                    "format": entry["f"],
                    "split": "held_out" if index % 3 == 2 else "tuning",
                    "text": text,
                    "spans": spans,
                }
            )
    return rows


def versions() -> dict[str, str]:
    """The library versions the set was built with (example numbers change between
    phonenumbers releases, so only the same versions rebuild the same file)."""
    import stdnum

    return {"phonenumbers": phonenumbers.__version__, "python-stdnum": stdnum.__version__}


def main() -> int:
    rows = build()
    target = HERE / "pii_set.jsonl"
    with target.open("w", encoding="utf-8") as out:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
    (HERE / "pii_set.versions.json").write_text(json.dumps(versions(), indent=1) + "\n")
    kinds: dict[str, int] = {}
    for row in rows:
        for span in row["spans"]:
            kinds[span["kind"]] = kinds.get(span["kind"], 0) + 1
    print(f"{len(rows)} texts, spans: {kinds}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
