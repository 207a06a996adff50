"""Unit tests for the ``${{ }}`` expression language (podium.engine._expr)."""

from __future__ import annotations

import re
import timeit
from collections.abc import Mapping
from typing import Any

import pytest

from podium.engine._expr import Expression, Template, compile_template, parse_expression
from podium.errors import ExpressionError, UserError

SCOPE: dict[str, Any] = {
    "inputs": {
        "n": 3,
        "x": 2.5,
        "s": "Hello",
        "empty": "",
        "flag": True,
        "items": [1, 2, 3],
        "words": ["a", "b"],
        "obj": {"k": "v", "nested": {"deep": 1}},
        "nothing": None,
        "key": "k",
    },
    "steps": {
        "a": {"output": {"label": "cat", "score": 0.9, "tags": ["x", "y"]}, "iterations": 1},
        "fetch-data": {"output": "page"},
        "skipped": {"output": None},
    },
    "item": {"name": "it", "i": 4},
    "loop": {"iteration": 2, "last": {"done": False}},
}


def ev(text: str, scope: Mapping[str, Any] = SCOPE) -> Any:
    return parse_expression(text).evaluate(scope)


def parse_error(text: str) -> str:
    with pytest.raises(ExpressionError) as info:
        parse_expression(text)
    return str(info.value)


def eval_error(text: str, scope: Mapping[str, Any] = SCOPE) -> str:
    expression = parse_expression(text)
    with pytest.raises(ExpressionError) as info:
        expression.evaluate(scope)
    return str(info.value)


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
    return bool(actual == expected)


# ---------------------------------------------------------------------------- literals


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("0", 0),
        ("42", 42),
        ("-7", -7),
        ("1.5", 1.5),
        ("1e3", 1000.0),
        ("2.5E-1", 0.25),
        ("1e+2", 100.0),
        ("'single'", "single"),
        ('"double"', "double"),
        (r"'a\nb\tc\\d\'e\"f'", "a\nb\tc\\d'e\"f"),
        (r'"\u00e9\r\/"', "é\r/"),
        ('"it\'s"', "it's"),
        ("''", ""),
        ("true", True),
        ("false", False),
        ("null", None),
        ("True", True),
        ("False", False),
        ("None", None),
        ("[]", []),
        ("[1, 'two', [3], null]", [1, "two", [3], None]),
        ("[1, 2,]", [1, 2]),
        ("{}", {}),
        ('{a: 1, "b c": [true], d: {e: null},}', {"a": 1, "b c": [True], "d": {"e": None}}),
        ("{true: 1, in: 2}", {"true": 1, "in": 2}),
    ],
)
def test_literals(text: str, expected: Any) -> None:
    assert same(ev(text), expected)


def test_literal_lists_are_fresh_each_time() -> None:
    expression = parse_expression("[1, {a: []}]")
    first = expression.evaluate(SCOPE)
    first[1]["a"].append(5)
    assert expression.evaluate(SCOPE) == [1, {"a": []}]


def test_whitespace_and_newlines_are_ignored() -> None:
    assert ev("  \n inputs . n\t+\n1 ") == 4


# ---------------------------------------------------------------------------- access


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("inputs.n", 3),
        ("inputs.obj.nested.deep", 1),
        ("inputs['obj']['k']", "v"),
        ('inputs["s"]', "Hello"),
        ("inputs.items[0]", 1),
        ("inputs.items[-1]", 3),
        ("inputs.items[inputs.n - 2]", 2),
        ("inputs.obj[inputs.key]", "v"),
        ("inputs.s[1]", "e"),
        ("steps.a.output.label", "cat"),
        ("steps.a.output.tags[1]", "y"),
        ("steps.fetch-data.output", "page"),
        ("steps['fetch-data'].output", "page"),
        ("item.name", "it"),
        ("loop.iteration", 2),
        ("loop.last.done", False),
        ("inputs.obj.in", None),  # keywords are fine as field names
        ("[10, 20][1]", 20),
        ("{a: 5}.a", 5),
    ],
)
def test_access(text: str, expected: Any) -> None:
    assert same(ev(text), expected)


