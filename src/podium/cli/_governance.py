"""``podium audit``, ``podium policy`` and ``podium usage``; the lineage tree of a run."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table
from rich.text import Text
from rich.tree import Tree

from podium.cli._app import JsonOpt, app, emit_json, err, handles_errors, orchestrator, out
from podium.errors import UserError

if TYPE_CHECKING:
    from podium.store import Store

audit_app = typer.Typer(help="Verify, export and anchor the audit log.", no_args_is_help=True)
policy_app = typer.Typer(help="Check policy files.", no_args_is_help=True)
app.add_typer(audit_app, name="audit")
app.add_typer(policy_app, name="policy")


def _store() -> Store:
    """The store of this home (nothing else: no models are discovered or registered)."""
    from podium._config import Settings
    from podium.store import open_store

    settings = Settings.from_env()
    return open_store(settings.database_url, synchronous=settings.sqlite_synchronous)


@audit_app.command("verify")
@handles_errors
def audit_verify(
    anchor: Annotated[
        str | None, typer.Option(help="A head printed earlier by 'podium audit anchor'.")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Check every record's hash and link; name the first altered, removed, inserted or
    reordered record (exit 1)."""
    from podium.governance._audit import verify

    store = _store()
    try:
        verdict = verify(store, anchor)
    finally:
        store.close()
    if as_json:
        emit_json(
            {"ok": verdict.ok, "checked": verdict.checked, "fault": verdict.fault}
            | {"seq": verdict.seq, "head": f"{verdict.head_seq}:{verdict.head}"}
        )
    elif verdict.ok:
        out.print(f"audit log intact: {verdict.checked} records checked")
    else:
        err.print(Text("tampered: ", style="red") + Text(str(verdict.fault)), highlight=False)
    if not verdict.ok:
        raise typer.Exit(1)


@audit_app.command("export")
@handles_errors
def audit_export(
    since: Annotated[str | None, typer.Option(help="7d, 12h, epoch seconds or ISO.")] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's records.")] = None,
) -> None:
    """Write the records as JSON Lines on stdout."""
    from podium.governance._audit import export, parse_since

    moment = parse_since(since) if since else None
    store = _store()
    try:
        export(store, sys.stdout.write, since=moment, tenant=tenant)
    finally:
        store.close()


@audit_app.command("anchor")
@handles_errors
def audit_anchor() -> None:
    """Print the log's head (SEQ:HASH) to keep elsewhere."""
    from podium.governance._audit import anchor

    store = _store()
    try:
        out.print(anchor(store), highlight=False, soft_wrap=True)
    finally:
        store.close()


@policy_app.command("check")
@handles_errors
def policy_check(
    path: Annotated[Path, typer.Argument(help="The policy YAML file.")],
    as_json: JsonOpt = False,
) -> None:
    """Validate a policy file: each mistake names file, line and field (exit 2)."""
    from podium.governance import load_policy

    policy = load_policy(path)
    summary = policy.summary()
    if as_json:
        emit_json(summary)
        return
    rules = ", ".join(f"{r['name']} ({r['kind']})" for r in summary["rules"]) or "none"
    out.print(f"{path}: valid{' (dry run)' if policy.dry_run else ''}", highlight=False)
    out.print(f"  data classes: {', '.join(summary['data_classes']) or 'none'}", highlight=False)
    out.print(f"  rules: {rules}", highlight=False)
    out.print(f"  budgets: {', '.join(summary['budgets']) or 'none'}", highlight=False)


@app.command("usage")
@handles_errors
def usage(
    by: Annotated[str, typer.Option(help="tenant, key, model or workflow.")] = "tenant",
    since: Annotated[str | None, typer.Option(help="7d, 12h, epoch seconds or ISO.")] = None,
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's calls.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Model calls and their cost, grouped, from the audit log."""
    from podium.governance._audit import parse_since
    from podium.store import USAGE_GROUPS, UsageQuery

    if by not in USAGE_GROUPS:
        raise UserError(f"must be one of {', '.join(USAGE_GROUPS)}", field="--by")
    moment = parse_since(since) if since else None
    store = _store()
    try:
        rows = store.usage(UsageQuery(by, moment, tenant))
    finally:
        store.close()
    if as_json:
        emit_json(
            {"by": by, "since": moment, "tenant": tenant, "items": [r.to_json() for r in rows]}
        )
        return
    table = Table(title=f"usage by {by}")
    for column in (by, "calls", "cached", "failed", "cost"):
        table.add_column(column, justify="left" if column == by else "right")
    for r in rows:
        table.add_row(str(r.key or "-"), str(r.calls), str(r.cached), str(r.failed), f"{r.cost:g}")
    out.print(table)


def lineage_view(run_id: str, as_json: bool) -> None:
    """``podium runs show RUN --lineage``: the run's lineage as a tree (or JSON)."""
    from podium.engine import workflow_from_snapshot
    from podium.governance._lineage import lineage_tree

    with orchestrator() as orch:
        result = orch.get_run(run_id)
        record = orch.store.run(run_id)
        workflow = (
            workflow_from_snapshot(record.definition) if record and record.definition else None
        )
        tree = lineage_tree(result, workflow)
    if as_json:
        emit_json(tree)
        return
    root = Tree(
        f"run {tree['run_id']} ({tree['workflow']}): {tree['status']}, cost {tree['cost']:g}"
    )
    for output in tree["outputs"]:
        branch = root.add(
            f"output [bold]{output['output']}[/bold]" if output["output"] else "steps"
        )
        for step in output["from"]:
            _add_step(branch, step)
    models = root.add("models")
    for m in tree["models"]:
        if str(m["model"]).startswith("ensemble:"):
            share = f"{m['share_of_cost']:.0%}"
            models.add(f"{m['model']}: its members' calls, cost {m['cost']:g} ({share} of the run)")
            continue
        extra = f", ensemble weight {m['ensemble_weight']:g}" if m["ensemble_weight"] else ""
        cached = f", {m['cached']} cached" if m["cached"] else ""
        models.add(
            f"{m['model']}: {m['calls']} call(s){cached}, cost {m['cost']:g} "
            f"({m['share_of_cost']:.0%} of the run){extra}"
        )
    out.print(root)


def _add_step(parent: Tree, step: dict[str, Any], role: str = "step") -> None:
    label = f"{role} [bold]{step['step']}[/bold]"
    if step.get("model"):
        label += f"  {step['model']}"
    notes = [f"cost {step['cost']:g}"] if step.get("model") else []
    if step.get("cached"):
        notes.append("cache hit")
    if step.get("fallback_from"):
        notes.append(f"fallback from {step['fallback_from']}")
    if step.get("status") not in (None, "succeeded"):
        notes.append(str(step["status"]))
    branch = parent.add(label + (f"  ({', '.join(notes)})" if notes else ""))
    for stage in step.get("cascade") or ():
        verdict = "answered" if stage.get("answered") else "escalated"
        confidence = stage.get("confidence")
        shown = f", confidence {confidence:.3g}" if isinstance(confidence, float) else ""
        branch.add(f"cascade stage {stage.get('model')}: {verdict}{shown}")
    for member in step.get("members") or ():
        vote = f", vote {member['vote']}" if "vote" in member else ""
        branch.add(
            f"member {member.get('model')}: weight {member.get('weight')}, "
            f"share {member.get('contribution')}{vote}"
        )
    for child in step.get("within") or ():
        _add_step(branch, child)
    for upstream in step.get("from") or ():
        _add_step(branch, upstream, "reads step")
