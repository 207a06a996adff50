"""Property tests of the masker: restore undoes mask, masked values hold none of the
found values, and no text (any unicode) makes the detector or the masker fail."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podium.governance.pii import Masker, PiiDetector

MASKER = Masker()
DETECTOR = PiiDetector()

# valid values of every kind (test numbers and made-up addresses), in several shapes
PII = [
    "jan.de.vries@example.nl",
    "ANA+x@mail.example.org",
    "4242 4242 4242 4242",
    "5555555555554444",
    "3782-822463-10005",
    "DE89 3704 0044 0532 0130 00",
    "NL91ABNA0417164300",
    "+49 30 1234567",
    "(201) 555-0123",
    "06-12345678",
    "RSSMRA85T10A562S",
    "12345678Z",
    "390.533.447-05",
    "BSN 123456782",
    "<EMAIL_1>",
    "<CARD_2>",
]
PROFILE = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])

pieces = st.one_of(st.text(max_size=12), st.sampled_from(PII), st.sampled_from(" ,;:()<>\n@.-+"))
texts = st.lists(pieces, max_size=8).map("".join)
json_values: st.SearchStrategy[Any] = st.recursive(
    st.one_of(
        st.none(),
        st.booleans(),
        st.integers(),
        st.sampled_from([4242424242424242, 123456782]),
        st.floats(allow_nan=False),
        texts,
    ),
    lambda children: st.one_of(
        st.lists(children, max_size=4), st.dictionaries(texts, children, max_size=4)
    ),
    max_leaves=12,
)


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for k, v in value.items() for s in (k, *strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


@PROFILE
@given(json_values)
def test_restoring_a_masked_value_gives_the_original(value: Any) -> None:
    masked = MASKER.mask(value)
    assert masked.restore(masked.value) == value


@PROFILE
@given(json_values)
def test_masked_values_hold_none_of_the_found_values(value: Any) -> None:
    masked = MASKER.mask(value)
    found = {str(v) for v in masked.originals.values()}
    for text in strings(masked.value):
        for original in found:
            assert original not in text


@PROFILE
@given(st.text())
def test_any_unicode_text_is_handled(text: str) -> None:
    for finding in DETECTOR.find(text):
        assert text[finding.start : finding.end] == finding.value
    masked = MASKER.mask({"text": text})
    assert masked.restore(masked.value) == {"text": text}
