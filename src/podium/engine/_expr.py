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

import operator
from collections.abc import Callable, Mapping
from typing import Any

from podium.engine._expr_functions import (
    FUNCTION_TABLE,
    RUNTIME_ERRORS,
    add_numbers,
    arithmetic,
    contains,
    equal,
    is_number,
    text_of,
    type_name,
)
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

# ---------------------------------------------------------------------------- values


def _index(obj: Any, key: Any) -> Any:
    if isinstance(obj, Mapping):
        try:
            return obj.get(key)
        except TypeError:  # an unhashable key
            return None
    if isinstance(obj, list | tuple | str) and type(key) is int:
        return obj[key] if -len(obj) <= key < len(obj) else None
    return None


def _comparison(compare: Callable[[Any, Any], bool]) -> Callable[[Any, Any], bool]:
    def run(a: Any, b: Any) -> bool:
        if (is_number(a) and is_number(b)) or (isinstance(a, str) and isinstance(b, str)):
            return compare(a, b)
        return False

    return run


def _add(a: Any, b: Any) -> Any:
    if isinstance(a, str) and isinstance(b, str):
        return a + b
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return [*a, *b]
    return add_numbers(a, b)


_BINARY: dict[str, Callable[[Any, Any], Any]] = {
    "+": _add,
    "-": arithmetic("cannot subtract {b} from {a}", operator.sub),
    "*": arithmetic("cannot multiply {a} by {b}", operator.mul),
    "/": arithmetic("cannot divide {a} by {b}", operator.truediv),
    "//": arithmetic("cannot floor-divide {a} by {b}", operator.floordiv),
    "%": arithmetic("cannot take {a} modulo {b}", operator.mod),
    "==": equal,
    "!=": lambda a, b: not equal(a, b),
    "<": _comparison(operator.lt),
    "<=": _comparison(operator.le),
    ">": _comparison(operator.gt),
    ">=": _comparison(operator.ge),
    "in": lambda a, b: contains(b, a),
    "not in": lambda a, b: not contains(b, a),
}


def _negate(value: Any) -> Any:
    if not is_number(value):
        raise ExpressionError(f"cannot negate {type_name(value)}")
    return -value


assert set(FUNCTION_TABLE) | {"coalesce"} == set(FUNCTIONS), "parser and runtime disagree"

# ---------------------------------------------------------------------------- compiler


def _compile(node: Node) -> _Fn:
    """A closure computing ``node`` from a scope."""
    if isinstance(node, Literal):
        value = node.value
        return lambda scope: value
    if isinstance(node, Root):
        name = node.name
        return lambda scope: scope.get(name)
    if isinstance(node, Attr | Index):
        path = access_path(node)  # names only: ``a.b`` and ``a["b"]`` read alike
        if path is not None and all(type(key) is str for key in path):
            return _compile_path(str(path[0]), tuple(str(key) for key in path[1:]))
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


def _compile_path(root: str, names: tuple[str, ...]) -> _Fn:
    """``root.a.b`` in one closure, read as nested :func:`_compile_attr` would read it."""

    def run(scope: Scope) -> Any:
        value = scope.get(root)
        for name in names:
            if type(value) is dict or isinstance(value, Mapping):
                value = value.get(name)
            else:
                return None
        return value

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
    function = FUNCTION_TABLE[node.name]
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
        except RUNTIME_ERRORS as exc:
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
            return text_of(value)
        except RUNTIME_ERRORS as exc:
            raise ExpressionError(f"in '${{{{ {expression.source} }}}}': {exc}") from exc

    return run


def _constant(value: Any) -> _Fn:
    return lambda scope: value


def _compile_value(value: Any, found: list[Expression]) -> _Fn:
    if isinstance(value, str):
        return _compile_string(value, found) or _constant(value)
    if isinstance(value, Mapping):
        pairs = [(key, _compile_value(item, found)) for key, item in value.items()]
        if len(pairs) == 1:  # the commonest ``with:``, built without a comprehension
            ((key, only),) = pairs
            return lambda scope: {key: only(scope)}
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