@pytest.mark.parametrize(
    "text",
    [
        "inputs.missing",
        "inputs.missing.deeper.still",
        "inputs.nothing.x",
        "inputs.nothing[0]",
        "inputs.items[3]",
        "inputs.items[-4]",
        "inputs.items['0']",
        "inputs.items[true]",
        "inputs.items[1.0]",
        "inputs.items.length",
        "inputs.s.x",
        "inputs.n.x",
        "inputs.n[0]",
        "inputs.flag.x",
        "inputs.obj[[1]]",
        "inputs.obj[0]",
        "steps.nope.output.label",
        "steps.skipped.output.label",
        "null.x",
        "null[0]",
    ],
)
def test_access_is_null_safe(text: str) -> None:
    assert ev(text) is None


def test_missing_roots_in_scope_are_null() -> None:
    assert ev("item.name", {}) is None
    assert ev("steps.a.output", {"steps": {}}) is None


def test_hyphens_belong_to_step_ids_only() -> None:
    assert parse_expression("steps.fetch-data.output").path == ("steps", "fetch-data", "output")
    assert parse_expression("steps.a-b-c.x").references == {"a-b-c"}
    assert parse_expression("steps.a--b-.x").references == {"a--b-"}
    assert ev("inputs.n-1") == 2
    assert ev("inputs.n - 1") == 2
    assert ev("loop.iteration-1") == 1
    assert ev("steps.a.iterations-1") == 0
    assert ev("inputs.steps.a-1", {"inputs": {"steps": {"a": 5}}}) == 4
    assert ev("len(steps.fetch-data.output)") == 4
    assert "unknown name 'data'" in parse_error("inputs.fetch-data")


def test_access_works_on_any_mapping() -> None:
    class Lazy(Mapping[str, Any]):
        def __getitem__(self, key: str) -> Any:
            if key == "a":
                return {"output": "lazy"}
            raise KeyError(key)

        def __iter__(self) -> Any:
            return iter(["a"])

        def __len__(self) -> int:
            return 1

    assert ev("steps.a.output", {"steps": Lazy()}) == "lazy"
    assert ev("steps['a'].output", {"steps": Lazy()}) == "lazy"
    assert ev("steps.b", {"steps": Lazy()}) is None
    assert ev("keys(steps)", {"steps": Lazy()}) == ["a"]


# ---------------------------------------------------------------------------- operators


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2", 3),
        ("1 + 2.5", 3.5),
        ("'ab' + 'cd'", "abcd"),
        ("[1] + [2, 3]", [1, 2, 3]),
        ("inputs.words + ['c']", ["a", "b", "c"]),
        ("5 - 7", -2),
        ("3 * 4", 12),
        ("1.5 * 2", 3.0),
        ("7 / 2", 3.5),
        ("6 / 3", 2.0),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7.5 // 2", 3.0),
        ("7 % 3", 1),
        ("-7 % 3", 2),
        ("-inputs.n", -3),
        ("- -3", 3),
        ("--3", 3),
        ("-(1 + 2)", -3),
        ("1 == 1", True),
        ("1 == 1.0", True),
        ("1 == 2", False),
        ("'a' == 'a'", True),
        ("1 == '1'", False),
        ("true == 1", False),
        ("false == 0", False),
        ("null == null", True),
        ("null == false", False),
        ("[1, {a: true}] == [1, {a: true}]", True),
        ("[1] == [true]", False),
        ("{a: 1} == {a: 1, b: 2}", False),
        ("1 != 2", True),
        ("1 != 1", False),
        ("null != 0", True),
        ("1 < 2", True),
        ("2 < 1", False),
        ("2 <= 2", True),
        ("3 > 2.5", True),
        ("2 >= 3", False),
        ("'a' < 'b'", True),
        ("'b' >= 'a'", True),
        ("null < 3", False),
        ("3 > null", False),
        ("'a' < 1", False),
        ("1 >= 'a'", False),
        ("true > false", False),
        ("[1] < [2]", False),
        ("'ell' in inputs.s", True),
        ("'x' in inputs.s", False),
        ("2 in inputs.items", True),
        ("true in [1]", False),
        ("'k' in inputs.obj", True),
        ("'v' in inputs.obj", False),
        ("1 in 'abc'", False),
        ("1 in null", False),
        ("[1] in {a: 1}", False),
        ("5 not in inputs.items", True),
        ("1 not in inputs.items", False),
        ("not true", False),
        ("not null", True),
        ("not inputs.items", False),
        ("not []", True),
        ("!inputs.flag", False),
        ("!!inputs.flag", True),
        ("true and 5", 5),
        ("0 and 5", 0),
        ("null or 'd'", "d"),
        ("'x' or 'd'", "x"),
        ("inputs.flag && inputs.n", 3),
        ("inputs.empty || 'fallback'", "fallback"),
    ],
)
def test_operators(text: str, expected: Any) -> None:
    assert same(ev(text), expected)


