"""Hostile input through the real ``podium`` command: refused in one line, exit 2, quickly,
and nothing written to the store."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from cli_support import Cli

SECONDS = 5.0  # the command starts, refuses and exits well within this


def anchors(indent: int, levels: int = 9, width: int = 9) -> str:
    """A "billion laughs": 9 anchors, each listing the previous one 9 times (9**9 strings)."""
    pad = " " * indent
    lines = [pad + "a0: &a0 [" + ",".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(pad + f"a{i}: &a{i} [" + ",".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


def bomb() -> str:
    return "name: bomb\nsteps:\n  a:\n    uses: model/upper\n    with:\n      text: hi\n" + anchors(
        6
    )


def deep(levels: int) -> str:
    return "name: d\nsteps:\n  a:\n    uses: model/upper\n    with: {text: " + (
        "[" * levels + "]" * levels + "}\n"
    )


def loop() -> str:
    return (
        "name: l\nsteps:\n  l:\n    loop:\n      max_iterations: 1000000000\n"
        "      steps:\n        a: {uses: model/upper, with: {text: hi}}\n"
    )


def dunder() -> str:
    return (
        "name: u\ninputs: {message: string}\nsteps:\n"
        '  a: {uses: model/upper, with: {text: "${{ inputs.__class__ }}"}}\n'
    )


def typo() -> str:
    return "name: t\nsteps:\n  a:\n    uses: model/upper\n    with: {txt: hi}\n"


WORKFLOWS: dict[str, tuple[Callable[[], str], list[str]]] = {
    "alias-bomb": (bomb, ["flow.yaml:13:", "YAML value count", "PODIUM_LIMIT_YAML_NODES"]),
    "deep-list": (lambda: deep(5_000), ["flow.yaml:5:", "YAML nesting depth"]),
    "very-deep-list": (lambda: deep(200_000), ["flow.yaml:5:", "YAML nesting depth"]),
    "huge-max-iterations": (
        loop,
        ["flow.yaml:5:", "steps.l.loop.max_iterations", "PODIUM_LIMIT_LOOP_ITERATIONS"],
    ),
    "dunder-expression": (
        dunder,
        ["flow.yaml:4:", "steps.a.with", "column 8", "'__class__'"],
    ),
    "unknown-with-field": (
        typo,
        ["flow.yaml:5:", "steps.a.with.txt", "upper@1.0.0 has no input 'txt' (inputs: text)"],
    ),
}


@pytest.fixture
def seeded(cli: Cli) -> Cli:
    """A home with one finished run, so "unchanged" compares something."""
    cli.write("good.yaml", "name: g\nsteps:\n  a: {uses: model/upper, with: {text: hi}}\n")
    done = cli("run", "good.yaml")
    assert done.returncode == 0, done.stderr
    return cli


def refused(cli: Cli, *args: str) -> str:
    """Run ``podium ARGS``; assert exit 2 with one ``error:`` line, quickly; return it."""
    started = time.perf_counter()
    done = cli(*args, timeout=60)
    took = time.perf_counter() - started
    assert done.returncode == 2, (done.returncode, done.stdout, done.stderr[-2000:])
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, done.stderr[-2000:]
    assert lines[0].startswith("error: ")
    assert took < SECONDS, f"took {took:.1f} s"
    return lines[0]


@pytest.mark.parametrize("case", sorted(WORKFLOWS))
def test_a_hostile_workflow_is_refused(seeded: Cli, case: str) -> None:
    cli = seeded
    make, needles = WORKFLOWS[case]
    cli.write("flow.yaml", make())
    before = cli.json("runs", "list")
    assert len(before) == 1
    line = refused(cli, "run", "flow.yaml")
    for needle in needles:
        assert needle in line, line
    assert cli.json("runs", "list") == before


def test_an_oversized_workflow_is_refused_before_it_is_read(seeded: Cli) -> None:
    cli = seeded
    path = cli.write("flow.yaml", "name: big\nsteps:\n  a: {uses: model/upper}\n")
    with path.open("r+") as handle:
        handle.truncate(5 * 1024 * 1024)  # sparse: 5 MiB on paper
    before = cli.json("runs", "list")
    line = refused(cli, "run", "flow.yaml")
    assert line == (
        "error: flow.yaml: size in bytes (5,242,880) exceeds the limit of 4,194,304 "
        "(set PODIUM_LIMIT_FILE_BYTES)"
    )
    assert cli.json("runs", "list") == before


def test_an_alias_bomb_manifest_is_refused(cli: Cli) -> None:
    cli.write(
        "bomb.yaml",
        "name: bomb\nversion: 1.0.0\ncapabilities: [text.bomb]\ninput: {text: string}\n"
        "output: {text: string}\nruntime: {kind: python, target: 'side_effects:upper'}\n"
        "extra:\n" + anchors(2),
    )
    before = cli.json("models", "list")
    line = refused(cli, "models", "register", "bomb.yaml")
    assert "bomb.yaml:14:" in line and "PODIUM_LIMIT_YAML_NODES" in line, line
    assert cli.json("models", "list") == before
    assert [m["name"] for m in before] == ["recorder", "upper"]


def test_a_deep_manifest_is_refused(cli: Cli) -> None:
    cli.write("deep.yaml", "name: deep\nversion: 1.0.0\nextra: " + "[" * 200_000 + "\n")
    before = cli.json("models", "list")
    line = refused(cli, "models", "register", "deep.yaml")
    assert "deep.yaml:3:" in line and "YAML nesting depth" in line, line
    assert cli.json("models", "list") == before
