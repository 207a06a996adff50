"""Reading a policy file: every mistake is one :class:`PolicyError` naming file, line, field.

::

    dry_run: false                  # true: record what would be refused, refuse nothing
    detect: [pii]                   # also class inputs by what the PII detector finds
    data_classes:                   # class -> the model tags that may receive it, or any
      phi: [phi-ok]
      pii: [pii-safe, phi-ok]
      public: any
    rules:                          # applied in this order (after the data classes)
      - name: no-external-for-bank
        for: {tenants: [bank]}      # also capabilities: [...], workflows: [...]
        forbid: {tags: [external]}  # or models: [name, name@^1.2]
      - name: on-prem-only
        for: {capabilities: [text.summary]}
        require: {tags: [on-prem]}
      - name: risky-needs-review
        approve:
          when: "${{ inputs.amount > 10000 or steps.score.output.risk > 0.8 }}"
          prompt: "Large or risky transfer: go on?"
          approvers: [operator]
          timeout_s: 86400
    budgets:                        # reserved atomically before each call
      - {name: per-run, per: run, max_cost: 0.05}
      - {name: acme-daily, per: tenant, for: {tenants: [acme]}, max_cost: 10, period: day}
"""

from __future__ import annotations

import hashlib
import math
import re
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any, NoReturn, Protocol, TypeVar

from podium._limits import DEFAULT_LIMITS, Limits
from podium._yaml import line_of, load_yaml_file, load_yaml_text
from podium.errors import ExpressionError, ModelNotFoundError, PolicyError
from podium.governance._budget import PERIODS, SCOPES, BudgetRule
from podium.governance._policy import (
    ANY_MODEL,
    DETECTORS,
    RULE_KINDS,
    ApproveRule,
    DataClassRule,
    ForbidRule,
    ModelMatch,
    Policy,
    RequireRule,
    Selector,
)
from podium.registry import ModelRef
from podium.store._budget import NO_CALL_LIMIT

TOP_LEVEL = ("version", "dry_run", "detect", "data_classes", "rules", "budgets")
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$")
_EXPRESSION_ROOTS = frozenset({"inputs", "steps"})
Path_ = list[str | int]


class _Named(Protocol):
    @property
    def name(self) -> str: ...


N = TypeVar("N", bound=_Named)


class _Reader:
    """Walks the loaded document, failing with the line of the field at fault."""

    def __init__(self, doc: Any, source: str) -> None:
        self.doc = doc
        self.source = source

    def fail(self, message: str, path: Path_) -> NoReturn:
        field = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path)
        field = field.replace(".[", "[")
        raise PolicyError(
            message, file=self.source, line=line_of(self.doc, path), field=field or None
        )

    def mapping(self, value: Any, path: Path_, allowed: Sequence[str]) -> Mapping[str, Any]:
        if not isinstance(value, Mapping):
            self.fail("must be a mapping", path)
        for key in value:
            if key not in allowed:
                self.fail(f"unknown field; expected one of {', '.join(allowed)}", [*path, key])
        return value

    def strings(self, value: Any, path: Path_) -> tuple[str, ...]:
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail("must be a list of names", path)
        return tuple(value)

    def flag(self, value: Any, path: Path_) -> bool:
        if not isinstance(value, bool):
            self.fail("must be true or false", path)
        return value

    def number(self, value: Any, path: Path_, *, integer: bool = False) -> float:
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or not math.isfinite(value) or value < 0 or (integer and value != int(value)):
            kind = "a whole number" if integer else "a number"
            self.fail(f"must be {kind}, 0 or more", path)
        return float(value)


def load_policy(source: str | Path, *, limits: Limits = DEFAULT_LIMITS) -> Policy:
    """Read and check a policy file; a mistake raises :class:`PolicyError` (file, line,
    field)."""
    doc = load_yaml_file(source, PolicyError, limits=limits)
    text = Path(source).read_bytes()
    return _policy(doc, str(source), hashlib.sha256(text).hexdigest())


