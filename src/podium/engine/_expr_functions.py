"""Values and built-in functions of the workflow expression language, at run time.

How values read as text, which count as numbers, checked arithmetic, and the functions an
expression may call (``len``, ``join``, ``round``, ...); :mod:`podium.engine._expr`
compiles expressions into calls of these.
"""

from __future__ import annotations

import json
import operator
from collections.abc import Callable, Mapping
from typing import Any

from podium.errors import ExpressionError

# Errors a value of an unusual type could still provoke; reported as ExpressionError.
RUNTIME_ERRORS = (ArithmeticError, TypeError, ValueError, RecursionError)


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "bool"
    for kind, name in ((int, "int"), (float, "float"), (str, "str"), (Mapping, "dict")):
        if isinstance(value, kind):
            return name
    return "list" if isinstance(value, list | tuple) else type(value).__name__


def is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _json_default(value: Any) -> Any:
    return dict(value) if isinstance(value, Mapping) else str(value)


def text_of(value: Any) -> str:
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


def equal(a: Any, b: Any) -> bool:
    """JSON equality: like ``==`` but a bool never equals a number."""
    if a is b:
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return isinstance(a, bool) and isinstance(b, bool) and a == b
    if isinstance(a, list | tuple):
        return (
            isinstance(b, list | tuple)
            and len(a) == len(b)
            and all(equal(x, y) for x, y in zip(a, b, strict=True))
        )
    if isinstance(a, Mapping):
        return (
            isinstance(b, Mapping)
            and len(a) == len(b)
            and all(k in b and equal(v, b[k]) for k, v in a.items())
        )
    if isinstance(b, list | tuple | Mapping):
        return False
    try:
        return bool(a == b)
    except RUNTIME_ERRORS:
        return False


def contains(haystack: Any, needle: Any) -> bool:
    if isinstance(haystack, str):
        return isinstance(needle, str) and needle in haystack
    if isinstance(haystack, list | tuple):
        return any(equal(item, needle) for item in haystack)
    if isinstance(haystack, Mapping):
        try:
            return needle in haystack
        except TypeError:
            return False
    return False


def arithmetic(message: str, compute: Callable[[Any, Any], Any]) -> Callable[[Any, Any], Any]:
    def run(a: Any, b: Any) -> Any:
        if not (is_number(a) and is_number(b)):
            raise ExpressionError(message.format(a=type_name(a), b=type_name(b)))
        try:
            return compute(a, b)
        except ZeroDivisionError:
            raise ExpressionError("division by zero") from None
        except OverflowError:
            raise ExpressionError("number too large") from None

    return run


add_numbers = arithmetic("cannot add {b} to {a}", operator.add)


def _need(name: str, what: str, value: Any) -> ExpressionError:
    return ExpressionError(f"{name}() needs {what}, got {type_name(value)}")


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
    return separator.join(text_of(item) for item in items)


def _extreme(name: str, pick: Callable[[list[Any]], Any]) -> Callable[..., Any]:
    def run(*args: Any) -> Any:
        values = args[0] if len(args) == 1 and isinstance(args[0], list | tuple) else args
        present = [v for v in values if v is not None]
        if not present:
            return None
        if all(map(is_number, present)) or all(isinstance(v, str) for v in present):
            return pick(present)
        kinds = ", ".join(sorted({type_name(v) for v in present}))
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
        if not is_number(item):
            raise _need("sum", "a list of numbers, one item is", item)
        total = add_numbers(total, item)
    return total


def _fn_abs(value: Any) -> Any:
    if value is None:
        return None
    if not is_number(value):
        raise _need("abs", "a number", value)
    return abs(value)


def _fn_round(value: Any, ndigits: Any = None) -> Any:
    if ndigits is not None and type(ndigits) is not int:
        raise _need("round", "a whole number of digits", ndigits)
    if value is None:
        return None
    if not is_number(value):
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


FUNCTION_TABLE: dict[str, Callable[..., Any]] = {
    "abs": _fn_abs,
    "bool": bool,
    "contains": contains,
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
    "str": text_of,
    "sum": _fn_sum,
    "upper": _case("upper", str.upper),
}
