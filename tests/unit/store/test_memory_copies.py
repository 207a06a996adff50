"""The in-memory store keeps copies: what a caller changes afterwards is not what it stored."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from podium.store import MemoryStore, RunRecord
from podium.store._memory import _copied

JSON = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=5),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=20,
)


def _containers(value: Any) -> list[Any]:
    found = [value] if isinstance(value, dict | list | tuple | set) else []
    items = value.values() if isinstance(value, dict) else value if found else ()
    for item in items:
        found += _containers(item)
    return found


@given(JSON)
def test_a_copy_is_equal_and_shares_no_container(value: Any) -> None:
    copied = _copied(value)
    assert repr(copied) == repr(copy.deepcopy(value))
    originals = {id(c) for c in _containers(value)}
    assert not originals & {id(c) for c in _containers(copied)}


def test_other_values_are_deep_copied() -> None:
    value = {"when": (1, [2]), "tags": {"a"}}
    copied = _copied(value)
    assert copied == value
    assert copied["when"][1] is not value["when"][1] and copied["tags"] is not value["tags"]


def test_stored_inputs_outputs_and_updates_are_not_the_callers() -> None:
    store = MemoryStore()
    inputs = {"xs": [1, 2]}
    store.create_run(RunRecord("r", "w", "running", 1.0, inputs=inputs, definition={}), [])
    inputs["xs"].append(3)
    outputs = {"labels": ["a"]}
    store.append("r", [], {"status": "succeeded", "outputs": outputs})
    outputs["labels"].append("b")
    record = store.run("r")
    assert record is not None
    assert record.inputs == {"xs": [1, 2]} and record.outputs == {"labels": ["a"]}
