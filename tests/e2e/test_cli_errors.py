"""Bad input as a new user would give it: one line on stderr, exit code 2, nothing written."""

from __future__ import annotations

import pytest
from cli_support import Cli

GOOD = """
name: g
inputs: {message: string}
steps:
  a: {uses: model/upper, with: {text: "${{ inputs.message }}"}}
outputs: {x: "${{ steps.a.output.text }}"}
"""


def _one_line_error(done, *needles: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    for needle in needles:
        assert needle in lines[0], lines[0]


@pytest.mark.parametrize(
    ("text", "needles"),
    [
        (
            "name: x\nsteps:\n  a: {uses: model/upper, with: {text: [}\n",
            ["bad.yaml:3", "malformed YAML"],
        ),
        (
            "name: x\nsteps:\n  a: {uses: model/nope, with: {text: hi}}\n",
            ["bad.yaml:3", "steps.a.uses", "no model named 'nope'"],
        ),
        (
            "name: x\nsteps:\n"
            '  a: {uses: model/upper, with: {text: "${{ steps.b.output.text }}"}}\n'
            '  b: {uses: model/upper, with: {text: "${{ steps.a.output.text }}"}}\n',
            ["bad.yaml:3", "cycle", "a -> b -> a"],
        ),
        (
            'name: x\nsteps:\n  a: {uses: model/upper, with: {text: "${{ inputs. }}"}}\n',
            ["bad.yaml:3", "steps.a.with", "bad expression"],
        ),
        (
            "name: x\nsteps:\n  a: {uses: model/upper, wiht: {text: hi}}\n",
            ["bad.yaml:3", "steps.a.wiht", "unknown field"],
        ),
        (
            "name: x\nsteps:\n  a: {uses: model/upper, with: {text: 5}}\n",
            ["bad.yaml:3", "steps.a.with.text", "string", "integer"],
        ),
        (
            "name: x\nsteps:\n  a: {uses: model/upper, with: {}}\n",
            ["bad.yaml:3", "needs input 'text'"],
        ),
    ],
    ids=[
        "malformed-yaml",
        "unknown-model",
        "cycle",
        "bad-expression",
        "typo-field",
        "type-mismatch",
        "missing-input",
    ],
)
def test_bad_workflow_is_one_line_and_exit_2(cli: Cli, text: str, needles: list[str]) -> None:
    cli.write("bad.yaml", text)
    done = cli("run", "bad.yaml")
    _one_line_error(done, *needles)
    assert cli.json("runs", "list") == []


def test_missing_workflow_file(cli: Cli) -> None:
    _one_line_error(cli("run", "missing.yaml"), "missing.yaml", "no such file")


def test_wrong_input_type(cli: Cli) -> None:
    cli.write("g.yaml", GOOD.replace("message: string", "message: string, times: integer"))
    _one_line_error(
        cli("run", "g.yaml", "-i", "message=hi", "-i", "times=many"),
        "g.yaml",
        "'times' must be integer, got string",
    )
    assert cli.json("runs", "list") == []


def test_missing_required_input(cli: Cli) -> None:
    cli.write("g.yaml", GOOD)
    _one_line_error(cli("run", "g.yaml"), "'message' is required")


def test_bad_manifest(cli: Cli) -> None:
    cli.write("m.yaml", "name: Bad_Name\nversion: 1.0.0\ncapabilities: [x.y]\n")
    _one_line_error(cli("models", "register", "m.yaml"), "m.yaml:1", "name")


def test_unknown_run_and_model(cli: Cli) -> None:
    _one_line_error(cli("runs", "show", "nope"), "no run with id 'nope'")
    _one_line_error(cli("models", "show", "upperr"), "did you mean 'upper'")


def test_usage_error_exit_2(cli: Cli) -> None:
    assert cli("run").returncode == 2
    assert cli("frobnicate").returncode == 2


def test_user_text_in_errors_is_printed_as_written(cli: Cli) -> None:
    _one_line_error(cli("run", "a:b:c [bold]x[/bold].yaml"), "a:b:c [bold]x[/bold].yaml")
