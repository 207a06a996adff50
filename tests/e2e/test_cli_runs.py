"""The CLI end to end: run, list, show, approve, cancel."""

from __future__ import annotations

import time

from cli_support import Cli

FLOW = """
name: triage
inputs: {message: string}
steps:
  shout: {uses: capability/text.upper, with: {text: "${{ inputs.message }}"}}
  gate:
    approval: {prompt: "Send it?", approvers: [operator]}
    after: [shout]
  send: {uses: model/recorder, with: {text: "sent ${{ steps.shout.output.text }}"}, after: [gate]}
outputs: {sent: "${{ steps.send.output.text }}"}
"""


def test_run_json_and_runs_commands(cli: Cli) -> None:
    cli.write(
        "flow.yaml",
        "name: f\ninputs: {message: string}\nsteps:\n"
        '  a: {uses: model/upper, with: {text: "${{ inputs.message }}"}}\n'
        'outputs: {x: "${{ steps.a.output.text }}"}\n',
    )
    result = cli.json("run", "flow.yaml", "-i", "message=00123")
    assert result["status"] == "succeeded"
    assert result["outputs"] == {"x": "00123"}
    assert set(result) >= {"run_id", "status", "outputs", "cost", "steps"}
    listed = cli.json("runs", "list")
    assert [r["run_id"] for r in listed] == [result["run_id"]]
    assert set(listed[0]) >= {"run_id", "workflow", "status", "started_at"}
    shown = cli.json("runs", "show", result["run_id"])
    assert shown["steps"][0]["model"] == "upper@1.0.0"
    human = cli("runs", "show", result["run_id"])
    assert human.returncode == 0 and "upper@1.0.0" in human.stdout


def test_approval_pauses_and_resumes_in_another_process(cli: Cli) -> None:
    cli.write("flow.yaml", FLOW)
    first = cli.json("run", "flow.yaml", "-i", "message=hi")
    assert first["status"] == "waiting"
    assert cli.lines() == []
    again = cli.json("runs", "show", first["run_id"])
    assert again["status"] == "waiting"
    bad = cli("approve", first["run_id"], "shout")
    assert bad.returncode == 2 and "not waiting" in bad.stderr
    done = cli.json("approve", first["run_id"], "gate", "--comment", "ok")
    assert done["status"] == "succeeded"
    assert done["outputs"] == {"sent": "sent HI"}
    assert cli.lines() == ["sent HI"]


def test_rejected_approval_skips_dependents(cli: Cli) -> None:
    cli.write("flow.yaml", FLOW)
    first = cli.json("run", "flow.yaml", "-i", "message=hi")
    done = cli.json("approve", first["run_id"], "gate", "--reject")
    assert done["status"] == "succeeded"
    statuses = {s["step"]: s["status"] for s in done["steps"]}
    assert statuses["send"] == "skipped"
    assert cli.lines() == []


def test_cancel_a_running_run(cli: Cli) -> None:
    cli.write(
        "slow.yaml",
        "name: s\nsteps:\n"
        "  a: {uses: model/recorder, with: {text: a, delay: 0.3}}\n"
        "  b: {uses: model/recorder, with: {text: b, delay: 60}, after: [a]}\n",
    )
    proc = cli.popen("run", "slow.yaml", "--json")
    deadline = time.monotonic() + 20
    while cli.lines() != ["a"] and time.monotonic() < deadline:
        time.sleep(0.05)
    run_id = cli.json("runs", "list")[0]["run_id"]
    assert cli("runs", "cancel", run_id).returncode == 0
    _, stderr = proc.communicate(timeout=20)
    assert proc.returncode == 1, stderr
    assert cli.json("runs", "show", run_id)["status"] == "cancelled"
    again = cli("runs", "resume", run_id)
    assert again.returncode == 2 and "cancelled" in again.stderr


def test_resume_refuses_a_run_another_live_process_is_driving(cli: Cli) -> None:
    cli.write(
        "slow.yaml",
        "name: s\nsteps:\n"
        "  a: {uses: model/recorder, with: {text: a, delay: 0.2}}\n"
        "  b: {uses: model/recorder, with: {text: b, delay: 60}, after: [a]}\n",
    )
    proc = cli.popen("run", "slow.yaml", "--json")
    deadline = time.monotonic() + 20
    while cli.lines() != ["a"] and time.monotonic() < deadline:
        time.sleep(0.05)
    run_id = cli.json("runs", "list")[0]["run_id"]
    refused = cli("runs", "resume", run_id)
    assert refused.returncode == 2
    assert "is being run by" in refused.stderr and "--force" in refused.stderr
    assert cli.lines() == ["a"]  # the refused resume ran nothing
    assert cli("runs", "cancel", run_id).returncode == 0
    proc.communicate(timeout=20)