def test_and_or_short_circuit() -> None:
    assert ev("false and 1 / 0") is False
    assert ev("true or 1 / 0") is True
    assert ev("inputs.nothing && inputs.nothing.x - 1") is None


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("1 + 2 * 3", 7),
        ("(1 + 2) * 3", 9),
        ("10 - 4 - 3", 3),
        ("2 * 3 % 4", 2),
        ("100 / 10 / 5", 2.0),
        ("-2 * 3", -6),
        ("-inputs.items[0]", -1),
        ("1 + 2 == 3", True),
        ("1 < 2 == true", None),  # parse error, see test_comparisons_do_not_chain
        ("not 1 == 2", True),
        ("not true and false", False),
        ("not (true and false)", True),
        ("true or false and false", True),
        ("(true or false) and false", False),
        ("1 < 2 and 2 < 3", True),
        ("2 in [1, 2] and 'a' not in 'bcd'", True),
        ("not 1 in [1]", False),
        ("1 + 1 in [2]", True),
    ],
)
def test_precedence(text: str, expected: Any) -> None:
    if expected is None:
        parse_error(text)
    else:
        assert same(ev(text), expected)


@pytest.mark.parametrize("text", ["1 < 2 < 3", "1 == 1 == 1", "1 < 2 in [true]"])
def test_comparisons_do_not_chain(text: str) -> None:
    assert "comparisons do not chain" in parse_error(text)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('inputs.n - "x"', """in '${{ inputs.n - "x" }}': cannot subtract str from int"""),
        ("1 + 'a'", "cannot add str to int"),
        ("'a' + 1", "cannot add int to str"),
        ("[1] + 'a'", "cannot add str to list"),
        ("null + 1", "cannot add int to null"),
        ("true + 1", "cannot add int to bool"),
        ("'a' * 3", "cannot multiply str by int"),
        ("inputs.obj / 2", "cannot divide dict by int"),
        ("1 // 'a'", "cannot floor-divide int by str"),
        ("1 % null", "cannot take int modulo null"),
        ("1 / 0", "division by zero"),
        ("1 // 0", "division by zero"),
        ("1 % 0", "division by zero"),
        ("1.0 / 0.0", "division by zero"),
        ("-'a'", "cannot negate str"),
        ("-null", "cannot negate null"),
        ("-true", "cannot negate bool"),
    ],
)
def test_evaluation_errors(text: str, message: str) -> None:
    error = eval_error(text)
    assert message in error
    assert error.startswith(f"in '${{{{ {text} }}}}': ")


def test_evaluation_error_is_a_user_error_and_has_no_chained_noise() -> None:
    with pytest.raises(UserError) as info:
        parse_expression("1 - 'x'").evaluate({})
    assert isinstance(info.value, ExpressionError)
    assert info.value.__cause__ is None


