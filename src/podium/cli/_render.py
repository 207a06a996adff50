"""Rich renderings of models, runs and steps for human output."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Any

from rich.console import Console, ConsoleOptions, RenderResult
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
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


class ModelsTable:
    """The table of model versions, laid out for the width it is printed at.

    A model's name is never cut: the name column is as wide as the longest name and does
    not wrap, while the other columns wrap (folding long words) to make room. Only when a
    name is too long to leave the other columns any room does the name itself fold onto
    more lines, whole, rather than be cut.
    """

    #: columns the borders, padding and other six columns need at the least (3 each)
    RESERVE = 7 * 3 + 1 + 6 * 3

    def __init__(self, specs: list[ModelSpec]) -> None:
        self.specs = specs

    def __rich_console__(self, console: Console, options: ConsoleOptions) -> RenderResult:
        yield self.table(options.max_width)

    def table(self, width: int | None = None) -> Table:
        """The table for a console ``width`` columns wide (``None``: as wide as it needs)."""
        longest = max((len(s.name) for s in self.specs), default=4)
        fits = width is None or longest + self.RESERVE <= width
        table = Table(title=f"{len(self.specs)} model version(s)", title_justify="left")
        table.add_column("name", no_wrap=fits, min_width=longest if fits else None, overflow="fold")
        for column in ("version", "capabilities", "runtime", "cost/call", "latency", "quality"):
            table.add_column(column, overflow="fold")
        for s in self.specs:
            table.add_row(
                s.name,
                s.version,
                ", ".join(s.capabilities),
                s.runtime.kind,
                f"{s.cost.per_call:g}",
                f"{s.latency_ms:g} ms",
                _quality(s),
            )
        return table


def _quality(spec: ModelSpec) -> str:
    """Prior quality per capability; just the number when the model has one capability."""
    if list(spec.quality) == spec.capabilities and len(spec.capabilities) == 1:
        return f"{next(iter(spec.quality.values())):.3f}"
    return ", ".join(f"{c}={q:.3f}" for c, q in spec.quality.items()) or "-"


def models_table(specs: list[ModelSpec]) -> ModelsTable:
    """Model versions as a table whose name column is never cut (see :class:`ModelsTable`)."""
    return ModelsTable(specs)


def model_detail(spec: ModelSpec, use: dict[str, Any] | None = None) -> Table:
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
    if spec.resources is not None:
        rows.append(("resources", spec.resources.model_dump_json(exclude_none=True)))
    if use is not None:
        limit = use.get("limit")
        workers = len(use.get("by_worker") or {})
        shown = f"{use['in_flight']} / {limit} per process" if limit else f"{use['in_flight']}"
        rows.append(
            ("in flight", f"{shown} ({use['waiting']} waiting; {workers} live worker(s) reporting)")
        )
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
