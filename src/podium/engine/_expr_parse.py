"""Tokenizer and Pratt parser for ``${{ }}`` expressions.

Turns the text of one expression into a small AST. Nothing here evaluates anything; the
AST is compiled into closures by :mod:`podium.engine._expr`. Every failure is an
:class:`~podium.errors.ExpressionError` whose message starts with ``column N:`` (1-based,
counted in the text handed to :func:`parse`).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, TypeAlias

from podium.errors import ExpressionError

__all__ = [
    "FUNCTIONS",
    "MAX_DEPTH",
    "ROOTS",
    "Attr",
    "Binary",
    "Call",
    "Index",
    "ListNode",
    "Literal",
    "Logic",
    "Node",
    "ObjectNode",
    "Root",
    "Unary",
    "access_path",
    "analyse",
    "children",
    "parse",
    "split_template",
]

ROOTS = frozenset({"inputs", "steps", "item", "loop"})
"""The only bare names an expression may use."""

FUNCTIONS: dict[str, tuple[int, int | None]] = {
    "abs": (1, 1),
    "bool": (1, 1),
    "coalesce": (1, None),
    "contains": (2, 2),
    "endswith": (2, 2),
    "float": (1, 1),
    "int": (1, 1),
    "join": (1, 2),
    "keys": (1, 1),
    "len": (1, 1),
    "lower": (1, 1),
    "max": (1, None),
    "min": (1, None),
    "round": (1, 2),
    "startswith": (2, 2),
    "str": (1, 1),
    "sum": (1, 1),
    "upper": (1, 1),
}
"""The whitelisted functions: name -> (fewest arguments, most arguments or None)."""

MAX_DEPTH = 100
"""How deeply an expression may nest; keeps parsing and evaluation far from the stack limit."""

_CONSTANTS: dict[str, Any] = {
    "true": True,
    "false": False,
    "null": None,
    "True": True,
    "False": False,
    "None": None,
}
_ESCAPES = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", "'": "'", '"': '"', "/": "/"}

# ---------------------------------------------------------------------------- AST


@dataclass(frozen=True, slots=True)
class Literal:
    value: Any


@dataclass(frozen=True, slots=True)
class ListNode:
    items: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class ObjectNode:
    keys: tuple[str, ...]
    values: tuple[Node, ...]


@dataclass(frozen=True, slots=True)
class Root:
    name: str


@dataclass(frozen=True, slots=True)
class Attr:
    obj: Node
    name: str


@dataclass(frozen=True, slots=True)
class Index:
    obj: Node
    index: Node


@dataclass(frozen=True, slots=True)
class Unary:
    op: str  # "-" or "not"
    operand: Node


@dataclass(frozen=True, slots=True)
class Binary:
    op: str  # arithmetic, comparison, "in" or "not in"
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Logic:
    op: str  # "and" or "or"
    left: Node
    right: Node


@dataclass(frozen=True, slots=True)
class Call:
    name: str
    args: tuple[Node, ...]


Node: TypeAlias = (
    Literal | ListNode | ObjectNode | Root | Attr | Index | Unary | Binary | Logic | Call
)


def children(node: Node) -> tuple[Node, ...]:
    """The direct sub-expressions of ``node``."""
    if isinstance(node, Literal | Root):
        return ()
    if isinstance(node, ListNode):
        return node.items
    if isinstance(node, ObjectNode):
        return node.values
    if isinstance(node, Attr):
        return (node.obj,)
    if isinstance(node, Index):
        return (node.obj, node.index)
    if isinstance(node, Unary):
        return (node.operand,)
    if isinstance(node, Call):
        return node.args
    return (node.left, node.right)


# ---------------------------------------------------------------------------- tokens


@dataclass(frozen=True, slots=True)
class _Token:
    kind: str  # "num", "str", "name", "op" or "end"
    value: Any
    pos: int  # 0-based offset of the first character
    text: str  # the token as written


_SPACE = re.compile(r"\s*")
_NUMBER = re.compile(r"[0-9]+(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
# A step id after the root ``steps.`` may contain hyphens, as the loader allows in step ids:
# steps.fetch-data.output
_STEP_ID = re.compile(r"[A-Za-z_][A-Za-z0-9_-]*")
_PLAIN = {"'": re.compile(r"[^'\\]*"), '"': re.compile(r'[^"\\]*')}
_OPS2 = frozenset({"==", "!=", "<=", ">=", "&&", "||", "//"})
_OPS1 = frozenset("+-*/%<>!()[]{},:.")
_HINTS = {"=": "; use '==' to compare", "&": "; use 'and' or '&&'", "|": "; use 'or' or '||'"}


def _error(pos: int, message: str) -> ExpressionError:
    return ExpressionError(f"column {pos + 1}: {message}")


def _refuse_dunder(name: object, pos: int) -> None:
    """Names starting with ``__`` are refused: they could only mean Python internals, which
    expressions never reach (they index dicts and lists and nothing else)."""
    if isinstance(name, str) and name.startswith("__"):
        raise _error(pos, f"{name!r}: names starting with '__' are not allowed")


def _tokenize(text: str) -> list[_Token]:
    tokens: list[_Token] = []
    n = len(text)
    i = _SPACE.match(text, 0).end()  # type: ignore[union-attr]  # \s* always matches
    while i < n:
        c = text[i]
        m = _STEP_ID.match(text, i) if _at_step_id(tokens) else None
        if m or (m := _NAME.match(text, i)):
            tokens.append(_Token("name", m.group(), i, m.group()))
        elif m := _NUMBER.match(text, i):
            tokens.append(_Token("num", _number(m, i), i, m.group()))
        elif c in "'\"":
            value, end = _read_string(text, i)
            tokens.append(_Token("str", value, i, text[i:end]))
            i = end
        elif text[i : i + 2] in _OPS2:
            tokens.append(_Token("op", text[i : i + 2], i, text[i : i + 2]))
        elif c in _OPS1:
            tokens.append(_Token("op", c, i, c))
        else:
            raise _error(i, f"unexpected character {c!r}{_HINTS.get(c, '')}")
        if tokens[-1].kind != "str":
            i += len(tokens[-1].text)
        i = _SPACE.match(text, i).end()  # type: ignore[union-attr]
    tokens.append(_Token("end", None, n, ""))
    return tokens


def _at_step_id(tokens: list[_Token]) -> bool:
    """Whether the next token follows the root ``steps.`` (and so may be a hyphenated id)."""
    tail = [(t.kind, t.value) for t in tokens[-3:]]
    return tail[-2:] == [("name", "steps"), ("op", ".")] and tail[:1] != [("op", ".")]


def _number(m: re.Match[str], pos: int) -> int | float:
    text = m.group()
    try:
        return float(text) if m.group(1) or m.group(2) else int(text)
    except ValueError:  # more digits than int() accepts
        raise _error(pos, "number is too long") from None


def _read_string(text: str, start: int) -> tuple[str, int]:
    """The value of the string literal opening at ``start`` and the offset just past it."""
    quote = text[start]
    plain = _PLAIN[quote]
    parts: list[str] = []
    i = start + 1
    n = len(text)
    while True:
        m = plain.match(text, i)
        assert m is not None
        parts.append(m.group())
        i = m.end()
        if i >= n:
            raise _error(start, "unterminated string")
        if text[i] == quote:
            return "".join(parts), i + 1
        # a backslash
        if i + 1 >= n:
            raise _error(start, "unterminated string")
        esc = text[i + 1]
        if esc in _ESCAPES:
            parts.append(_ESCAPES[esc])
            i += 2
        elif esc == "u" and re.fullmatch(r"[0-9a-fA-F]{4}", text[i + 2 : i + 6]):
            parts.append(chr(int(text[i + 2 : i + 6], 16)))
            i += 6
        else:
            raise _error(i, f"unknown escape {text[i : i + 2]!r} in string")


# ---------------------------------------------------------------------------- parser

_OR, _AND, _NOT, _COMPARE, _SUM, _PRODUCT, _NEGATE, _POSTFIX = 10, 20, 30, 40, 50, 60, 70, 80
_INFIX: dict[str, int] = {
    "or": _OR,
    "and": _AND,
    "==": _COMPARE,
    "!=": _COMPARE,
    "<": _COMPARE,
    "<=": _COMPARE,
    ">": _COMPARE,
    ">=": _COMPARE,
    "in": _COMPARE,
    "not in": _COMPARE,
    "+": _SUM,
    "-": _SUM,
    "*": _PRODUCT,
    "/": _PRODUCT,
    "//": _PRODUCT,
    "%": _PRODUCT,
    ".": _POSTFIX,
    "[": _POSTFIX,
    "(": _POSTFIX,
}
_ALIASES = {"&&": "and", "||": "or", "!": "not"}
_KEYWORDS = frozenset({"and", "or", "not", "in"})


class _Parser:
    def __init__(self, text: str) -> None:
        self.tokens = _tokenize(text)
        self.at = 0
        self.nesting = 0

    def peek(self, ahead: int = 0) -> _Token:
        return self.tokens[min(self.at + ahead, len(self.tokens) - 1)]

    def take(self) -> _Token:
        tok = self.tokens[self.at]
        if tok.kind != "end":
            self.at += 1
        return tok

    def is_op(self, value: str) -> bool:
        tok = self.peek()
        return tok.kind == "op" and tok.value == value

    def unexpected(self, tok: _Token, expected: str | None = None) -> ExpressionError:
        text = tok.text if len(tok.text) <= 30 else tok.text[:27] + "..."
        found = "end of expression" if tok.kind == "end" else repr(text)
        if expected:
            return _error(tok.pos, f"expected {expected}, found {found}")
        return _error(tok.pos, f"unexpected {found}")

    def expect(self, op: str) -> None:
        if not self.is_op(op):
            raise self.unexpected(self.peek(), repr(op))
        self.take()

    def infix_op(self) -> str | None:
        tok = self.peek()
        if tok.kind == "op":
            op = _ALIASES.get(tok.value, tok.value)
            return op if op in _INFIX else None
        if tok.kind == "name":
            if tok.value in ("and", "or", "in"):
                return str(tok.value)
            nxt = self.peek(1)
            if tok.value == "not" and nxt.kind == "name" and nxt.value == "in":
                return "not in"
        return None

    def expression(self, rbp: int = 0) -> Node:
        self.nesting += 1
        if self.nesting > MAX_DEPTH:
            raise _error(self.peek().pos, "expression is nested too deeply")
        left = self.prefix()
        compared = False
        while (op := self.infix_op()) is not None and _INFIX[op] > rbp:
            if _INFIX[op] == _COMPARE and compared:
                raise _error(self.peek().pos, "comparisons do not chain; join them with 'and'")
            compared = _INFIX[op] == _COMPARE
            left = self.infix(op, left)
        self.nesting -= 1
        return left

    def prefix(self) -> Node:
        tok = self.take()
        if tok.kind in ("num", "str"):
            return Literal(tok.value)
        if tok.kind == "name":
            return self.name(tok)
        if tok.kind == "op":
            op = _ALIASES.get(tok.value, tok.value)
            if op == "(":
                inner = self.expression()
                self.expect(")")
                return inner
            if op == "[":
                return ListNode(tuple(self.sequence("]")))
            if op == "{":
                return self.object_literal()
            if op == "-":
                operand = self.expression(_NEGATE)
                if isinstance(operand, Literal) and type(operand.value) in (int, float):
                    return Literal(-operand.value)
                return Unary("-", operand)
            if op == "not":
                return Unary("not", self.expression(_NOT))
        raise self.unexpected(tok)

    def name(self, tok: _Token) -> Node:
        name = str(tok.value)
        _refuse_dunder(name, tok.pos)
        if name in _CONSTANTS:
            return Literal(_CONSTANTS[name])
        if name == "not":
            return Unary("not", self.expression(_NOT))
        if name in ROOTS:
            return Root(name)
        if name in _KEYWORDS:
            raise self.unexpected(tok)
        if name in FUNCTIONS:
            if not self.is_op("("):
                raise _error(tok.pos, f"{name} is a function; call it as {name}(...)")
            self.take()
            args = self.sequence(")")
            low, high = FUNCTIONS[name]
            if len(args) < low or (high is not None and len(args) > high):
                want = str(low) if low == high else f"{low} to {high}" if high else f"{low}+"
                raise _error(tok.pos, f"{name}() takes {want} argument(s), {len(args)} given")
            return Call(name, tuple(args))
        if self.is_op("("):
            known = ", ".join(sorted(FUNCTIONS))
            raise _error(tok.pos, f"unknown function {name!r}; expected one of {known}")
        raise _error(tok.pos, f"unknown name {name!r}; expected inputs, steps, item or loop")

    def infix(self, op: str, left: Node) -> Node:
        tok = self.take()
        if op == ".":
            name = self.take()
            if name.kind != "name":
                raise self.unexpected(name, "a field name after '.'")
            _refuse_dunder(name.value, name.pos)
            return Attr(left, str(name.value))
        if op == "[":
            start = self.peek().pos
            index = self.expression()
            self.expect("]")
            if isinstance(index, Literal):
                _refuse_dunder(index.value, start)
            return Index(left, index)
        if op == "(":
            raise _error(tok.pos, "only functions can be called")
        if op == "not in":
            self.take()  # the "in" after "not"
        right = self.expression(_INFIX[op])
        if op in ("and", "or"):
            return Logic(op, left, right)
        return Binary(op, left, right)

    def sequence(self, close: str) -> list[Node]:
        """Comma-separated expressions up to ``close`` (consumed); a trailing comma is fine."""
        items: list[Node] = []
        while not self.is_op(close):
            items.append(self.expression())
            if not self.is_op(","):
                break
            self.take()
        self.expect(close)
        return items

    def object_literal(self) -> ObjectNode:
        keys: list[str] = []
        values: list[Node] = []
        while not self.is_op("}"):
            tok = self.take()
            if tok.kind not in ("name", "str"):
                raise self.unexpected(tok, "a key")
            key = str(tok.value)
            _refuse_dunder(key, tok.pos)
            if key in keys:
                raise _error(tok.pos, f"duplicate key {key!r}")
            self.expect(":")
            keys.append(key)
            values.append(self.expression())
            if not self.is_op(","):
                break
            self.take()
        self.expect("}")
        return ObjectNode(tuple(keys), tuple(values))


def _depth(node: Node) -> int:
    """How deep the tree under ``node`` goes, counted without recursion."""
    deepest = 0
    stack = [(node, 1)]
    while stack:
        current, depth = stack.pop()
        deepest = max(deepest, depth)
        stack.extend((child, depth + 1) for child in children(current))
    return deepest


def parse(text: str) -> Node:
    """The AST of one expression; raises ExpressionError with a column on any mistake."""
    parser = _Parser(text)
    if parser.peek().kind == "end":
        raise _error(parser.peek().pos, "empty expression")
    node = parser.expression()
    tok = parser.peek()
    if tok.kind != "end":
        raise parser.unexpected(tok)
    if _depth(node) > MAX_DEPTH:
        raise _error(0, "expression is nested too deeply")
    return node


# ---------------------------------------------------------------------------- analysis


def analyse(node: Node) -> tuple[set[str], set[str], set[str], set[str]]:
    """(step ids referenced, step ids referenced outside any coalesce argument, roots used,
    input names read as ``inputs.NAME``)."""
    references: set[str] = set()
    unguarded: set[str] = set()
    roots: set[str] = set()
    inputs: set[str] = set()
    stack: list[tuple[Node, bool]] = [(node, False)]
    while stack:
        current, guarded = stack.pop()
        if isinstance(current, Root):
            roots.add(current.name)
        step = None
        if isinstance(current, Attr) and current.obj == Root("steps"):
            step = current.name
        elif isinstance(current, Index) and current.obj == Root("steps"):
            key = current.index
            if isinstance(key, Literal) and isinstance(key.value, str):
                step = key.value
        if isinstance(current, Attr) and current.obj == Root("inputs"):
            inputs.add(current.name)
        elif (
            isinstance(current, Index)
            and current.obj == Root("inputs")
            and isinstance(current.index, Literal)
            and isinstance(current.index.value, str)
        ):
            inputs.add(current.index.value)
        if step is not None:
            references.add(step)
            if not guarded:
                unguarded.add(step)
        inside = guarded or (isinstance(current, Call) and current.name == "coalesce")
        stack.extend((child, inside) for child in children(current))
    return references, unguarded, roots, inputs


def access_path(node: Node) -> tuple[str | int, ...] | None:
    """``("steps", "a", "output")`` for a pure access path with constant keys, else None."""
    keys: list[str | int] = []
    while not isinstance(node, Root):
        if isinstance(node, Attr):
            keys.append(node.name)
            node = node.obj
        elif (
            isinstance(node, Index)
            and isinstance(node.index, Literal)
            and type(node.index.value) in (str, int)
        ):
            keys.append(node.index.value)
            node = node.obj
        else:
            return None
    keys.append(node.name)
    return tuple(reversed(keys))


# ---------------------------------------------------------------------------- templates


def _closing(text: str, start: int) -> int:
    """Offset of the ``}}`` closing an expression that starts at ``start``, or -1.

    Skips string literals and balanced braces, so ``${{ {a: {b: 1}} }}`` and
    ``${{ "}}" }}`` are read whole.
    """
    depth = 0
    i = start
    n = len(text)
    while i < n:
        c = text[i]
        if c in "'\"":
            i += 1
            while i < n and text[i] != c:
                i += 2 if text[i] == "\\" else 1
        elif c == "{":
            depth += 1
        elif c == "}":
            if depth:
                depth -= 1
            elif text.startswith("}}", i):
                return i
        i += 1
    return -1


def split_template(text: str) -> list[str]:
    """``text`` cut into ``[text, expression, text, ..., text]``; odd items are expressions."""
    chunks: list[str] = []
    at = 0
    while (opening := text.find("${{", at)) >= 0:
        closing = _closing(text, opening + 3)
        if closing < 0:
            reason = "missing '}}'"
            try:
                parse(text[opening + 3 :].strip())
            except ExpressionError as exc:
                reason = f"{reason} ({exc.message})"
            snippet = text[opening : opening + 40] + ("..." if len(text) > opening + 40 else "")
            raise ExpressionError(f"unterminated '${{{{' in {snippet!r}: {reason}")
        chunks += [text[at:opening], text[opening + 3 : closing]]
        at = closing + 2
    chunks.append(text[at:])
    return chunks
