"""The shipped models and scenario workflows behind ``podium demo``.

:func:`run_demo` registers the demo models (training them on first use), then for each
scenario runs every specialist alone and the orchestrated workflow on the scenario's
held-out cases, and reports what it measured.
"""

from __future__ import annotations

import asyncio
import functools
import json
import time
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from podium.registry import ModelSpec


def run_demo(
    orch: Any,
    console: Console,
    *,
    as_json: bool = False,
    models: Sequence[ModelSpec] | None = None,
    scenarios: Sequence[str] | None = None,
    limit: int | None = None,
) -> dict[str, Any]:
    """Run the demo scenarios and print (or return) the table of measured results.

    ``models`` replaces the shipped catalogue (a test swaps one model to see the table
    change); ``scenarios`` picks some of ``diagnostics``, ``support``, ``risk``; ``limit``
    caps the cases per scenario.
    """
    from podium.demo._scenarios import SCENARIOS
    from podium.demo.catalog import demo_models

    started = time.perf_counter()
    with (
        console.status("preparing the demo models (trained once, then cached)...", spinner="dots")
        if not as_json
        else _Quiet()
    ):
        for spec in models if models is not None else demo_models(orch.settings.home):
            orch.registry.register(spec)
    chosen = [s for s in SCENARIOS if scenarios is None or s.key in scenarios]
    progress = Progress(
        TextColumn("{task.description:<44}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
        disable=as_json,
        transient=False,
    )
    with progress:
        results = asyncio.run(_run_all(orch, chosen, progress, limit))
    report: dict[str, Any] = {
        "scenarios": results,
        "seconds": round(time.perf_counter() - started, 2),
    }
    if as_json:
        console.file.write(json.dumps(report, indent=2) + "\n")
    else:
        console.print(results_table(results))
        for result in results:
            console.print(f"[bold]{result['key']}[/bold]: the workflow {result['verdict']}")
        console.print(
            f"measured just now on {sum(r['cases'] for r in results)} held-out cases in "
            f"{report['seconds']} s; every workflow run is in `podium runs list`"
        )
    return report


async def _run_all(
    orch: Any, scenarios: Sequence[Any], progress: Progress, limit: int | None
) -> list[dict[str, Any]]:
    from podium.demo._scenarios import evaluate_specialist, evaluate_workflow, verdict
    from podium.demo.catalog import held_out

    results = []
    try:
        for scenario in scenarios:
            cap = min(x for x in (scenario.limit, limit, 10**9) if x is not None)
            cases = held_out(orch.settings.home, scenario.key)[:cap]
            rows = []
            for name in scenario.specialists:
                task = progress.add_task(f"{scenario.key}: {name}", total=len(cases))
                rows.append(
                    await evaluate_specialist(
                        orch, name, scenario, cases, functools.partial(progress.advance, task)
                    )
                )
            task = progress.add_task(
                f"{scenario.key}: workflow {scenario.workflow}", total=len(cases)
            )
            rows.append(
                await evaluate_workflow(
                    orch, scenario, cases, functools.partial(progress.advance, task)
                )
            )
            results.append(
                {
                    "key": scenario.key,
                    "title": scenario.title,
                    "cases": len(cases),
                    "rows": rows,
                    "verdict": verdict(rows),
                }
            )
    finally:
        await orch.adapters.env.close_http()
    return results


def results_table(results: list[dict[str, Any]]) -> Table:
    """One row per specialist and per orchestrated workflow, grouped by scenario."""
    table = Table(title="podium demo: measured on held-out data", title_justify="left")
    table.add_column("scenario")
    table.add_column("model, or → workflow")
    for column in ("accuracy", "macro-F1", "latency", "cost/case"):
        table.add_column(column, justify="right")
    for result in results:
        best = max(r["f1_macro"] for r in result["rows"])
        for i, row in enumerate(result["rows"]):
            name = row["name"] if row["kind"] == "specialist" else f"→ {row['name']}"
            table.add_row(
                result["key"] if i == 0 else "",
                name,
                f"{row['accuracy']:.4f}",
                f"{row['f1_macro']:.4f}",
                f"{row['median_latency_ms']:.1f} ms",
                f"{row['cost_per_case']:.6f}",
                style="bold green" if row["f1_macro"] == best else None,
                end_section=i == len(result["rows"]) - 1,
            )
    return table


class _Quiet:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


__all__ = ["results_table", "run_demo"]
