"""``podium plan``: a goal in words (and/or wanted types) becomes a workflow graph."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Group, RenderableType
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from podium.cli._app import (
    JsonOpt,
    emit_json,
    err,
    execute,
    handles_errors,
    orchestrator,
    out,
    parse_inputs,
)
from podium.errors import UserError

if TYPE_CHECKING:
    from podium.planner import Plan

ORIGIN = {"typed": "typed search", "llm": "LLM plan, validated", "template": "reused template"}


def _money(value: float) -> str:
    return f"{value:.6f}".rstrip("0").rstrip(".") if value else "0"


def plan_view(plan: Plan) -> RenderableType:
    """The plan as a graph of parallel stages, a table of reasons and costs, and notes."""
    why = plan.why
    title = Text(plan.name, style="bold") + Text(f"  ({ORIGIN.get(why.origin, why.origin)}, ")
    title += Text(f"{why.planning_ms:.1f} ms" + ("" if why.optimal else ", not proven cheapest"))
    if why.matching_ms >= 0.05:
        title += Text(f"; matching {why.matching_ms:.1f} ms")
    title += Text(")")
    parts: list[RenderableType] = [title]
    if why.goal:
        parts.append(Text(f"goal: {why.goal}"))
    matched = f" (matched by {why.matcher})" if why.matcher and why.matches else ""
    parts.append(Text(f"wanted: {', '.join(why.wanted)}{matched}"))
    inputs = ", ".join(f"{n}: {why.given[n]} ({plan.inputs[n]})" for n in plan.inputs)
    parts.append(Text(f"inputs: {inputs or '-'}"))
    tree = Tree("graph", guide_style="dim")
    for number, stage in enumerate(why.stages, start=1):
        label = f"stage {number}" + (f" (parallel: {len(stage)} steps)" if len(stage) > 1 else "")
        branch = tree.add(label)
        for info in (s for s in why.steps if s.id in stage):
            line = Text(info.id, style="bold cyan") + Text(f"  {info.uses}  ")
            line += Text(f"{', '.join(info.consumes)} -> {', '.join(info.produces)}")
            if info.after:
                line += Text(f"  after {', '.join(info.after)}", style="dim")
            branch.add(line)
    parts.append(tree)
    table = Table(title_justify="left", show_edge=False)
    for column in ("step", "expected model", "cost", "why"):
        table.add_column(column)
    for info in why.steps:
        table.add_row(info.id, info.model, _money(info.cost), info.why)
    parts.append(table)
    parts.append(
        Text(
            f"expected cost {_money(why.cost)} per run; "
            f"critical path ~{why.latency_ms:.2f} ms (latency priors)"
        )
    )
    if why.unused:
        parts.append(Text(f"not needed: {', '.join(why.unused)}", style="dim"))
    for note in why.notes:
        parts.append(Text(f"note: {note}", style="yellow"))
    return Group(*parts)


@handles_errors
def plan(
    goal: Annotated[str, typer.Argument(help="What you want, in words.")] = "",
    given: Annotated[
        list[str] | None,
        typer.Option("--given", help="NAME:TYPE you have, e.g. message:text (repeatable)."),
    ] = None,
    want: Annotated[
        list[str] | None, typer.Option("--want", help="A semantic TYPE you want (repeatable).")
    ] = None,
    as_json: JsonOpt = False,
    run: Annotated[bool, typer.Option("--run", help="Run the plan after printing it.")] = False,
    inputs: Annotated[
        list[str] | None, typer.Option("-i", "--input", help="key=value for --run (repeatable).")
    ] = None,
    input_file: Annotated[Path | None, typer.Option(help="A JSON object of inputs.")] = None,
    save: Annotated[Path | None, typer.Option(help="Write the plan as workflow YAML.")] = None,
    policy: Annotated[str, typer.Option(help="Route policy of every step.")] = "best",
    max_cost: Annotated[float | None, typer.Option(help="Most a run may cost.")] = None,
    min_quality: Annotated[float | None, typer.Option(help="Least quality per model.")] = None,
    match: Annotated[
        str, typer.Option("--match", help="Goal matching: auto, lexical or embedding.")
    ] = "auto",
    llm: Annotated[
        bool | None,
        typer.Option(
            "--llm/--no-llm", help="Ask the LLM at PODIUM_LLM_BASE_URL (default: if set)."
        ),
    ] = None,
    templates: Annotated[
        bool, typer.Option("--templates/--no-templates", help="Reuse plans of similar goals.")
    ] = True,
) -> None:
    """Plan a goal as a workflow over the registered models (and run it with --run)."""
    if not goal.strip() and not want:
        raise UserError("give a goal in words, or the types you want with --want", field="goal")
    from podium.planner import PlanConstraints, PlanOptions

    options = PlanOptions(
        constraints=PlanConstraints(policy=policy, max_cost=max_cost, min_quality=min_quality),
        matcher=match,
        llm=llm,
        templates=templates,
    )
    with orchestrator() as orch:
        planned = orch.plan(goal, given=given, want=want, options=options)
        if save is not None:
            planned.save(save)
        if not run:
            if as_json:
                emit_json(planned.to_json())
            else:
                out.print(plan_view(planned))
                if save is not None:
                    out.print(f"saved to {save}; run it with: podium run {save}")
            return
        values = parse_inputs(inputs or [], input_file, dict(planned.inputs))
        if as_json:
            result = orch.run_plan(planned, values)
            emit_json({"plan": planned.to_json(), "run": result.to_json()})
            if not result.ok:
                err.print(f"[red]failed:[/red] {result.error}", highlight=False, soft_wrap=True)
                raise typer.Exit(1)
            return
        out.print(plan_view(planned))
        if save is not None:
            out.print(f"saved to {save}")
        execute(orch, f"running {planned.name}", False, lambda: orch.run_plan(planned, values))