def test_float_overflow_from_huge_int_is_an_expression_error() -> None:
    big = 10**400
    assert "number too large" in eval_error("inputs.big + 0.5", {"inputs": {"big": big}})


# ---------------------------------------------------------------------------- functions


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("len('abc')", 3),
        ("len(inputs.items)", 3),
        ("len(inputs.obj)", 2),
        ("len(null)", 0),
        ("len(inputs.missing)", 0),
        ("coalesce(null, 2, 3)", 2),
        ("coalesce(inputs.nothing, inputs.missing)", None),
        ("coalesce(steps.skipped.output, 'default')", "default"),
        ("coalesce(false, 1)", False),
        ("coalesce(1, 1 / 0)", 1),
        ("lower('AbC')", "abc"),
        ("upper(inputs.s)", "HELLO"),
        ("lower(null)", None),
        ("upper(null)", None),
        ("contains('hello', 'ell')", True),
        ("contains('hello', 'z')", False),
        ("contains(inputs.items, 2)", True),
        ("contains(inputs.items, '2')", False),
        ("contains(inputs.obj, 'k')", True),
        ("contains(null, 'x')", False),
        ("contains(5, 1)", False),
        ("contains('abc', 1)", False),
        ("startswith('hello', 'he')", True),
        ("startswith('hello', 'lo')", False),
        ("startswith(null, 'x')", False),
        ("endswith('hello', 'lo')", True),
        ("endswith(null, 'x')", False),
        ("join(inputs.words, '-')", "a-b"),
        ("join(['a', 1, true, null, [2]], ' ')", "a 1 true  [2]"),
        ("join(inputs.words)", "a,b"),
        ("join(null, '-')", ""),
        ("join('abc', '-')", "abc"),
        ("min(3, 1, 2)", 1),
        ("max(3, 1, 2)", 3),
        ("min(inputs.items)", 1),
        ("max([1.5, 2, null])", 2),
        ("max('a', 'c', 'b')", "c"),
        ("min([])", None),
        ("max(null)", None),
        ("max(5)", 5),
        ("sum(inputs.items)", 6),
        ("sum([1, 2.5, null])", 3.5),
        ("sum([])", 0),
        ("sum(null)", 0),
        ("abs(-3)", 3),
        ("abs(2.5)", 2.5),
        ("abs(null)", None),
        ("round(2.567, 2)", 2.57),
        ("round(2.4)", 2),
        ("round(7)", 7),
        ("round(1234, -2)", 1200),
        ("round(null)", None),
        ("int('42')", 42),
        ("int(' 7 ')", 7),
        ("int('3.9')", 3),
        ("int(3.9)", 3),
        ("int(-3.9)", -3),
        ("int(true)", 1),
        ("int(null)", None),
        ("float('2.5')", 2.5),
        ("float(2)", 2.0),
        ("float(null)", None),
        ("str(1)", "1"),
        ("str(1.5)", "1.5"),
        ("str(true)", "true"),
        ("str(null)", ""),
        ("str('x')", "x"),
        ("str([1, {a: 'b'}])", '[1,{"a":"b"}]'),
        ("bool(1)", True),
        ("bool('')", False),
        ("bool([])", False),
        ("bool(null)", False),
        ("bool('false')", True),
        ("keys(inputs.obj)", ["k", "nested"]),
        ("keys(null)", []),
        ("len(keys({a: 1, b: 2}))", 2),
        ("upper(lower('MiXeD'))", "MIXED"),
    ],
)
def test_functions(text: str, expected: Any) -> None:
    assert same(ev(text), expected)


