"""Property tests for YAML loading (podium._yaml): the same values as ``yaml.safe_load``,
and limits on alias-expanded size and depth that hold exactly, with either parser."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podium import _yaml
from podium._limits import Limits
from podium._yaml import line_of, load_yaml_text, plain
from podium.errors import UserError

FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@contextmanager
def parser(cls: type[Any]) -> Iterator[None]:
    saved = _yaml._Loader
    _yaml._Loader = cls
    try:
        yield
    finally:
        _yaml._Loader = saved


def each_parser(check: Callable[[], None]) -> None:
    for cls in _yaml._LOADERS:
        with parser(cls):
            check()


# ---------------------------------------------------------------------------- same values

keys = st.text(min_size=1, max_size=8)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=False),
    st.text(max_size=20),
)
documents = st.recursive(
    scalars,
    lambda sub: st.one_of(st.lists(sub, max_size=5), st.dictionaries(keys, sub, max_size=5)),
    max_leaves=30,
)


@FAST
@given(documents, st.booleans())
def test_loading_gives_what_safe_load_gives(doc: Any, flow: bool) -> None:
    text = yaml.safe_dump(doc, default_flow_style=flow, allow_unicode=True)
    expected = yaml.safe_load(text)

    def check() -> None:
        loaded = load_yaml_text(text, "doc.yaml")
        assert plain(loaded) == expected
        if isinstance(loaded, dict):
            for key in loaded:
                line = line_of(loaded, [key])
                assert line is not None and 1 <= line <= text.count("\n") + 1

    each_parser(check)


@FAST
@given(st.text(max_size=60))
def test_any_text_loads_or_is_one_user_error(text: str) -> None:
    def check() -> None:
        try:
            load_yaml_text(text, "doc.yaml")
        except UserError as exc:
            assert "\n" not in str(exc) and str(exc).startswith("doc.yaml")

    each_parser(check)


# ---------------------------------------------------------------------------- alias limits

Item = tuple[str, Any]  # ("s", None) a scalar, ("alias", j), ("list", [items])
items: st.SearchStrategy[Item] = st.recursive(
    st.one_of(st.just(("s", None)), st.integers(0, 20).map(lambda j: ("alias", j))),
    lambda sub: st.lists(sub, max_size=4).map(lambda xs: ("list", xs)),
    max_leaves=12,
)
anchor_lists = st.lists(st.lists(items, max_size=5), min_size=1, max_size=7)


def render(item: Item, index: int) -> str:
    kind, value = item
    if kind == "alias" and index > 0:
        return f"*a{value % index}"
    if kind == "list":
        return "[" + ", ".join(render(x, index) for x in value) + "]"
    return "x"


def measure(item: Item, index: int, anchors: list[tuple[int, int]]) -> tuple[int, int]:
    """(values, depth) of ``item`` once aliases are expanded."""
    kind, value = item
    if kind == "alias" and index > 0:
        return anchors[value % index]
    if kind == "list":
        parts = [measure(x, index, anchors) for x in value]
        return 1 + sum(p[0] for p in parts), 1 + max((p[1] for p in parts), default=0)
    return 1, 0


def count(value: Any) -> int:
    if isinstance(value, dict):
        return 1 + sum(1 + count(v) for v in value.values())
    if isinstance(value, list):
        return 1 + sum(count(v) for v in value)
    return 1


@FAST
@given(anchor_lists, st.integers(1, 400), st.integers(1, 12))
def test_refused_exactly_when_the_expanded_document_is_over_a_limit(
    definitions: list[list[Item]], max_nodes: int, max_depth: int
) -> None:
    lines: list[str] = []
    anchors: list[tuple[int, int]] = []
    for i, body in enumerate(definitions):
        lines.append(f"a{i}: &a{i} [" + ", ".join(render(x, i) for x in body) + "]")
        anchors.append(measure(("list", body), i, anchors))
    text = "\n".join(lines) + "\n"
    total = 1 + sum(1 + size for size, _ in anchors)
    depth = 1 + max(d for _, d in anchors)
    limits = Limits(yaml_nodes=max_nodes, yaml_depth=max_depth)

    def check() -> None:
        try:
            loaded = load_yaml_text(text, "doc.yaml", limits=limits)
        except UserError as exc:
            message = str(exc)
            assert total > max_nodes or depth > max_depth, message
            if total <= max_nodes:
                assert "PODIUM_LIMIT_YAML_DEPTH" in message
            if depth <= max_depth:
                assert "PODIUM_LIMIT_YAML_NODES" in message
            assert exc.line is not None and 1 <= exc.line <= len(lines)
        else:
            assert total <= max_nodes and depth <= max_depth
            assert count(loaded) == total

    each_parser(check)
