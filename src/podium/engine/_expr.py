"""The safe expression language of workflow ``${{ }}`` expressions.

An expression is parsed once (by :mod:`podium.engine._expr_parse`, a hand-written tokenizer
and Pratt parser; nothing is ever ``eval``-ed) and compiled into nested closures, so
evaluating ``steps.a.output.label`` costs about a microsecond.

Semantics, briefly:

* Roots are ``inputs``, ``steps``, ``item`` and ``loop``; any other bare name is an error.
* Field and index access never raise: on null, a missing key, an out-of-range index or a
  value of the wrong kind they give null. A step id right after ``steps.`` may contain
  hyphens (``steps.fetch-data.output``); anywhere else ``-`` is minus, so write other
  hyphenated keys as ``inputs["my-key"]``.
* ``and``/``or`` (``&&``/``||``) short-circuit and return an operand, as in Python;
  ``not``/``!`` return a bool. Truthiness is Python's.
* Comparisons do not chain (``a < b < c`` is a parse error). ``==`` and ``!=`` work on any
  pair of values and never treat a bool as a number. ``< <= > >=`` compare two numbers or
  two strings; any other pair (``null < 3``, ``"a" < 1``) is false. ``in`` tests substring,
  list membership or dict key, and is false for anything else.
* ``+`` adds numbers and concatenates strings or lists; ``- * / // %`` take numbers only.
  Bools are not numbers. A bad operand or a division by zero raises ExpressionError.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from typing import Any

from podium.engine._expr_parse import (
    FUNCTIONS,
    Attr,
    Binary,
    Call,
    Index,
    ListNode,
    Literal,
    Logic,
    Node,
    ObjectNode,
    Root,
    Unary,
    access_path,
    analyse,
    parse,
    split_template,
)
from podium.errors import ExpressionError

__all__ = ["Expression", "Template", "compile_template", "parse_expression"]

Scope = Mapping[str, Any]
_Fn = Callable[[Scope], Any]

# Errors a value of an unusual type could still provoke; reported as ExpressionError.
_RUNTIME_ERRORS = (ArithmeticError, TypeError, ValueError, RecursionError)

# ---------------------------------------------------------------------------- values


def _type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    for kind, name in ((int, "int"), (float, "float"), (str, "str"), (Mapping, "dict")):
        if isinstance(value, kind):
            return name
    return "list" if isinstance(value, list | tuple) else type(value).__name__


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_default(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else str(value)


def _text(value: Any) -> str:
    """How a value reads inside a string: null is empty, bools are lowercase, containers JSON."""
    if isinstance(value, str):
        return value
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | float):
        return str(value)
    if isinstance(value, Mapping | list | tuple):
        return json.dumps(value, separators=(",", ":"), ensure_ascii=False, default=_json_default)
    return str(value)


def _index(obj: Any, key: Any) -> Any:
    if isinstance(obj, Mapping):
        try:
            return obj.get(key)
        except TypeError:  # an unhashable key
            return None
    if isinstance(obj, list | tuple | str) and type(key) is int:
        return obj[key] if -len(obj) <= key < len(obj) else None
    return None


def _equal(a: Any, b: Any) -> bool:
    """JSON equality: like ``==`` but a bool never equals a number."""
    if a is b:
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(_equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, Mapping):
        return (
            isinstance(b, Mapping)
            and len(a) == len(b)
            and all(k in b and _equal(v, b[k]) for k, v in a.items())
        )
    if isinstance(b, list | tuple | Mapping):
        return False
    try:
        return bool(a == b)
    except _RUNTIME_ERRORS:
        return False


def _contains(haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, str):
        return isinstance(needle, str) and needle in haystack
    if isinstance(haystack, list | tuple):
        return any(_equal(item, needle) for item in haystack)
    if isinstance(haystack, Mapping):
        try:
            return needle in haystack
        except TypeError:
            return False
    return False


def _comparison(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def run(a: Any, b: Any) -> bool:
        if (_is_number(a) and _is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
            return compare(a, b)
        return False

    return run


def _arithmetic(message: str, compute: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def run(a: Any, b: Any) -> Any:
        if not (_is_number(a) and _is_number(b)):
            raise ExpressionError(message.format(a=_type_name(a), b=_type_name(b)))
        try:
            return compute(a, b)
        except ZeroDivisionError:
            raise ExpressionError("division by zero") from None
        except OverflowError:
            raise ExpressionError("number too large") from None

    return run


_add_numbers = _arithmetic("cannot add {b} to {a}", operator.add)


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return [*a, *b]
    return _add_numbers(a, b)


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": _add,
    "-": _arithmetic("cannot subtract {b} from {a}", operator.sub),
    "*": _arithmetic("cannot multiply {a} by {b}", operator.mul),
    "/": _arithmetic("cannot divide {a} by {b}", operator.truediv),
    "//": _arithmetic("cannot floor-divide {a} by {b}", operator.floordiv),
    "%": _arithmetic("cannot take {a} modulo {b}", operator.mod),
    "==": _equal,
    "!=": lambda a, b: not _equal(a, b),
    "<": _comparison(operator.lt),
    "<=": _comparison(operator.le),
    ">": _comparison(operator.gt),
    ">=": _comparison(operator.ge),
    "in": lambda a, b: _contains(b, a),
    "not in": lambda a, b: not _contains(b, a),
}


def _negate(value: Any) -> Any:
    if not _is_number(value):
        raise ExpressionError(f"cannot negate {_type_name(value)}")
    return -value


# ---------------------------------------------------------------------------- functions


def _need(name: str, what: str, value: Any) -> ExpressionError:
    return ExpressionError(f"{name}() needs {what}, got {_type_name(value)}")


def _fn_len(value: Any) -> int:
    if value is None:
        return 0
    if isinstance(value, str | list | tuple | Mapping):
        return len(value)
    raise _need("len", "a string, list or dict", value)


def _case(name: str, convert: Callable[[str], str]) -> Callable[[Any], Any]:
    def run(value: Any) -> Any:
        if value is None or isinstance(value, str):
            return value if value is None else convert(value)
        raise _need(name, "a string", value)

    return run


def _affix(name: str, test: Callable[[str, str], bool]) -> Callable[[Any, Any], bool]:
    def run(value: Any, affix: Any) -> bool:
        if not isinstance(affix, str):
            raise _need(name, "a string to look for", affix)
        if value is None:
            return False
        if not isinstance(value, str):
            raise _need(name, "a string", value)
        return test(value, affix)

    return run


def _fn_join(items: Any, separator: Any = ",") -> str:
    if not isinstance(separator, str):
        raise _need("join", "a string separator", separator)
    if items is None:
        return ""
    if isinstance(items, str):
        return items
    if not isinstance(items, list | tuple):
        raise _need("join", "a list", items)
    return separator.join(_text(item) for item in items)


def _extreme(name: str, pick: Callable[[list[Any]], Any]) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        values = args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args
        present = [v for v in values if v is not None]
        if not present:
            return None
        if all(map(_is_number, present)) or all(isinstance(v, str) for v in present):
            return pick(present)
        kinds = ", ".join(sorted({_type_name(v) for v in present}))
        raise ExpressionError(f"{name}() needs all numbers or all strings, got {kinds}")

    return run


def _fn_sum(items: Any) -> Any:
    if items is None:
        return 0
    if not isinstance(items, list | tuple):
        raise _need("sum", "a list of numbers", items)
    total: Any = 0
    for item in items:
        if item is None:
            continue
        if not _is_number(item):
            raise _need("sum", "a list of numbers, one item is", item)
        total = _add_numbers(total, item)
    return total


def _fn_abs(value: Any) -> Any:
    if value is None:
        return None
    if not _is_number(value):
        raise _need("abs", "a number", value)
    return abs(value)


def _fn_round(value: Any, ndigits: Any = None) -> Any:
    if ndigits is not None and type(ndigits) is not int:
        raise _need("round", "a whole number of digits", ndigits)
    if value is None:
        return None
    if not _is_number(value):
        raise _need("round", "a number", value)
    if isinstance(value, int) and ndigits is not None and -ndigits > value.bit_length() // 3 + 1:
        return 0  # |value| < 10 ** -ndigits / 2, and computing that power could take forever
    try:
        return round(value) if ndigits is None else round(value, ndigits)
    except (OverflowError, ValueError):
        raise ExpressionError(f"cannot round {value}") from None


def _fn_int(value: Any) -> Any:
    if value is None or type(value) is int:
        return value
    try:
        if isinstance(value, str):
            text = value.strip()
            try:
                return int(text)
            except ValueError:
                return int(float(text))
        if isinstance(value, bool | int | float):
            return int(value)
    except (OverflowError, ValueError):
        raise ExpressionError(f"cannot convert {value!r} to int") from None
    raise _need("int", "a number or string", value)


def _fn_float(value: Any) -> Any:
    if value is None:
        return None
    try:
        if isinstance(value, str):
            return float(value.strip())
        if isinstance(value, bool | int | float):
            return float(value)
    except (OverflowError, ValueError):
        raise ExpressionError(f"cannot convert {value!r} to float") from None
    raise _need("float", "a number or string", value)


def _fn_keys(value: Any) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, Mapping):
        raise _need("keys", "a dict", value)
    return list(value)


_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": _fn_abs,
    "bool": bool,
    "contains": _contains,
    "endswith": _affix("endswith", str.endswith),
    "float": _fn_float,
    "int": _fn_int,
    "join": _fn_join,
    "keys": _fn_keys,
    "len": _fn_len,
    "lower": _case("lower", str.lower),
    "max": _extreme("max", max),
    "min": _extreme("min", min),
    "round": _fn_round,
    "startswith": _affix("startswith", str.startswith),
    "str": _text,
    "sum": _fn_sum,
    "upper": _case("upper", str.upper),
}
assert set(_FUNCTIONS) | {"coalesce"} == set(FUNCTIONS), "parser and runtime disagree"

# ---------------------------------------------------------------------------- compiler


def _compile(node: Node) -> _Fn:
    """A closure computing ``node`` from a scope."""
    if isinstance(node, Literal):
        value = node.value
        return lambda scope: value
    if isinstance(node, Root):
        name = node.name
        return lambda scope: scope.get(name)
    if isinstance(node, Attr):
        return _compile_attr(_compile(node.obj), node.name)
    if isinstance(node, Index):
        return _compile_index(_compile(node.obj), node.index)
    if isinstance(node, ListNode):
        items = tuple(map(_compile, node.items))
        return lambda scope: [item(scope) for item in items]
    if isinstance(node, ObjectNode):
        pairs = tuple(zip(node.keys, map(_compile, node.values), strict=True))
        return lambda scope: {key: value(scope) for key, value in pairs}
    if isinstance(node, Unary):
        operand = _compile(node.operand)
        if node.op == "not":
            return lambda scope: not operand(scope)
        return lambda scope: _negate(operand(scope))
    if isinstance(node, Logic):
        left, right = _compile(node.left), _compile(node.right)
        if node.op == "and":
            return lambda scope: left(scope) and right(scope)
        return lambda scope: left(scope) or right(scope)
    if isinstance(node, Binary):
        compute = _BINARY[node.op]
        left, right = _compile(node.left), _compile(node.right)
        return lambda scope: compute(left(scope), right(scope))
    return _compile_call(node)


def _compile_attr(obj: _Fn, name: str) -> _Fn:
    def run(scope: Scope) -> Any:
        value = obj(scope)
        if type(value) is dict or isinstance(value, Mapping):
            return value.get(name)
        return None

    return run


def _compile_index(obj: _Fn, index: Node) -> _Fn:
    if isinstance(index, Literal):
        key = index.value
        return lambda scope: _index(obj(scope), key)
    compute = _compile(index)
    return lambda scope: _index(obj(scope), compute(scope))


def _compile_call(node: Call) -> _Fn:
    args = tuple(map(_compile, node.args))
    if node.name == "coalesce":

        def coalesce(scope: Scope) -> Any:
            for arg in args:
                value = arg(scope)
                if value is not None:
                    return value
            return None

        return coalesce
    function = _FUNCTIONS[node.name]
    if len(args) == 1:
        (only,) = args
        return lambda scope: function(only(scope))
    return lambda scope: function(*[arg(scope) for arg in args])


# ---------------------------------------------------------------------------- public API


class Expression:
    """One compiled ``${{ }}`` expression."""

    __slots__ = ("_run", "guarded", "inputs", "path", "references", "roots", "source")

    source: str
    references: frozenset[str]
    guarded: frozenset[str]
    roots: frozenset[str]
    inputs: frozenset[str]
    path: tuple[str | int, ...] | None

    def __init__(self, source: str, node: Node) -> None:
        references, unguarded, roots, inputs = analyse(node)
        self.inputs = frozenset(inputs)
        self.source = source
        self.references = frozenset(references)
        self.guarded = frozenset(references - unguarded)
        self.roots = frozenset(roots)
        self.path = access_path(node)
        self._run = _compile(node)

    def evaluate(self, scope: Scope) -> Any:
        """The value of the expression; scope keys are inputs, steps, item and loop."""
        try:
            return self._run(scope)
        except ExpressionError as exc:
            raise ExpressionError(f"in '${{{{ {self.source} }}}}': {exc.message}") from None
        except _RUNTIME_ERRORS as exc:
            raise ExpressionError(f"in '${{{{ {self.source} }}}}': {exc}") from exc

    def __repr__(self) -> str:
        return f"Expression({self.source!r})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Expression) and other.source == self.source

    def __hash__(self) -> int:
        return hash(self.source)


def parse_expression(text: str) -> Expression:
    """Compile the text between ``${{`` and ``}}``; columns in errors count in ``text``."""
    return Expression(text.strip(), parse(text))


def _parse_embedded(inner: str) -> Expression:
    source = inner.strip()
    try:
        return parse_expression(source)
    except ExpressionError as exc:
        raise ExpressionError(f"in '${{{{ {source} }}}}': {exc.message}") from None


def _compile_string(text: str, found: list[Expression]) -> _Fn | None:
    """A closure for a templated string, or None when it holds no expression."""
    chunks = split_template(text)
    if len(chunks) == 1:
        return None
    expressions = [_parse_embedded(chunk) for chunk in chunks[1::2]]
    found.extend(expressions)
    if len(expressions) == 1 and not "".join(chunks[0::2]).strip():
        return expressions[0].evaluate
    pieces: list[_Fn] = []
    for i, chunk in enumerate(chunks):
        if i % 2:
            pieces.append(_as_text(expressions[i // 2]))
        elif chunk:
            pieces.append(_constant(chunk))
    return lambda scope: "".join([piece(scope) for piece in pieces])


def _as_text(expression: Expression) -> _Fn:
    def run(scope: Scope) -> str:
        value = expression.evaluate(scope)
        try:
            return _text(value)
        except _RUNTIME_ERRORS as exc:
            raise ExpressionError(f"in '${{{{ {expression.source} }}}}': {exc}") from exc

    return run


def _constant(value: Any) -> _Fn:
    return lambda scope: value


def _compile_value(value: Any, found: list[Expression]) -> _Fn:
    if isinstance(value, str):
        return _compile_string(value, found) or _constant(value)
    if isinstance(value, Mapping):
        pairs = [(key, _compile_value(item, found)) for key, item in value.items()]
        return lambda scope: {key: item(scope) for key, item in pairs}
    if isinstance(value, list | tuple):
        items = [_compile_value(item, found) for item in value]
        return lambda scope: [item(scope) for item in items]
    return _constant(value)


class Template:
    """A workflow value that may embed ``${{ }}`` expressions, compiled once.

    Dicts and lists are walked (keys are not templated). A string that is exactly one
    ``${{ expr }}`` (give or take surrounding whitespace) evaluates to the raw value;
    a string mixing text and expressions interpolates each value as text.
    """

    __slots__ = (
        "_run",
        "_value",
        "expressions",
        "guarded",
        "inputs",
        "is_constant",
        "references",
        "roots",
    )

    references: frozenset[str]
    guarded: frozenset[str]
    roots: frozenset[str]
    inputs: frozenset[str]
    expressions: tuple[Expression, ...]
    is_constant: bool

    def __init__(self, value: Any) -> None:
        found: list[Expression] = []
        self._run = _compile_value(value, found)
        self._value = value
        self.expressions = tuple(found)
        self.is_constant = not found
        self.references = frozenset().union(*(e.references for e in found))
        unguarded = frozenset().union(*(e.references - e.guarded for e in found))
        self.guarded = self.references - unguarded
        self.roots = frozenset().union(*(e.roots for e in found))
        self.inputs = frozenset().union(*(e.inputs for e in found))

    def evaluate(self, scope: Scope) -> Any:
        """The value with every expression replaced; containers are fresh copies."""
        return self._run(scope)

    @property
    def source(self) -> Any:
        """The value as written, before compilation."""
        return self._value

    def __repr__(self) -> str:
        return f"Template({self._value!r})"


def compile_template(value: Any) -> Template:
    """Compile a workflow value (str, dict, list or scalar) that may embed expressions."""
    return Template(value)