def test_round_is_python_round() -> None:
    assert ev("round(2.5)") == 2
    assert ev("round(3.5)") == 4
    assert isinstance(ev("round(2.5, 0)"), float)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("len(5)", "len() needs a string, list or dict, got int"),
        ("lower(1)", "lower() needs a string, got int"),
        ("upper([])", "upper() needs a string, got list"),
        ("startswith(1, 'a')", "startswith() needs a string, got int"),
        ("endswith('a', 1)", "endswith() needs a string to look for, got int"),
        ("join(5, ',')", "join() needs a list, got int"),
        ("join([], 5)", "join() needs a string separator, got int"),
        ("max(1, 'a')", "max() needs all numbers or all strings, got int, str"),
        ("min([true, 1])", "min() needs all numbers or all strings"),
        ("sum('abc')", "sum() needs a list of numbers, got str"),
        ("sum([1, 'a'])", "sum() needs a list of numbers"),
        ("abs('a')", "abs() needs a number, got str"),
        ("round('a')", "round() needs a number, got str"),
        ("round(1.5, 1.5)", "round() needs a whole number of digits, got float"),
        ("int('abc')", "cannot convert 'abc' to int"),
        ("int([])", "int() needs a number or string, got list"),
        ("float('abc')", "cannot convert 'abc' to float"),
        ("float({})", "float() needs a number or string, got dict"),
        ("keys([])", "keys() needs a dict, got list"),
    ],
)
def test_function_errors(text: str, message: str) -> None:
    assert message in eval_error(text)


def test_round_with_huge_digit_counts_is_quick() -> None:
    assert ev("round(5, -100000000000000000000)") == 0
    assert ev("round(123, 100000000000000000000)") == 123
    assert ev("round(1.25, 100000000000000000000)") == 1.25
    assert ev("round(inputs.big, -4000)", {"inputs": {"big": 10**3000}}) == 0
    assert ev("round(1500, -3)") == 2000


def test_conversion_of_infinities_is_an_expression_error() -> None:
    assert "cannot convert" in eval_error("int(1e999)")
    assert "cannot round" in eval_error("round(1e999)")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("len()", "column 1: len() takes 1 argument(s), 0 given"),
        ("len(1, 2)", "len() takes 1 argument(s), 2 given"),
        ("contains('a')", "contains() takes 2 argument(s), 1 given"),
        ("round(1, 2, 3)", "round() takes 1 to 2 argument(s), 3 given"),
        ("coalesce()", "coalesce() takes 1+ argument(s), 0 given"),
        ("eval('1')", "column 1: unknown function 'eval'; expected one of abs, bool"),
        ("inputs.n + __import__('os')", "column 12: '__import__': names starting with '__'"),
        ("len", "column 1: len is a function; call it as len(...)"),
        ("inputs.s.lower()", "column 15: only functions can be called"),
        ("(len)(1)", "len is a function"),
    ],
)
def test_function_parse_errors(text: str, message: str) -> None:
    assert message in parse_error(text)


# ---------------------------------------------------------------------------- parse errors


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("(1 + 2", "column 7: expected ')', found end of expression"),
        ("inputs.items[0", "column 15: expected ']', found end of expression"),
        ("[1, 2", "column 6: expected ']'"),
        ("{a 1}", "column 4: expected ':', found '1'"),
        ("{1: 2}", "column 2: expected a key, found '1'"),
        ("{a: 1, a: 2}", "column 8: duplicate key 'a'"),
        ("1 +", "column 4: unexpected end of expression"),
        ("1 2", "column 3: unexpected '2'"),
        ("*1", "column 1: unexpected '*'"),
        (")", "column 1: unexpected ')'"),
        ("and", "column 1: unexpected 'and'"),
        ("1 not 2", "column 3: unexpected 'not'"),
        ("inputs.", "column 8: expected a field name after '.', found end of expression"),
        ("inputs.1", "column 8: expected a field name after '.', found '1'"),
        ("x", "column 1: unknown name 'x'; expected inputs, steps, item or loop"),
        ("env.HOME", "column 1: unknown name 'env'"),
        ("inputs.n + foo", "column 12: unknown name 'foo'"),
        ("'abc", "column 1: unterminated string"),
        ("'abc\\", "column 1: unterminated string"),
        ("'a\\qb'", "column 3: unknown escape '\\\\q' in string"),
        ("'\\u12'", "unknown escape"),
        ("inputs.n = 1", "column 10: unexpected character '='; use '==' to compare"),
        ("true & false", "use 'and' or '&&'"),
        ("true | false", "use 'or' or '||'"),
        ("1 @ 2", "column 3: unexpected character '@'"),
        ("", "column 1: empty expression"),
        ("   ", "column 4: empty expression"),
        ("9" * 5000, "column 1: number is too long"),
    ],
)
def test_parse_errors(text: str, message: str) -> None:
    assert message in parse_error(text)


