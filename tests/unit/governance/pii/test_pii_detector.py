"""The detector, kind by kind: formats found, look-alikes refused, overlaps settled."""

from __future__ import annotations

import pytest

from podium.governance.pii import DetectorConfig, PiiDetector, PiiKind


@pytest.fixture(scope="module")
def detector() -> PiiDetector:
    return PiiDetector()


def found(detector: PiiDetector, text: str, context: str = "") -> list[tuple[str, str]]:
    return [(f.kind.value, f.value) for f in detector.find(text, context)]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("mail jan.de.vries+inv@sub.example.co.uk.", "jan.de.vries+inv@sub.example.co.uk"),
        ("From: Ana <ANA@EXAMPLE.ORG>", "ANA@EXAMPLE.ORG"),
        ("mailto:x.y@example.de", "x.y@example.de"),
        ("user=ops@example.com action=login", "ops@example.com"),
    ],
)
def test_email_addresses(detector: PiiDetector, text: str, value: str) -> None:
    assert found(detector, text) == [("email", value)]


@pytest.mark.parametrize(
    "text", ["logo@2x.png", "numpy@1.26", "@types/node@20.1.0", "meet @ 10:30", "user@localhost"]
)
def test_things_that_only_look_like_addresses(detector: PiiDetector, text: str) -> None:
    assert found(detector, text) == []


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("card 4242 4242 4242 4242 exp 12/27 cvc 123", "4242 4242 4242 4242"),
        ("pan=5555-5555-5555-4444;", "5555-5555-5555-4444"),
        ("Amex 3782 822463 10005", "3782 822463 10005"),
        ("x,378282246310005,12/25", "378282246310005"),
        ("4111 1111 1111 1111 12/27", "4111 1111 1111 1111"),
    ],
)
def test_card_numbers(detector: PiiDetector, text: str, value: str) -> None:
    assert found(detector, text) == [("card", value)]


@pytest.mark.parametrize(
    "text",
    [
        "card 4242 4242 4242 4241",  # Luhn fails
        "IMEI 352099001761481",  # Luhn-valid, but no network issues 15-digit 35...
        "USPS 9400 1000 0000 0000 0000 00",  # 22 digits
        "ref 7000123456789012",  # no network starts with 7
    ],
)
def test_numbers_that_are_not_cards(detector: PiiDetector, text: str) -> None:
    assert found(detector, text) == []


def test_ibans_grouped_compact_and_cut_before_the_next_word(detector: PiiDetector) -> None:
    text = "IBAN DE89 3704 0044 0532 0130 00 BIC COBADEFFXXX, NL91ABNA0417164300."
    assert found(detector, text) == [
        ("iban", "DE89 3704 0044 0532 0130 00"),
        ("iban", "NL91ABNA0417164300"),
    ]
    assert found(detector, "IBAN DE89 3704 0044 0532 0130 01") == []  # mod 97 fails


def test_national_ids_strong_formats_stand_alone(detector: PiiDetector) -> None:
    assert found(detector, "CF RSSMRA85T10A562S") == [("national_id", "RSSMRA85T10A562S")]
    assert found(detector, "doc 12345678Z") == [("national_id", "12345678Z")]
    assert found(detector, "390.533.447-05") == [("national_id", "390.533.447-05")]


def test_bare_numbers_need_their_keyword(detector: PiiDetector) -> None:
    assert found(detector, "order 123456782 shipped") == []
    assert found(detector, "BSN: 123456782") == [("national_id", "123456782")]
    assert found(detector, "123456782", context="bsn") == [("national_id", "123456782")]
    assert found(detector, "Steuer-ID 36 574 261 809") == [("national_id", "36 574 261 809")]


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("Call me at (201) 555-0123 tomorrow", "(201) 555-0123"),
        ("Ruf an: +49 (0)30 1234567", "+49 (0)30 1234567"),
        ("tel 0049 30 1234567", "0049 30 1234567"),
        ("Bel me op 06-12345678", "06-12345678"),
        ("Appelez le 01.23.45.67.89", "01.23.45.67.89"),
    ],
)
def test_phone_numbers(detector: PiiDetector, text: str, value: str) -> None:
    assert found(detector, text) == [("phone", value)]


@pytest.mark.parametrize(
    "text",
    [
        "Invoice 2024-000123, total 1.234,56 EUR",
        "2024-03-15 10:22:31 INFO done",
        "due 03.04.2024",
        "kernel: [ 1234.567890] usb",
        "at 52.370216, 4.895168",
        "ISBN 978-3-16-148410-0",
        "Order 12345678 shipped",
    ],
)
def test_numbers_that_are_not_phones(detector: PiiDetector, text: str) -> None:
    assert found(detector, text) == []


def test_the_stronger_kind_wins_an_overlap(detector: PiiDetector) -> None:
    # a card number is also a run of digits the phone matcher could read
    assert [f.kind for f in detector.find("4242 4242 4242 4242")] == [PiiKind.CARD]


def test_kinds_can_be_left_out_and_json_values_are_scanned() -> None:
    only_mail = PiiDetector(DetectorConfig(kinds=frozenset({PiiKind.EMAIL})))
    value = {"a": ["x@example.com", {"card": 4242424242424242}], "bsn": "123456782"}
    assert only_mail.kinds_in(value) == {PiiKind.EMAIL}
    assert PiiDetector().kinds_in(value) == {PiiKind.EMAIL, PiiKind.CARD, PiiKind.NATIONAL_ID}
    assert not PiiDetector().contains({"text": "nothing to see, order 4711"})


def test_an_unknown_scheme_is_refused() -> None:
    with pytest.raises(ValueError, match=r"xx\.nope"):
        PiiDetector(DetectorConfig(schemes=("xx.nope",)))
