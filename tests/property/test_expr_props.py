"""Property tests for the ``${{ }}`` expression language (podium.engine._expr)."""

from __future__ import annotations

import contextlib
import math
import operator
import re
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from podium.engine._expr import compile_template, parse_expression
from podium.errors import ExpressionError

FAST = settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def same(actual: Any, expected: Any) -> bool:
    """Equal and of the same JSON kind all the way down (so True is not 1)."""
    if type(actual) is not type(expected):
        return False
    if isinstance(expected, list):
        return len(actual) == len(expected) and all(map(same, actual, expected))
    if isinstance(expected, dict):
        return actual.keys() == expected.keys() and all(
            same(actual[k], v) for k, v in expected.items()
        )
    if isinstance(expected, float) and math.isnan(expected):
        return math.isnan(actual)
    return bool(actual == expected)


# ---------------------------------------------------------------------------- (1) arithmetic


@dataclass(frozen=True)
class Num:
    value: int


@dataclass(frozen=True)
class Neg:
    operand: Tree


@dataclass(frozen=True)
class Op:
    symbol: str
    left: Tree
    right: Tree


Tree = Num | Neg | Op

OPERATORS: dict[str, tuple[int, Callable[[int, int], int]]] = {
    "+": (1, operator.add),
    "-": (1, operator.sub),
    "*": (2, operator.mul),
    "//": (2, operator.floordiv),
    "%": (2, operator.mod),
}
UNARY = 3
ATOM = 4


def trees() -> st.SearchStrategy[Tree]:
    leaves = st.builds(Num, st.integers(min_value=-1000, max_value=1000))
    return st.recursive(
        leaves,
        lambda sub: st.one_of(
            st.builds(Neg, sub),
            st.builds(Op, st.sampled_from(sorted(OPERATORS)), sub, sub),
        ),
        max_leaves=12,
    )


def compute(tree: Tree) -> int:
    """The tree's value, computed with Python's operator functions (raises ZeroDivisionError)."""
    if isinstance(tree, Num):
        return tree.value
    if isinstance(tree, Neg):
        return -compute(tree.operand)
    return OPERATORS[tree.symbol][1](compute(tree.left), compute(tree.right))


def precedence(tree: Tree) -> int:
    if isinstance(tree, Num):
        return UNARY if tree.value < 0 else ATOM  # "-5" reads as unary minus
    if isinstance(tree, Neg):
        return UNARY
    return OPERATORS[tree.symbol][0]


def render(tree: Tree, draw_parens: Callable[[], bool]) -> str:
    """Text for ``tree`` with only the parentheses precedence needs, plus random extra ones."""

    def wrap(child: Tree, needs: bool) -> str:
        text = render(child, draw_parens)
        return f"({text})" if needs or draw_parens() else text

    if isinstance(tree, Num):
        return str(tree.value)
    if isinstance(tree, Neg):
        return "-" + wrap(tree.operand, precedence(tree.operand) < UNARY)
    mine = OPERATORS[tree.symbol][0]
    left = wrap(tree.left, precedence(tree.left) < mine)
    right = wrap(tree.right, precedence(tree.right) <= mine)  # operators are left-associative
    return f"{left} {tree.symbol} {right}"


@FAST
@given(trees(), st.data())
def test_integer_arithmetic_matches_python(tree: Tree, data: st.DataObject) -> None:
    text = render(tree, lambda: data.draw(st.booleans()))
    expression = parse_expression(text)
    try:
        expected = compute(tree)
    except ZeroDivisionError:
        try:
            expression.evaluate({})
        except ExpressionError as exc:
            assert "division by zero" in str(exc)
        else:
            raise AssertionError(f"{text} should fail") from None
        return
    result = expression.evaluate({})
    assert type(result) is int
    assert result == expected, text


# ---------------------------------------------------------------------------- (2) literals

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=12),
)
json_values = st.recursive(
    json_scalars,
    lambda sub: st.one_of(
        st.lists(sub, max_size=4),
        st.dictionaries(st.text(max_size=6), sub, max_size=4),
    ),
    max_leaves=15,
)
IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
ESCAPES = {"\\": "\\\\", "\n": "\\n", "\t": "\\t", "\r": "\\r"}


def render_string(text: str, quote: str, unicode_escapes: bool) -> str:
    out = []
    for char in text:
        if char == quote:
            out.append("\\" + quote)
        elif char in ESCAPES:
            out.append(ESCAPES[char])
        elif unicode_escapes and ord(char) < 0x10000 and not char.isalnum():
            out.append(f"\\u{ord(char):04x}")
        else:
            out.append(char)
    return quote + "".join(out) + quote


def render_literal(value: Any, draw: Callable[[st.SearchStrategy[Any]], Any]) -> str:
    if value is None:
        return str(draw(st.sampled_from(["null", "None"])))
    if isinstance(value, bool):
        return str(draw(st.sampled_from(["true", "True"] if value else ["false", "False"])))
    if isinstance(value, int | float):
        return repr(value)
    if isinstance(value, str):
        return render_string(value, draw(st.sampled_from("'\"")), draw(st.booleans()))
    space: str = draw(st.sampled_from(["", " ", "\n  "]))
    if isinstance(value, list):
        items = [render_literal(item, draw) for item in value]
        return "[" + space + ("," + space).join(items) + "]"
    pairs = []
    for key, item in value.items():
        bare = IDENTIFIER.fullmatch(key) and draw(st.booleans())
        key_text = key if bare else render_string(key, draw(st.sampled_from("'\"")), False)
        pairs.append(f"{key_text}:{space}{render_literal(item, draw)}")
    return "{" + space + ("," + space).join(pairs) + "}"