def test_parse_error_columns_count_in_the_given_text() -> None:
    assert parse_error("  (1") == "column 5: expected ')', found end of expression"


def test_deep_nesting_is_an_expression_error() -> None:
    assert "nested too deeply" in parse_error("(" * 500 + "1" + ")" * 500)
    assert "nested too deeply" in parse_error("not " * 500 + "true")
    assert "nested too deeply" in parse_error(" + ".join(["1"] * 500))
    assert ev("(" * 20 + "1" + ")" * 20) == 1


# ---------------------------------------------------------------------------- metadata


@pytest.mark.parametrize(
    ("text", "references", "guarded", "roots"),
    [
        ("steps.a.output.label", {"a"}, set(), {"steps"}),
        ("steps['b-c'].output", {"b-c"}, set(), {"steps"}),
        ("steps.a.output + steps.b.output", {"a", "b"}, set(), {"steps"}),
        ("coalesce(steps.a.output, 'x')", {"a"}, {"a"}, {"steps"}),
        ("coalesce(len(steps.a.output), steps.b.output)", {"a", "b"}, {"a", "b"}, {"steps"}),
        ("coalesce(steps.a.output, 1) + steps.a.iterations", {"a"}, set(), {"steps"}),
        ("coalesce(steps.a.output, steps.b.output) == steps.b.x", {"a", "b"}, {"a"}, {"steps"}),
        ("len(steps)", set(), set(), {"steps"}),
        ("steps[inputs.key].output", set(), set(), {"steps", "inputs"}),
        ("inputs.x + item.y * loop.iteration", set(), set(), {"inputs", "item", "loop"}),
        ("1 + 2", set(), set(), set()),
        ("inputs.steps.a", set(), set(), {"inputs"}),
    ],
)
def test_references_guarded_roots(
    text: str, references: set[str], guarded: set[str], roots: set[str]
) -> None:
    expression = parse_expression(text)
    assert expression.references == references
    assert expression.guarded == guarded
    assert expression.roots == roots
    assert isinstance(expression.references, frozenset)


@pytest.mark.parametrize(
    ("text", "path"),
    [
        ("steps.a.output.label", ("steps", "a", "output", "label")),
        ("inputs.x", ("inputs", "x")),
        ("inputs", ("inputs",)),
        ("item['a b'][0][-1]", ("item", "a b", 0, -1)),
        ("loop.last.x", ("loop", "last", "x")),
        ("inputs[inputs.k]", None),
        ("inputs.x[true]", None),
        ("inputs.x[1.5]", None),
        ("inputs.x + 1", None),
        ("len(inputs.x)", None),
        ("[inputs.x][0]", None),
        ("1", None),
    ],
)
def test_path(text: str, path: tuple[str | int, ...] | None) -> None:
    assert parse_expression(text).path == path


def test_source_is_stripped_and_expressions_compare_by_source() -> None:
    expression = parse_expression("  inputs.n  ")
    assert expression.source == "inputs.n"
    assert expression == parse_expression("inputs.n")
    assert hash(expression) == hash(parse_expression("inputs.n"))
    assert repr(expression) == "Expression('inputs.n')"


