"""The two ways to a plan besides the typed search: a stored template, and the LLM."""

from __future__ import annotations

from typing import TYPE_CHECKING

from podium.errors import UserError
from podium.planner._build import slug
from podium.planner._llm import LLMConfig, LLMError, ask, extract_json, messages
from podium.planner._plan import Plan
from podium.planner._repair import Rejected, repair
from podium.planner._request import Request
from podium.planner._templates import Template, input_mapping, rename_inputs

if TYPE_CHECKING:
    from podium.planner._planner import Planner

LLM_CATALOG_LIMIT = 60


def from_template(planner: Planner, request: Request) -> Plan | None:
    """A plan from the best stored template for the goal, if one qualifies."""
    matcher = request.matcher or planner.matcher("lexical")
    threshold = request.options.template_threshold or matcher.template_threshold
    graph = request.graph

    def accept(template: Template) -> bool:
        if request.wanted and not set(request.wanted) <= set(template.wanted):
            return False
        if input_mapping(template.given, request.given) is None:
            return False
        steps = template.document.get("steps") or {}
        return all(
            graph.operator_for(str(b.get("uses") or b.get("workflow"))) for b in steps.values()
        )

    found = planner.templates.best(
        request.goal,
        matcher.similarity,
        threshold=threshold,
        min_success=request.options.min_success,
        accept=accept,
    )
    if found is None:
        return None
    template, similarity = found
    mapping = input_mapping(template.given, request.given) or {}
    document = rename_inputs(template.document, mapping)
    document["name"] = f"plan-{slug(request.goal)}"
    document["description"] = request.goal
    operators = {
        sid: graph.operator_for(str(body.get("uses") or body.get("workflow")))
        for sid, body in document["steps"].items()
    }
    wanted = request.wanted
    request.wanted = tuple(template.wanted)
    request.notes.append(
        f"reused template {template.key} instead of planning from scratch: similarity "
        f"{similarity:.2f} to {template.goals[-1]!r}, {template.successes} of "
        f"{template.runs} runs succeeded"
    )
    try:
        return planner.finish(request, document, operators, "template", template=template.key)
    except UserError as exc:
        request.notes[-1] = f"template {template.key} no longer validates ({exc.message})"
        request.wanted = wanted
        return None


async def from_llm(planner: Planner, request: Request, config: LLMConfig) -> Plan | None:
    """The LLM's plan, validated and repaired, or ``None`` (with a note saying why)."""
    graph = request.graph
    operators = graph.operators
    if len(operators) > LLM_CATALOG_LIMIT:
        ranked = {m.ref for m in request.matches}
        operators = sorted(operators, key=lambda op: op.ref not in ranked)
        operators = operators[:LLM_CATALOG_LIMIT]
    chat = messages(request.goal, request.inputs, request.wanted, operators)
    try:
        reply = await ask(config, chat)
        document, ops, repairs = repair(
            extract_json(reply),
            graph,
            given=request.inputs,
            wanted=request.wanted,
            workflows={e.name: e.path for e in planner.workflows()},
            name=f"plan-{slug(request.goal)}",
            description=request.goal,
        )
        request.notes.append(f"planned by the LLM at {config.base_url} ({config.model})")
        request.notes.extend(f"repaired: {r}" for r in repairs)
        return planner.finish(request, document, ops, "llm")
    except LLMError as exc:
        request.notes.append(f"LLM plan not used ({exc}); planned with the typed search")
    except Rejected as exc:
        request.notes.append(
            "LLM plan rejected (" + "; ".join(exc.reasons) + "); planned with the typed search"
        )
    except UserError as exc:
        llm_notes = ("planned", "repaired")
        request.notes[:] = [n for n in request.notes if not n.startswith(llm_notes)]
        request.notes.append(f"LLM plan rejected ({exc.one_line()}); planned with the typed search")
    return None