def policy_from_text(text: str, source: str = "<policy>") -> Policy:
    """:func:`load_policy` for YAML text."""
    doc = load_yaml_text(text, source, PolicyError)
    return _policy(doc, source, hashlib.sha256(text.encode()).hexdigest())


def _policy(doc: Any, source: str, digest: str) -> Policy:
    r = _Reader(doc, source)
    if doc is None:
        r.fail("the policy file is empty", [])
    top = r.mapping(doc, [], TOP_LEVEL)
    if "version" in top and top["version"] != 1:
        r.fail("only version 1 is known", ["version"])
    dry_run = r.flag(top.get("dry_run", False), ["dry_run"])
    data_classes = _data_classes(r, top.get("data_classes"))
    rules = _named_list(r, top, "rules", "rule", _rule)
    budgets = _named_list(r, top, "budgets", "budget", _budget)
    detect = r.strings(top["detect"], ["detect"]) if "detect" in top else ()
    for index, name in enumerate(detect):
        if name not in DETECTORS:
            r.fail(f"unknown detector; expected one of {', '.join(DETECTORS)}", ["detect", index])
    if detect and data_classes is None:
        r.fail("a detector finds data classes: name them under data_classes", ["detect"])
    guards = tuple(DETECTORS[name]() for name in detect)
    return Policy(
        source, digest, data_classes, tuple(rules), tuple(budgets), dry_run, guards=guards
    )


def _named_list(
    r: _Reader,
    top: Mapping[str, Any],
    key: str,
    what: str,
    parse: Callable[[_Reader, Any, Path_], N],
) -> list[N]:
    """The list under ``key``, each entry parsed; two entries may not share a name."""
    raw_list = top.get(key) or []
    if not isinstance(raw_list, list):
        r.fail(f"must be a list of {key}", [key])
    parsed: list[N] = []
    names: set[str] = set()
    for index, raw in enumerate(raw_list):
        entry = parse(r, raw, [key, index])
        if entry.name in names:
            r.fail(f"a {what} named '{entry.name}' comes earlier", [key, index, "name"])
        names.add(entry.name)
        parsed.append(entry)
    return parsed


def _data_classes(r: _Reader, raw: Any) -> DataClassRule | None:
    if raw is None:
        return None
    if not isinstance(raw, Mapping):
        r.fail("must map each data class to the model tags that may receive it", ["data_classes"])
    allowed: dict[str, frozenset[str] | None] = {}
    for name, tags in raw.items():
        path: Path_ = ["data_classes", name]
        if not _NAME.match(str(name)):
            r.fail("a data class is a name such as pii, phi or public", path)
        if tags == ANY_MODEL:
            allowed[str(name)] = None
        elif isinstance(tags, list) and not tags:
            allowed[str(name)] = frozenset()  # no model may receive it
        else:
            allowed[str(name)] = frozenset(r.strings(tags, path))
    return DataClassRule(allowed)


def _name(r: _Reader, body: Mapping[str, Any], path: Path_) -> str:
    name = body.get("name")
    if name is None:
        r.fail("every rule needs a name", path)
    if not isinstance(name, str) or not _NAME.match(name):
        r.fail("a name is letters, digits, '-', '_' and '.' (at most 100)", [*path, "name"])
    return name


def _selector(r: _Reader, raw: Any, path: Path_) -> Selector:
    if raw is None:
        return Selector()
    body = r.mapping(raw, path, ("tenants", "capabilities", "workflows"))

    def names(key: str) -> frozenset[str] | None:
        return frozenset(r.strings(body[key], [*path, key])) if key in body else None

    return Selector(names("tenants"), names("capabilities"), names("workflows"))