def test_evaluation_is_fast() -> None:
    evaluate = parse_expression("steps.a.output.label").evaluate
    best = min(timeit.repeat(lambda: evaluate(SCOPE), number=2000, repeat=5)) / 2000
    assert best < 20e-6  # about 0.3 us on a laptop; generous for slow CI machines


# ---------------------------------------------------------------------------- templates


def test_constant_templates() -> None:
    value = {"a": [1, "text", None, {"b": 2.5}], "c": True}
    template = compile_template(value)
    assert template.is_constant
    assert template.expressions == ()
    assert template.references == frozenset()
    assert template.evaluate(SCOPE) == value
    copy = template.evaluate(SCOPE)
    copy["a"].append(9)
    assert template.evaluate(SCOPE) == value
    assert compile_template("plain $ {{ text }}").evaluate({}) == "plain $ {{ text }}"
    assert compile_template(7).evaluate({}) == 7
    assert compile_template(None).evaluate({}) is None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("${{ inputs.items }}", [1, 2, 3]),
        ("  ${{ inputs.n }}\n", 3),
        ("${{inputs.flag}}", True),
        ("${{ inputs.nothing }}", None),
        ("${{ {a: {b: 1}} }}", {"a": {"b": 1}}),
        ("${{ '}}' }}", "}}"),
        ('${{ "a\\"}}" }}', 'a"}}'),
        ("n=${{ inputs.n }}", "n=3"),
        ("${{ inputs.n }}${{ inputs.n }}", "33"),
        ("${{ inputs.s }}, ${{ item.name }}!", "Hello, it!"),
        ("[${{ inputs.nothing }}]", "[]"),
        ("${{ true }}/${{ false }}", "true/false"),
        ("x ${{ inputs.obj }}", 'x {"k":"v","nested":{"deep":1}}'),
        ("x ${{ inputs.words }}", 'x ["a","b"]'),
        ("x ${{ 'é' }} ${{ ['é'] }}", 'x é ["é"]'),
        ("${{ inputs.x }} ${{ 1.0 }}", "2.5 1.0"),
        ("${{ {a: 1}}}", {"a": 1}),
        ("${{ 1 }}}", "1}"),
    ],
)
def test_string_templates(value: str, expected: Any) -> None:
    template = compile_template(value)
    assert not template.is_constant
    assert same(template.evaluate(SCOPE), expected)


def test_nested_templates_and_metadata() -> None:
    template = compile_template(
        {
            "prompt": "Label ${{ steps.a.output.label }} from ${{ coalesce(steps.b.output, '') }}",
            "extra": ["${{ coalesce(steps.c.output, inputs.n) }}", {"k": "${{ item.i }}"}],
            "${{ not a key }}": 1,
        }
    )
    assert isinstance(template, Template)
    assert not template.is_constant
    assert len(template.expressions) == 4
    assert all(isinstance(e, Expression) for e in template.expressions)
    assert template.references == {"a", "b", "c"}
    assert template.guarded == {"b", "c"}
    assert template.roots == {"steps", "inputs", "item"}
    assert template.evaluate(SCOPE) == {
        "prompt": "Label cat from ",
        "extra": [3, {"k": 4}],
        "${{ not a key }}": 1,
    }


def test_template_guarded_is_cleared_by_any_unguarded_use() -> None:
    template = compile_template(["${{ coalesce(steps.a.output, 1) }}", "${{ steps.a.output }}"])
    assert template.references == {"a"}
    assert template.guarded == frozenset()


def test_template_tuples_become_lists() -> None:
    assert compile_template(("${{ inputs.n }}", 1)).evaluate(SCOPE) == [3, 1]


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("${{ inputs.n", "unterminated '${{' in '${{ inputs.n': missing '}}'"),
        ("a ${{ 'x }}", "unterminated '${{'"),
        ("a ${{ 'x }}", "unterminated string"),
        ("${{ inputs.n + }}", "in '${{ inputs.n + }}': column 11: unexpected end of expression"),
        ("${{ }}", "empty expression"),
        ("${{ bad }}", "unknown name 'bad'"),
        ({"a": ["ok", "${{ x.y }}"]}, "unknown name 'x'"),
    ],
)
def test_template_parse_errors(value: Any, message: str) -> None:
    with pytest.raises(ExpressionError, match=re.escape(message)):
        compile_template(value)


