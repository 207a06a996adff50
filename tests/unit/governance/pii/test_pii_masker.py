"""Masking JSON values and restoring answers."""

from __future__ import annotations

from podium.governance.pii import Masker, PiiKind, restore


def test_same_value_same_placeholder_and_restore() -> None:
    masker = Masker()
    value = {
        "text": "I'm jan@example.nl; card 4242 4242 4242 4242. Again: jan@example.nl",
        "cc": ["ana@example.org", "jan@example.nl"],
    }
    masked = masker.mask(value)
    assert masked.value == {
        "text": "I'm <EMAIL_1>; card <CARD_1>. Again: <EMAIL_1>",
        "cc": ["<EMAIL_2>", "<EMAIL_1>"],
    }
    assert masked.counts == {PiiKind.EMAIL: 2, PiiKind.CARD: 1}
    assert masked.restore(masked.value) == value
    answer = {"reply": "Wrote to <EMAIL_1> about <CARD_1>; <PHONE_9> is not ours"}
    assert masked.restore(answer) == {
        "reply": "Wrote to jan@example.nl about 4242 4242 4242 4242; <PHONE_9> is not ours"
    }


def test_nothing_found_returns_the_same_object() -> None:
    value = {"text": "hello", "n": [1, 2.5, None, True]}
    masked = Masker().mask(value)
    assert masked.value is value
    assert not masked.masked


def test_a_value_found_once_is_masked_everywhere() -> None:
    # the BSN is found under its key; the same digits elsewhere go too
    masked = Masker().mask({"bsn": "123456782", "note": "ref 123456782"})
    assert masked.value == {"bsn": "<ID_1>", "note": "ref <ID_1>"}


def test_placeholders_already_in_the_text_are_not_reused() -> None:
    value = {"text": "template <EMAIL_1> for x@example.com"}
    masked = Masker().mask(value)
    assert masked.value == {"text": "template <EMAIL_1> for <EMAIL_2>"}
    assert masked.restore(masked.value) == value


def test_integers_and_keys() -> None:
    value = {"card": 4242424242424242, "x@example.com": "owner"}
    masked = Masker().mask(value)
    assert masked.value == {"card": "<CARD_1>", "<EMAIL_1>": "owner"}
    assert masked.restore(masked.value) == value
    assert restore({"n": "<CARD_1>"}, masked.originals) == {"n": 4242424242424242}
