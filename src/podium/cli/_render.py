"""Rich renderings of models, runs and steps for human output."""

from __future__ import annotations

import datetime as dt
from typing import Any

from rich.table import Table
from rich.text import Text

from podium.engine import RunResult
from podium.registry import ModelSpec
from podium.store import RunRecord

STATUS_STYLE = {
    "succeeded": "green",
    "failed": "red",
    "cancelled": "magenta",
    "waiting": "yellow",
    "running": "cyan",
    "pending": "dim",
    "skipped": "dim",
}


def status_text(status: str) -> Text:
    return Text(status, style=STATUS_STYLE.get(status, ""))


def when(ts: float | None) -> str:
    if ts is None:
        return "-"
    return dt.datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M:%S")


def model_json(spec: ModelSpec) -> dict[str, Any]:
    return spec.model_dump(mode="json", exclude_none=True)


def models_table(specs: list[ModelSpec]) -> Table:
    table = Table(title=f"{len(specs)} model version(s)", title_justify="left")
    for column in ("name", "version", "capabilities", "runtime", "cost/call", "latency", "quality"):
        table.add_column(column)
    for s in specs:
        quality = ", ".join(f"{c}={q:.3f}" for c, q in s.quality.items()) or "-"
        table.add_row(
            s.name,
            s.version,
            ", ".join(s.capabilities),
            s.runtime.kind,
            f"{s.cost.per_call:g}",
            f"{s.latency_ms:g} ms",
            quality,
        )
    return table


def model_detail(spec: ModelSpec) -> Table:
    table = Table(show_header=False, title=spec.key, title_justify="left")
    table.add_column("field", style="bold")
    table.add_column("value")
    rows = [
        ("description", spec.description or "-"),
        ("capabilities", ", ".join(spec.capabilities)),
        ("input", spec.input_schema.describe()),
        ("output", spec.output_schema.describe()),
        ("runtime", spec.runtime.model_dump_json(exclude_none=True)),
        (
            "cost",
            f"{spec.cost.per_call:g} per call"
            + (f", {spec.cost.per_1k_tokens:g} per 1k tokens" if spec.cost.per_1k_tokens else ""),
        ),
        ("latency", f"{spec.latency_ms:g} ms"),
        ("quality", ", ".join(f"{c}={q:.3f}" for c, q in spec.quality.items()) or "-"),
        ("consumes", ", ".join(spec.consumed_types) or "-"),
        ("produces", ", ".join(spec.produced_types) or "-"),
        ("tags", ", ".join(spec.tags) or "-"),
        ("instances", str(len(spec.instance_list()))),
        ("status", spec.status),
        ("source", spec.source or "-"),
    ]
    for name, value in rows:
        table.add_row(name, value)
    return table


def runs_table(records: list[RunRecord]) -> Table:
    table = Table(title=f"{len(records)} run(s)", title_justify="left")
    for column in ("run id", "workflow", "status", "started", "duration", "cost"):
        table.add_column(column)
    for r in records:
        duration = f"{r.finished_at - r.started_at:.2f} s" if r.finished_at else "-"
        table.add_row(
            r.run_id,
            r.workflow,
            status_text(r.status),
            when(r.started_at),
            duration,
            f"{r.cost:.6g}",
        )
    return table


def steps_table(result: RunResult, *, why: bool = False) -> Table:
    """A run's steps; with ``why``, a column with each routing decision's explanation
    (the policy, the chosen model and its score, the runner-up's score, what was skipped)."""
    title = f"run {result.run_id} ({result.workflow}): "
    table = Table(title=Text(title) + status_text(str(result.status)), title_justify="left")
    for column in ("step", "status", "model", "attempts", "time", "cost", "note"):
        table.add_column(column)
    if why:
        table.add_column("why (routing)", overflow="fold")
    lineage = {entry["step"]: entry for entry in result.lineage}
    for s in result.steps:
        note = s["error"] or ""
        if s["cached"]:
            note = "cache hit"
        entry = lineage.get(s["step"], {})
        if entry.get("fallback_from"):
            note = f"fallback from {entry['fallback_from']}"
        duration = f"{s['duration_ms']:.1f} ms" if s["duration_ms"] is not None else "-"
        row = [
            s["step"],
            status_text(s["status"]),
            s["model"] or "-",
            str(s["attempts"]),
            duration,
            f"{s['cost']:.6g}",
            note,
        ]
        if why:
            row.append(entry.get("why") or "-")
        table.add_row(*row)
    return table