def test_unterminated_errors_in_long_strings_stay_short() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_template("x" * 500 + "${{ 'a' + 'b' + 'c' " + "y" * 500)
    message = str(info.value)
    assert message.startswith("unterminated '${{' in \"${{ 'a' + 'b' + 'c' yyy")
    assert "column 17: unexpected 'yyyyyyyyyyyyyyyyyyyyyyyyyyy...'" in message
    assert len(message) < 200


def test_template_evaluation_errors_name_the_expression() -> None:
    template = compile_template("total: ${{ inputs.s - 1 }}")
    with pytest.raises(ExpressionError, match=re.escape("in '${{ inputs.s - 1 }}': cannot")):
        template.evaluate(SCOPE)


def test_interpolating_an_unserialisable_value_is_an_expression_error() -> None:
    template = compile_template("x ${{ inputs.weird }}")
    with pytest.raises(ExpressionError, match=re.escape("in '${{ inputs.weird }}'")):
        template.evaluate({"inputs": {"weird": {(1, 2): "tuple key"}}})


# ---------------------------------------------------------------------------- dunder names


@pytest.mark.parametrize(
    ("text", "column", "name"),
    [
        ("inputs.__class__", 8, "__class__"),
        ("inputs.obj.__dict__.x", 12, "__dict__"),
        ("steps.__init__.output", 7, "__init__"),
        ("item.__len__", 6, "__len__"),
        ("loop.last.__x", 11, "__x"),
        ("__import__", 1, "__import__"),
        ("__builtins__.len", 1, "__builtins__"),
        ("inputs['__class__']", 8, "__class__"),
        ('inputs["__globals__"]', 8, "__globals__"),
        ("inputs[ '__a' ]", 9, "__a"),
        ("{__k: 1}", 2, "__k"),
        ("{'__k': 1}", 2, "__k"),
        ("len(inputs.__doc__)", 12, "__doc__"),
    ],
)
def test_dunder_names_are_refused_with_their_column(text: str, column: int, name: str) -> None:
    assert parse_error(text) == (
        f"column {column}: '{name}': names starting with '__' are not allowed"
    )


def test_dunder_names_are_refused_when_a_template_is_compiled() -> None:
    with pytest.raises(ExpressionError) as info:
        compile_template({"text": "hi ${{ inputs.__class__ }}"})
    assert str(info.value) == (
        "in '${{ inputs.__class__ }}': column 8: '__class__': "
        "names starting with '__' are not allowed"
    )


def test_single_underscores_and_computed_keys_are_plain_dict_keys() -> None:
    scope = {"inputs": {"_private": 1, "__odd": 2, "a__b": 3}}
    assert ev("inputs._private", scope) == 1
    assert ev("inputs.a__b", scope) == 3
    assert ev("inputs['_' + '_odd']", scope) == 2  # computed: a dict lookup, nothing more


class _Tempting(dict[str, Any]):
    """A mapping with Python attributes an expression must never reach."""

    secret = "attribute"

    def method(self) -> str:
        return "called"


def test_field_access_only_indexes_never_reads_attributes() -> None:
    scope = {"inputs": _Tempting(k="v"), "steps": {"a": ["x"]}}
    assert ev("inputs.secret", scope) is None
    assert ev("inputs.method", scope) is None
    assert ev("inputs.get", scope) is None
    assert ev("inputs.keys", scope) is None
    assert ev("inputs.k", scope) == "v"
    assert ev("steps.a.append", scope) is None
    assert ev("inputs.k.upper", scope) is None  # str methods are not fields either
