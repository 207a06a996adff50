"""An impossible event in a run's log: reported, the rest shown, and quarantined on request."""

from __future__ import annotations

import json
import sqlite3

from cli_support import Cli

FLOW = """
name: two
steps:
  a: {uses: model/upper, with: {text: a}}
  b: {uses: model/upper, with: {text: b}, after: [a]}
outputs: {b: "${{ steps.b.output.text }}"}
"""


def test_an_impossible_event_is_shown_skipped_and_can_be_quarantined(cli: Cli) -> None:
    cli.write("two.yaml", FLOW)
    run = cli.json("run", "two.yaml")
    run_id = run["run_id"]
    with sqlite3.connect(cli.root / "home" / "podium.db") as db:  # a buggy writer's lie
        db.execute(
            "insert into podium_events (run_id, ts, type, step, data) values (?, 1, ?, ?, ?)",
            (run_id, "step_succeeded", "ghost", json.dumps({"output": 1})),
        )
        seq = db.execute("select max(seq) from podium_events").fetchone()[0]
    db.close()

    shown = cli("runs", "show", run_id, "--json")
    assert shown.returncode == 0
    warning = shown.stderr.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("warning: ")
    assert f"run {run_id}, event {seq} (step_succeeded)" in warning[0]
    assert "podium runs repair" in warning[0]
    document = json.loads(shown.stdout)
    assert document["outputs"] == {"b": "B"} and {s["step"] for s in document["steps"]} == {
        "a",
        "b",
    }
    assert document["anomalies"][0]["seq"] == seq

    repaired = cli.json("runs", "repair", run_id)
    assert [q["seq"] for q in repaired["quarantined"]] == [seq]
    again = cli("runs", "show", run_id, "--json")
    assert again.returncode == 0 and again.stderr == ""
    assert "anomalies" not in json.loads(again.stdout)
    with sqlite3.connect(cli.root / "home" / "podium.db") as db:
        kept = db.execute("select step, reason from podium_quarantine").fetchall()
    db.close()
    assert kept[0][0] == "ghost" and "cannot go from new" in kept[0][1]
    nothing = cli("runs", "repair", run_id)
    assert nothing.returncode == 0 and "nothing to repair" in nothing.stdout
