"""A policy: declarative rules checked before every model call, in a stated order.

1. **Data classes.** The classes of the data a step sends (declared on workflow inputs with
   ``class:``, carried to every step that reads them, directly or through earlier steps'
   outputs; or found by a :class:`DataGuard`) must each be allowed by the model's tags.
2. **Rules**, in the order the file lists them: ``forbid`` (a model, or models with a tag,
   may not be used), ``require`` (only such models may be used) and ``approve`` (the call
   waits for someone's approval when an expression over the step's inputs or an earlier
   output holds). Each applies to the calls its ``for:`` selects (tenants, capabilities,
   workflows).
3. **Budgets** (see :mod:`podium.governance._budget`): cost and call ceilings per run, per
   workflow and per tenant, reserved atomically in the database before the call.

The first rule that refuses stops the call with :class:`~podium.errors.RefusedError`
naming it. In dry-run mode (the whole policy, or one rule) a refusal is recorded in the
audit log as ``policy.dry_run`` and the call goes on.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Protocol

from podium._types import JSONObject
from podium.registry import ModelRef, ModelSpec

if TYPE_CHECKING:
    from podium.engine._expr import Template
    from podium.governance._budget import BudgetRule

#: A data class every model may receive unless the policy says otherwise.
PUBLIC = "public"
#: In ``data_classes``: every model may receive the class.
ANY_MODEL = "any"


class DataGuard(Protocol):
    """Finds classes of data (``pii``, ...) in what a call is about to send a model.

    The policy's data-class rule asks every guard it was given; a class a guard finds is
    treated like one declared on the workflow's inputs. (The PII guard is one.)
    """

    def classes(self, inputs: JSONObject) -> Collection[str]: ...


def _no_steps() -> Mapping[str, Any]:
    return {}


class PiiClasses:
    """A :class:`DataGuard` over the PII detector: inputs holding an e-mail address, a phone,
    card or national number or an IBAN are ``pii`` (``detect: [pii]`` in a policy file)."""

    def __init__(self) -> None:
        self._detector: Any = None

    def classes(self, inputs: JSONObject) -> Collection[str]:
        if self._detector is None:
            from podium.governance.pii import PiiDetector  # phonenumbers, stdnum: on first use

            self._detector = PiiDetector()
        return ("pii",) if self._detector.contains(inputs) else ()


#: ``detect:`` names -> the guard each adds.
DETECTORS: dict[str, Callable[[], DataGuard]] = {"pii": PiiClasses}


@dataclass(frozen=True, slots=True)
class CallFacts:
    """What rules look at: the call's model, step, run and the classes of its data;
    ``earlier()`` gives the outputs of the run's finished steps (read when a rule needs
    them), as ``{step: {"output": ...}}``."""

    model: ModelSpec
    inputs: JSONObject
    capability: str | None
    tenant: str | None
    workflow: str | None
    run_id: str | None
    step: str | None
    classes: frozenset[str] = frozenset()
    earlier: Callable[[], Mapping[str, Any]] = _no_steps


@dataclass(frozen=True, slots=True)
class Selector:
    """``for:``: the calls a rule applies to (each list, when given, must contain the call's
    value; a call without a tenant or capability never matches a list of them)."""

    tenants: frozenset[str] | None = None
    capabilities: frozenset[str] | None = None
    workflows: frozenset[str] | None = None

    def admits(self, facts: CallFacts) -> bool:
        return (
            (self.tenants is None or facts.tenant in self.tenants)
            and (self.capabilities is None or facts.capability in self.capabilities)
            and (self.workflows is None or facts.workflow in self.workflows)
        )


@dataclass(frozen=True, slots=True)
class ModelMatch:
    """Models named (``name`` or ``name@range``) or carrying any of ``tags``."""

    refs: tuple[ModelRef, ...] = ()
    tags: frozenset[str] = frozenset()

    def matches(self, spec: ModelSpec) -> bool:
        for ref in self.refs:
            if ref.name == spec.name and (ref.spec is None or spec.semver in ref.spec):
                return True
        return bool(self.tags.intersection(spec.tags))

    def describe(self) -> str:
        parts = [str(r).removeprefix("model/") for r in self.refs]
        parts += [f"tag {t}" for t in sorted(self.tags)]
        return ", ".join(parts)


@dataclass(frozen=True, slots=True)
class Refusal:
    """A rule's verdict against a call."""

    rule: str
    reason: str
    dry_run: bool = False


@dataclass(frozen=True, slots=True)
class ApprovalNeeded:
    """A rule's verdict: the call waits for an approval."""

    rule: str
    reason: str
    prompt: str
    approvers: tuple[str, ...] = ()
    timeout_s: float | None = None
    dry_run: bool = False


