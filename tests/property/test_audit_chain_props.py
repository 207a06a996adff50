"""Properties of the audit chain: any single change, removal, insertion or swap is caught
and the record named; an untouched chain always verifies."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from podium.store import AuditNote, AuditRecord, verify_chain
from podium.store._audit import GENESIS, chain

_text = st.text(min_size=0, max_size=12)
_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(10**6), 10**6) | _text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_text, inner, max_size=3),
    max_leaves=8,
)
_note = st.builds(
    AuditNote,
    kind=st.sampled_from(["run.started", "model.call", "key.created"]),
    ts=st.floats(0, 2e9, allow_nan=False),
    data=st.dictionaries(_text, _json, max_size=4),
    subject=st.none() | _text,
    principal=st.none() | _text,
    tenant=st.none() | _text,
    cost=st.none() | st.floats(0, 100, allow_nan=False),
)
_chains = st.lists(_note, min_size=3, max_size=12).map(lambda notes: chain(notes, 0, GENESIS))


@given(_chains)
def test_an_untouched_chain_verifies(records: list[AuditRecord]) -> None:
    verdict = verify_chain(iter(records))
    assert verdict.ok and verdict.checked == len(records)
    assert verdict.head == records[-1].hash


@settings(max_examples=60)
@given(_chains, st.data())
def test_a_changed_field_is_caught_at_its_record(
    records: list[AuditRecord], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(records) - 1))
    field = data.draw(st.sampled_from(["ts", "kind", "principal", "cost", "data", "subject"]))
    old = records[index]
    new_value = {
        "ts": old.ts + 1.0,
        "kind": old.kind + "x",
        "principal": (old.principal or "") + "x",
        "cost": (old.cost or 0.0) + 1.0,
        "data": old.data[:-1] + ',"x":1}' if old.data != "{}" else '{"x":1}',
        "subject": (old.subject or "") + "x",
    }[field]
    tampered = [*records]
    tampered[index] = old._replace(**{field: new_value})
    verdict = verify_chain(iter(tampered))
    assert not verdict.ok
    assert verdict.seq == old.seq
    assert "altered" in str(verdict.fault)


@settings(max_examples=60)
@given(_chains, st.data())
def test_a_removed_record_is_named(records: list[AuditRecord], data: st.DataObject) -> None:
    index = data.draw(st.integers(0, len(records) - 2))
    verdict = verify_chain(iter(records[:index] + records[index + 1 :]))
    assert not verdict.ok
    assert verdict.seq == records[index].seq
    assert "removed" in str(verdict.fault)


@settings(max_examples=60)
@given(_chains, st.data())
def test_a_swap_is_caught_at_the_first_of_the_two(
    records: list[AuditRecord], data: st.DataObject
) -> None:
    index = data.draw(st.integers(0, len(records) - 2))
    a, b = records[index], records[index + 1]
    swapped = [*records]
    swapped[index], swapped[index + 1] = b._replace(seq=a.seq), a._replace(seq=b.seq)
    verdict = verify_chain(iter(swapped))
    assert not verdict.ok
    assert verdict.seq == a.seq
    assert "reordered" in str(verdict.fault)
