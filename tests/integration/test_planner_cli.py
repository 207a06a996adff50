"""``podium plan`` in a subprocess, over the shipped rule-based demo models."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from podium.demo.catalog import MANIFESTS

GOAL = "classify the message, check the customer's history and draft a reply"
GIVEN = ["--given", "message:text", "--given", "customer_id:customer_id"]


class Podium:
    def __init__(self, root: Path) -> None:
        self.root = root
        self.env = os.environ | {"PODIUM_HOME": str(root / "home"), "COLUMNS": "160"}
        for name in ("PODIUM_DATABASE_URL", "PODIUM_LLM_BASE_URL"):
            self.env.pop(name, None)
        exe = shutil.which("podium", path=str(Path(sys.executable).parent))
        self.command = [exe] if exe else [sys.executable, "-m", "podium"]

    def __call__(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [*self.command, *args],
            env=self.env,
            cwd=self.root,
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )


def _registered(root: Path) -> Podium:
    cli = Podium(root)
    done = cli("models", "register", str(MANIFESTS))
    assert done.returncode == 0, done.stderr
    return cli


@pytest.fixture
def podium_cli(tmp_path: Path) -> Podium:
    return _registered(tmp_path)


@pytest.fixture(scope="module")
def shared_cli(tmp_path_factory: pytest.TempPathFactory) -> Podium:
    """One home for the cases that change nothing."""
    return _registered(tmp_path_factory.mktemp("cli"))


def test_plan_prints_the_graph_with_reasons_and_costs(podium_cli: Podium) -> None:
    done = podium_cli("plan", GOAL, *GIVEN, "--match", "lexical")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "typed search" in out
    assert "stage 1 (parallel: 2 steps)" in out
    assert "intent  capability/text.intent  text -> intent" in out
    assert "customer  capability/crm.lookup  customer_id -> customer" in out
    assert "reply  capability/text.reply  intent -> reply  after intent, customer" in out
    assert "delivers wanted 'reply' (asked for by \"draft a reply\")" in out
    assert "expected cost 0.00111 per run" in out


def test_plan_json_run_and_template_reuse(podium_cli: Podium) -> None:
    done = podium_cli(
        "plan",
        GOAL,
        *GIVEN,
        "--match",
        "lexical",
        "--json",
        "--run",
        "-i",
        "message=I was charged twice for ORD-12345",
        "-i",
        "customer_id=CUST-1003",
    )
    assert done.returncode == 0, done.stderr
    data = json.loads(done.stdout)
    assert data["plan"]["origin"] == "typed"
    assert data["plan"]["stages"] == [["intent", "customer"], ["reply"]]
    assert data["plan"]["workflow"]["steps"]["reply"]["uses"] == "capability/text.reply"
    assert data["run"]["status"] == "succeeded"
    assert data["run"]["outputs"]["intent"] == "billing"
    assert data["run"]["outputs"]["customer"]["tier"]
    again = podium_cli(
        "plan",
        "classify this message, check the customer history, draft a reply",
        *GIVEN,
        "--match",
        "lexical",
        "--json",
    )
    assert again.returncode == 0, again.stderr
    plan = json.loads(again.stdout)
    assert plan["origin"] == "template"
    assert plan["notes"][0].startswith("reused template")


def test_a_saved_plan_runs_with_podium_run(podium_cli: Podium) -> None:
    path = podium_cli.root / "plan.yaml"
    done = podium_cli("plan", "--want", "sentiment", "--given", "message:text", "--save", str(path))
    assert done.returncode == 0, done.stderr
    assert f"saved to {path}" in done.stdout
    assert path.read_text().startswith("# planned by podium (typed) for: produce sentiment")
    ran = podium_cli("run", str(path), "-i", "message=This is wonderful, thank you!", "--json")
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout)["outputs"] == {"sentiment": "positive"}


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--want", "replyy"], "--want: unknown type 'replyy'"),
        (["draft a reply", "--given", "message:txt"], "did you mean 'text'?"),
        (["draft a reply", "--given", "message:"], "--given: 'message:' must look like NAME:TYPE"),
        (["bake a chocolate cake", "--match", "lexical"], "cannot tell what"),
        (
            ["look up the customer", "--given", "message:text", "--match", "lexical"],
            "cannot produce 'customer'",
        ),
        ([], "give a goal in words, or the types you want with --want"),
        (["draft a reply", "--match", "fuzzy"], "unknown matcher 'fuzzy'"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(
    shared_cli: Podium, args: list[str], message: str
) -> None:
    done = shared_cli("plan", *args)
    assert done.returncode == 2, done.stdout + done.stderr
    assert message in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1
    assert done.stdout == ""