Verdict = Refusal | ApprovalNeeded | None


class Rule(Protocol):
    """One entry of ``rules:``: checks a call, given the facts, and may refuse it."""

    name: str
    selector: Selector
    dry_run: bool

    def check(self, facts: CallFacts) -> Verdict: ...


@dataclass(frozen=True, slots=True)
class ForbidRule:
    """``forbid:`` these models (by name or tag) for the selected calls."""

    KEY: ClassVar[str] = "forbid"
    name: str
    match: ModelMatch
    selector: Selector = Selector()
    dry_run: bool = False

    def check(self, facts: CallFacts) -> Verdict:
        if not self.match.matches(facts.model):
            return None
        return Refusal(self.name, f"{facts.model.key} is forbidden here", self.dry_run)


@dataclass(frozen=True, slots=True)
class RequireRule:
    """``require:`` one of these models (by name or tag) for the selected calls."""

    KEY: ClassVar[str] = "require"
    name: str
    match: ModelMatch
    selector: Selector = Selector()
    dry_run: bool = False

    def check(self, facts: CallFacts) -> Verdict:
        if self.match.matches(facts.model):
            return None
        reason = f"{facts.model.key} is not one of the required models ({self.match.describe()})"
        return Refusal(self.name, reason, self.dry_run)


@dataclass(frozen=True, slots=True)
class ApproveRule:
    """``approve:`` the call waits for an approval when ``when`` holds over the step's
    ``inputs`` and ``steps.<id>.output`` of the steps before it."""

    KEY: ClassVar[str] = "approve"
    name: str
    when: Template
    prompt: str
    approvers: tuple[str, ...] = ()
    timeout_s: float | None = None
    selector: Selector = Selector()
    dry_run: bool = False

    def check(self, facts: CallFacts) -> Verdict:
        steps = facts.earlier() if self.when.references else {}
        scope = {"inputs": facts.inputs, "steps": steps, "item": None, "loop": None}
        if not self.when.evaluate(scope):
            return None
        reason = f"{self.when.source} holds"
        return ApprovalNeeded(
            self.name, reason, self.prompt, self.approvers, self.timeout_s, self.dry_run
        )


@dataclass(frozen=True, slots=True)
class DataClassRule:
    """``data_classes:``: each class of the step's data, the model tags that may receive it
    (``any`` for every model). A class the policy does not name may go to no model, except
    ``public``."""

    allowed: Mapping[str, frozenset[str] | None]
    name: str = "data-classes"
    dry_run: bool = False

    def check(self, facts: CallFacts) -> Verdict:
        for data_class in sorted(facts.classes):
            if data_class not in self.allowed:
                if data_class == PUBLIC:
                    continue
                reason = f"the policy names no models that may receive {data_class} data"
                return Refusal(f"{self.name}:{data_class}", reason, self.dry_run)
            tags = self.allowed[data_class]
            if tags is None or tags.intersection(facts.model.tags):
                continue
            reason = (
                f"{facts.model.key} may not receive {data_class} data "
                f"(it needs a tag among: {', '.join(sorted(tags)) or 'none'})"
            )
            return Refusal(f"{self.name}:{data_class}", reason, self.dry_run)
        return None


#: The rule kinds of ``rules:``, by the key that introduces each.
RULE_KINDS: dict[str, type[ForbidRule] | type[RequireRule] | type[ApproveRule]] = {
    kind.KEY: kind for kind in (ForbidRule, RequireRule, ApproveRule)
}


@dataclass(frozen=True)
class Policy:
    """A loaded policy file (see :func:`~podium.governance.load_policy`)."""

    source: str
    digest: str
    data_classes: DataClassRule | None = None
    rules: tuple[ForbidRule | RequireRule | ApproveRule, ...] = ()
    budgets: tuple[BudgetRule, ...] = ()
    dry_run: bool = False
    guards: tuple[DataGuard, ...] = field(default=(), compare=False)

    def with_guards(self, *guards: DataGuard) -> Policy:
        """This policy with data guards that find classes in each call's inputs."""
        from dataclasses import replace

        return replace(self, guards=(*self.guards, *guards))

    def summary(self) -> JSONObject:
        """What the policy holds, for the audit log and ``podium policy check``."""
        return {
            "source": self.source,
            "sha256": self.digest,
            "dry_run": self.dry_run,
            "data_classes": sorted(self.data_classes.allowed) if self.data_classes else [],
            "rules": [{"name": r.name, "kind": type(r).KEY} for r in self.rules],
            "budgets": [b.name for b in self.budgets],
        }
