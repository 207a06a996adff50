"""The shipped models and scenario workflows behind ``podium demo``."""

from __future__ import annotations

import json
import time
from typing import Any

from rich.console import Console
from rich.table import Table


def run_demo(orch: Any, console: Console, *, as_json: bool = False) -> dict[str, Any]:
    """Register the demo models, run each scenario over its held-out cases, print a table."""
    from podium.demo._triage import run_triage_sync, triage_models
    from podium.demo.support import messages

    started = time.perf_counter()
    for spec in triage_models():
        orch.registry.register(spec)
    cases = messages("test")
    with (
        console.status("running support triage over held-out messages...", spinner="dots")
        if not as_json
        else _nothing()
    ):
        triage = run_triage_sync(orch, cases)
    report: dict[str, Any] = {
        "scenarios": [triage],
        "seconds": round(time.perf_counter() - started, 2),
    }
    if as_json:
        console.file.write(json.dumps(report, indent=2) + "\n")
        return report
    table = Table(title="podium demo: scenarios on their held-out cases", title_justify="left")
    for column in (
        "scenario",
        "cases",
        "failed",
        "intent accuracy",
        "tone agreement",
        "median latency",
        "cost / case",
    ):
        table.add_column(column)
    scenarios: list[dict[str, Any]] = report["scenarios"]
    for row in scenarios:
        table.add_row(
            row["scenario"],
            str(row["cases"]),
            str(row["failed"]),
            f"{row['intent_accuracy']:.3f}",
            f"{row['tone_agreement']:.3f}",
            f"{row['median_latency_ms']:.1f} ms",
            f"{row['cost_per_case']:.6f}",
        )
    console.print(table)
    console.print(f"done in {report['seconds']} s; runs are in `podium runs list`")
    return report


class _nothing:
    def __enter__(self) -> None:
        return None

    def __exit__(self, *_: object) -> None:
        return None


__all__ = ["run_demo"]
