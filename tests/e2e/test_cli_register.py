"""`podium models register` refuses, with one line and exit 2, a model that cannot run."""

from __future__ import annotations

import subprocess

import pytest
from cli_support import Cli

HEAD = "name: broken\nversion: 1.0.0\ncapabilities: [t.x]\n"


def _refused(done: subprocess.CompletedProcess[str], where: str, *words: str) -> None:
    assert done.returncode == 2, (done.stdout, done.stderr)
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr
    assert "Traceback" not in done.stderr
    assert lines[0].startswith(f"error: {where}"), lines[0]
    for word in words:
        assert word in lines[0], lines[0]


@pytest.mark.parametrize(
    ("runtime", "field", "words"),
    [
        ('{kind: python, target: "no_such_module:f"}', "runtime.target", "cannot import"),
        ('{kind: python, target: "side_effects:nope"}', "runtime.target", "no attribute 'nope'"),
        ("{kind: sklearn, path: absent.skops}", "runtime.path", "does not exist"),
        ("{kind: onnx, path: absent.onnx}", "runtime.path", "does not exist"),
        ('{kind: http, url: "127.0.0.1:9/predict"}', "runtime.url", "no scheme"),
        ('{kind: openai, model: m, base_url: "ftp://x/v1"}', "runtime.base_url", "'ftp'"),
    ],
)
def test_a_model_that_cannot_run_is_refused_at_registration(
    cli: Cli, runtime: str, field: str, words: str
) -> None:
    path = cli.write("m.yaml", HEAD + f"runtime: {runtime}\n")
    _refused(cli("models", "register", "m.yaml"), f"{path.name}:4: {field}: ", words)
    assert "broken" not in {m["name"] for m in cli.json("models", "list")}


def test_two_files_defining_one_version_differently_are_refused(cli: Cli) -> None:
    (cli.root / "models").mkdir()
    cli.write("models/a.yaml", HEAD + "runtime: {kind: python, target: side_effects:upper}\n")
    cli.write("models/b.yaml", HEAD + "runtime: {kind: python, target: side_effects:record}\n")
    _refused(
        cli("models", "register", "models"),
        "models/b.yaml:2: version: ",
        "broken@1.0.0 is also defined in models/a.yaml:2",
    )
    assert "broken" not in {m["name"] for m in cli.json("models", "list")}


def test_a_runnable_model_still_registers(cli: Cli) -> None:
    cli.write("m.yaml", HEAD + "runtime: {kind: python, target: side_effects:upper}\n")
    done = cli("models", "register", "m.yaml")
    assert done.returncode == 0, done.stderr
    assert "registered" in done.stdout and "broken@1.0.0" in done.stdout


def test_a_python_target_next_to_its_manifest_needs_no_pythonpath(cli: Cli) -> None:
    folder = cli.root / "mine"
    folder.mkdir()
    (folder / "mymodels.py").write_text(
        "def upper(text: str) -> dict:\n    return {'text': text.upper()}\n"
    )
    (folder / "models.yaml").write_text(
        "name: my-upper\nversion: 1.0.0\ncapabilities: [text.myupper]\n"
        "input: {text: string}\noutput: {text: string}\n"
        'runtime: {kind: python, target: "mymodels:upper"}\n'
    )
    (cli.root / "flow.yaml").write_text(
        "name: shout\ninputs: {message: string}\nsteps:\n"
        "  loud: {uses: model/my-upper, with: {text: '${{ inputs.message }}'}}\n"
        "outputs: {text: '${{ steps.loud.output.text }}'}\n"
    )
    done = cli("models", "register", str(folder / "models.yaml"))
    assert done.returncode == 0, done.stderr
    ran = cli.json("run", "flow.yaml", "-i", "message=hello")  # a new process
    assert ran["status"] == "succeeded" and ran["outputs"] == {"text": "HELLO"}