@FAST
@given(json_values, st.data())
def test_rendered_literals_parse_back(value: Any, data: st.DataObject) -> None:
    text = render_literal(value, data.draw)
    assert same(parse_expression(text).evaluate({}), value), text


@FAST
@given(json_values)
def test_exact_template_returns_the_raw_value(value: Any) -> None:
    template = compile_template("${{ inputs.v }}")
    assert same(template.evaluate({"inputs": {"v": value}}), value)


# ---------------------------------------------------------------------------- (3) robustness

TOKENS = [
    *"()[]{},:.+-*/%<>!=&|'\"\\ \n",
    "==", "!=", "<=", ">=", "&&", "||", "//", "not", "in", "and", "or",
    "inputs", "steps", "item", "loop", "x", "a-b", "true", "null", "None",
    "0", "1", "-1", "2.5", "1e3", "1e", "'s'", '"t\\n"', "'\\q'", "'\\u00'",
    "len", "coalesce", "join", "min", "max", "round", "int", "str", "keys", "contains",
    "${{", "}}",
]  # fmt: skip

token_soup = st.lists(st.sampled_from(TOKENS), max_size=14).map("".join)
SCOPE = {
    "inputs": {"a": 1, "b": "two", "c": [1, None], "d": {"x": True}},
    "steps": {"a": {"output": {"x": 1.5}}},
    "item": "it",
    "loop": {"iteration": 0},
}


def parse_or_none(text: str) -> Any:
    try:
        return parse_expression(text)
    except ExpressionError:
        return None


@FAST
@given(st.one_of(st.text(max_size=40), token_soup))
def test_parsing_only_raises_expression_errors(text: str) -> None:
    expression = parse_or_none(text)
    if expression is None:
        return
    with contextlib.suppress(ExpressionError):
        expression.evaluate(SCOPE)


@FAST
@given(st.one_of(st.text(max_size=40), token_soup))
def test_compiling_templates_only_raises_expression_errors(text: str) -> None:
    try:
        template = compile_template(text)
    except ExpressionError:
        return
    with contextlib.suppress(ExpressionError):
        template.evaluate(SCOPE)


@FAST
@given(json_values)
def test_functions_only_raise_expression_errors(value: Any) -> None:
    for function in ["len", "lower", "abs", "round", "int", "float", "str", "bool", "keys", "sum"]:
        with contextlib.suppress(ExpressionError):
            parse_expression(f"{function}(inputs.v)").evaluate({"inputs": {"v": value}})
    for text in ["min(inputs.v)", "max(inputs.v, 1)", "join(inputs.v, ',')", "-inputs.v"]:
        with contextlib.suppress(ExpressionError):
            parse_expression(text).evaluate({"inputs": {"v": value}})


# ---------------------------------------------------------------------------- (4) comparisons

COMPARISONS = ["==", "!=", "<", "<=", ">", ">=", "in", "not in"]
any_values = st.one_of(
    json_values, st.floats(), st.tuples(st.integers()), st.integers(min_value=10**400)
)


@FAST
@given(any_values, any_values)
def test_comparisons_never_raise(a: Any, b: Any) -> None:
    scope = {"inputs": {"a": a, "b": b}}
    for op in COMPARISONS:
        result = parse_expression(f"inputs.a {op} inputs.b").evaluate(scope)
        assert type(result) is bool
    assert parse_expression("contains(inputs.a, inputs.b)").evaluate(scope) in (True, False)


@FAST
@given(json_values, json_values)
def test_equality_is_symmetric_and_negated_by_not_equal(a: Any, b: Any) -> None:
    scope = {"inputs": {"a": a, "b": b}}
    forward = parse_expression("inputs.a == inputs.b").evaluate(scope)
    assert parse_expression("inputs.b == inputs.a").evaluate(scope) is forward
    assert parse_expression("inputs.a != inputs.b").evaluate(scope) is not forward
    assert parse_expression("inputs.a == inputs.a").evaluate(scope) is True


@FAST
@given(st.one_of(st.integers(), st.floats(allow_nan=False)), st.integers() | st.floats())
def test_ordering_matches_python_for_numbers(a: float, b: float) -> None:
    scope = {"inputs": {"a": a, "b": b}}
    for op, function in [("<", operator.lt), ("<=", operator.le), (">", operator.gt)]:
        assert parse_expression(f"inputs.a {op} inputs.b").evaluate(scope) is function(a, b)


# ---------------------------------------------------------------------------- (5) dunder names

identifiers = st.from_regex(r"[A-Za-z_][A-Za-z0-9_]{0,10}", fullmatch=True)


@FAST
@given(identifiers, st.sampled_from(["inputs.{}", "steps.a.output.{}", "item.x.{}", "{{{}: 1}}"]))
def test_a_name_is_refused_exactly_when_it_starts_with_two_underscores(
    name: str, form: str
) -> None:
    text = form.format(name)
    try:
        parse_expression(text)
    except ExpressionError as exc:
        refused = "names starting with '__' are not allowed" in str(exc)
        assert refused == name.startswith("__") or name in ("and", "or", "not", "in"), str(exc)
        if refused:
            assert str(exc).startswith(f"column {text.index(name) + 1}: ")
    else:
        assert not name.startswith("__")