def _rule(r: _Reader, raw: Any, path: Path_) -> ForbidRule | RequireRule | ApproveRule:
    kinds = tuple(RULE_KINDS)
    body = r.mapping(raw, path, ("name", "for", "dry_run", *kinds))
    name = _name(r, body, path)
    chosen = [k for k in kinds if k in body]
    if len(chosen) != 1:
        r.fail(f"a rule has exactly one of {', '.join(kinds)}", path)
    kind = chosen[0]
    selector = _selector(r, body.get("for"), [*path, "for"])
    dry_run = r.flag(body.get("dry_run", False), [*path, "dry_run"])
    at: Path_ = [*path, kind]
    if kind == ApproveRule.KEY:
        return _approve(r, body[kind], at, name, selector, dry_run)
    spec = r.mapping(body[kind], at, ("models", "tags"))
    refs = tuple(
        _model_ref(r, text, [*at, "models", i])
        for i, text in enumerate(
            r.strings(spec["models"], [*at, "models"]) if "models" in spec else ()
        )
    )
    tags = frozenset(r.strings(spec["tags"], [*at, "tags"])) if "tags" in spec else frozenset()
    if not refs and not tags:
        r.fail("name models or tags", at)
    match = ModelMatch(refs, tags)
    if kind == ForbidRule.KEY:
        return ForbidRule(name, match, selector, dry_run)
    return RequireRule(name, match, selector, dry_run)


def _model_ref(r: _Reader, text: str, path: Path_) -> ModelRef:
    try:
        ref = ModelRef.parse(text if text.startswith("model/") else f"model/{text}")
    except ModelNotFoundError as exc:
        r.fail(exc.message, path)
    return ref


def _approve(
    r: _Reader, raw: Any, path: Path_, name: str, selector: Selector, dry_run: bool
) -> ApproveRule:
    from podium.engine._expr import compile_template

    body = r.mapping(raw, path, ("when", "prompt", "approvers", "timeout_s"))
    when = body.get("when")
    if not isinstance(when, str) or not when.strip():
        r.fail('needs an expression, e.g. "${{ inputs.score > 0.8 }}"', [*path, "when"])
    text = when.strip()
    if not text.startswith("${{"):
        text = "${{ " + text + " }}"
    try:
        template = compile_template(text)
    except ExpressionError as exc:
        r.fail(exc.message, [*path, "when"])
    if len(template.expressions) != 1 or not text.endswith("}}"):
        r.fail("must be one ${{ }} expression", [*path, "when"])
    unknown = sorted(template.roots - _EXPRESSION_ROOTS)
    if unknown:
        r.fail(
            f"'{unknown[0]}' is not known here; an approval rule reads inputs and steps",
            [*path, "when"],
        )
    prompt = body.get("prompt", f"Rule '{name}' asks for approval: go on?")
    if not isinstance(prompt, str):
        r.fail("must be text", [*path, "prompt"])
    approvers = r.strings(body["approvers"], [*path, "approvers"]) if "approvers" in body else ()
    timeout = body.get("timeout_s")
    timeout_s = r.number(timeout, [*path, "timeout_s"]) if timeout is not None else None
    if timeout_s == 0:
        r.fail("must be more than 0 seconds", [*path, "timeout_s"])
    return ApproveRule(name, template, prompt, approvers, timeout_s, selector, dry_run)


def _budget(r: _Reader, raw: Any, path: Path_) -> BudgetRule:
    fields = ("name", "per", "max_cost", "max_calls", "period", "for", "dry_run")
    body = r.mapping(raw, path, fields)
    name = _name(r, body, path)
    per = body.get("per")
    if per not in SCOPES:
        r.fail(f"must be one of {', '.join(SCOPES)}", [*path, "per"])
    if "max_cost" not in body and "max_calls" not in body:
        r.fail("a budget needs max_cost or max_calls", path)
    max_cost = r.number(body["max_cost"], [*path, "max_cost"]) if "max_cost" in body else math.inf
    max_calls = (
        int(r.number(body["max_calls"], [*path, "max_calls"], integer=True))
        if "max_calls" in body
        else NO_CALL_LIMIT
    )
    period = body.get("period", "total" if per == "run" else "day")
    if period not in PERIODS:
        r.fail(f"must be one of {', '.join(PERIODS)}", [*path, "period"])
    selector = _selector(r, body.get("for"), [*path, "for"])
    dry_run = r.flag(body.get("dry_run", False), [*path, "dry_run"])
    return BudgetRule(name, str(per), max_cost, max_calls, str(period), selector, dry_run)
