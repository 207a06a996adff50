"""The Ray executor on a real local Ray instance (one per session, see ``conftest``).

The same workflow (a real scikit-learn model from the shipped demo, and Python models)
gives the same outputs in-process and on Ray; where each step ran follows ``executor:``
on workflows and steps; an actor or worker that dies mid-call is a retry, not a lost
run; ``resources.max_concurrency`` holds on Ray; a driver killed by SIGKILL resumes.
"""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import closing
from pathlib import Path
from typing import Any

import pytest

import podium
from podium.demo import support

pytestmark = pytest.mark.slow

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures"

MODELS = """
- name: where
  version: 1.0.0
  capabilities: [test.where]
  input: {text: string}
  output: {text: string, pid: integer}
  runtime: {kind: python, target: "ray_models:where"}
- name: recorder
  version: 1.0.0
  capabilities: [test.record]
  input: {text: string, log: string, delay: "number?"}
  output: {text: string}
  runtime: {kind: python, target: "ray_models:record"}
- name: crasher
  version: 1.0.0
  capabilities: [test.crash]
  input: {text: string, marker: string, log: string}
  output: {text: string}
  runtime: {kind: python, target: "ray_models:crash_once", inline: false}
- name: staller
  version: 1.0.0
  capabilities: [test.stall]
  input: {text: string, marker: string, log: string}
  output: {text: string}
  runtime: {kind: python, target: "ray_models:stall_once", inline: false}
- name: limited
  version: 1.0.0
  capabilities: [test.limited]
  input: {item: integer, counter: string, seconds: number}
  output: {item: integer}
  runtime: {kind: python, target: "ray_models:tracked", inline: false}
  resources: {cpus: 0.25, max_concurrency: 2}
- name: limited-replicas
  version: 1.0.0
  capabilities: [test.limited]
  input: {item: integer, counter: string, seconds: number}
  output: {item: integer}
  runtime: {kind: python, target: "ray_models:tracked", inline: false}
  instances: 3
  resources: {cpus: 0.25, max_concurrency: 2}
"""

MESSAGES = [
    "I was charged twice for my order, please refund me",
    "The app crashes every time I open settings",
    "Please cancel my subscription from next month",
    "Where is my parcel? It has not arrived yet",
    "How do I change the e-mail address on my account?",
]


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test models' manifests, their module beside them (Ray workers import it from
    there: one folder for the session, as workers outlive tests)."""
    folder = tmp_path_factory.mktemp("ray-models")
    shutil.copy(FIXTURES / "ray_models.py", folder / "ray_models.py")
    (folder / "models.yaml").write_text(MODELS)
    return folder


@pytest.fixture(scope="session")
def intent_manifest(model_dir: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's intent classifier (TF-IDF and logistic regression), from the session's
    shared demo home (trained there on first use)."""
    home = tmp_path_factory.getbasetemp() / "shared-demo-home"
    artifact = support.ensure_trained(home)[support.MODEL]["artifact"]
    path = model_dir / "intent.yaml"
    path.write_text(
        f"""
name: intent-classifier
version: 1.0.0
capabilities: [text.intent]
input: {{text: string}}
output: {{label: string, confidence: number, probabilities: object}}
runtime: {{kind: sklearn, path: "{home / "demo" / artifact}"}}
resources: {{max_concurrency: 1}}  # one Ray worker loads scikit-learn, not one per call
"""
    )
    return path


@pytest.fixture
def orch(
    tmp_path: Path, model_dir: Path, ray_address: str, monkeypatch: pytest.MonkeyPatch
) -> Iterator[podium.Orchestrator]:
    monkeypatch.delenv("PODIUM_EXECUTOR", raising=False)
    monkeypatch.delenv("PODIUM_DATABASE_URL", raising=False)
    with podium.Orchestrator(tmp_path / "home", discover=False) as found:
        found.register(model_dir / "models.yaml")
        yield found


def _steps(result: podium.RunResult) -> dict[str, dict[str, Any]]:
    return {s["step"]: s for s in result.lineage}


SAME = {
    "name": "same",
    "inputs": {"message": "string", "messages": "array"},
    "steps": {
        "intent": {"uses": "model/intent-classifier", "with": {"text": "${{ inputs.message }}"}},
        "shout": {"uses": "model/where", "with": {"text": "${{ steps.intent.output.label }}"}},
        "each": {
            "map": "${{ inputs.messages }}",
            "concurrency": 3,
            "step": {"uses": "model/intent-classifier", "with": {"text": "${{ item }}"}},
        },
    },
    "outputs": {
        "intent": "${{ steps.intent.output }}",
        "shout": "${{ steps.shout.output.text }}",
        "each": "${{ steps.each.output }}",
        "pid": "${{ steps.shout.output.pid }}",
    },
}


def test_the_same_workflow_gives_the_same_outputs_in_process_and_on_ray(
    orch: podium.Orchestrator, intent_manifest: Path
) -> None:
    orch.register(intent_manifest)
    inputs = {"message": MESSAGES[0], "messages": MESSAGES}
    runs = {}
    for executor in ("local", "ray", {"kind": "ray", "mode": "tasks"}):
        result = orch.run({**SAME, "executor": executor}, inputs)
        assert result.status == "succeeded", result.error
        runs[json.dumps(executor)] = result
    local, actors, tasks = runs.values()
    pid = local.outputs.pop("pid")
    assert pid == os.getpid()
    for remote in (actors, tasks):
        assert remote.outputs.pop("pid") != os.getpid()  # the model ran in a Ray worker
        assert remote.outputs == local.outputs
    assert local.outputs["intent"]["label"] == "billing"
    assert [o["label"] for o in local.outputs["each"]] == [
        "billing",
        "technical",
        "cancellation",
        "shipping",
        "account",
    ]
    assert "executor" not in _steps(local)["intent"]
    assert _steps(actors)["intent"]["executor"] == "ray"
    assert _steps(actors)["each[4]"]["executor"] == "ray"
    assert _steps(tasks)["shout"]["executor"] == "ray/tasks"


def test_executor_follows_workflow_step_and_environment(
    orch: podium.Orchestrator, tmp_path: Path, model_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "sub.yaml").write_text(
        "name: sub\nsteps:\n  w: {uses: model/where, with: {text: sub}}\n"
        "outputs: {pid: '${{ steps.w.output.pid }}'}\n"
    )
    flow = tmp_path / "flow.yaml"
    flow.write_text(
        """
name: nested
executor: local
steps:
  plain: {uses: model/where, with: {text: plain}}
  on_ray:
    map: [a, b]
    executor: ray
    step: {uses: model/where, with: {text: "${{ item }}"}}
  kept_local:
    map: [c]
    executor: ray
    step: {uses: model/where, with: {text: "${{ item }}"}, executor: local}
  again:
    loop:
      max_iterations: 1
      steps:
        inner: {uses: model/where, with: {text: loop}, executor: {kind: ray, mode: tasks}}
  sub: {workflow: sub.yaml, executor: ray}
outputs:
  plain: "${{ steps.plain.output.pid }}"
  on_ray: "${{ steps.on_ray.output[1].pid }}"
  kept_local: "${{ steps.kept_local.output[0].pid }}"
  loop: "${{ steps.again.output.inner.pid }}"
  sub: "${{ steps.sub.output.pid }}"
"""
    )
    result = orch.run(flow)
    assert result.status == "succeeded", result.error
    here = os.getpid()
    pids = result.outputs
    assert (pids["plain"], pids["kept_local"]) == (here, here)
    assert here not in (pids["on_ray"], pids["loop"], pids["sub"])

    # No executor in the YAML: PODIUM_EXECUTOR decides, for the same workflow unchanged.
    plain = {
        "name": "env",
        "steps": {"w": {"uses": "model/where", "with": {"text": "x"}}},
        "outputs": {"pid": "${{ steps.w.output.pid }}"},
    }
    assert orch.run(plain).outputs["pid"] == here
    monkeypatch.setenv("PODIUM_EXECUTOR", "ray")
    monkeypatch.setenv("PODIUM_RAY_MODE", "tasks")
    with podium.Orchestrator(orch.settings.home, discover=False) as on_ray:
        result = on_ray.run(plain)
        assert result.outputs["pid"] != here
        assert _steps(result)["w"]["executor"] == "ray/tasks"


def _crash_flow(tmp_path: Path, model: str, mode: str) -> dict[str, Any]:
    log = str(tmp_path / "side_effects.log")
    marker = str(tmp_path / "first_call")
    return {
        "name": "crash",
        "executor": {"kind": "ray", "mode": mode},
        "steps": {
            "before": {"uses": "model/recorder", "with": {"text": "before", "log": log}},
            "risky": {
                "uses": f"model/{model}",
                "with": {"text": "risky", "marker": marker, "log": log},
                "after": ["before"],  # no retry policy: a lost worker's attempt is given back
            },
            "then": {
                "uses": "model/recorder",
                "with": {"text": "then", "log": log},
                "after": ["risky"],
            },
        },
        "outputs": {"text": "${{ steps.risky.output.text }}"},
    }


def _done(tmp_path: Path) -> list[str]:
    lines = (tmp_path / "side_effects.log").read_text().splitlines()
    return [line for line in lines if line.startswith("done:")]


@pytest.mark.parametrize("mode", ["actors", "tasks"])
def test_a_worker_dying_mid_call_is_a_retry_not_a_lost_run(
    orch: podium.Orchestrator, tmp_path: Path, mode: str
) -> None:
    result = orch.run(_crash_flow(tmp_path, "crasher", mode))
    assert result.status == "succeeded", result.error
    assert result.outputs == {"text": "risky"}
    assert _done(tmp_path) == ["done:before", "done:risky", "done:then"]  # each once
    risky = next(s for s in result.steps if s["step"] == "risky")
    assert risky["attempts"] == 2
    failures = [e for e in orch.store.events(result.run_id) if e.type == "attempt_failed"]
    assert len(failures) == 1
    assert "the Ray " in failures[0].data["error"] and "died mid-call" in failures[0].data["error"]
    ray = orch.adapters.executor("ray")
    crasher = orch.registry.get("crasher")
    assert ray.replaced(crasher) == (1 if mode == "actors" else 0)


def test_a_model_that_kills_its_worker_every_time_still_fails(
    orch: podium.Orchestrator, tmp_path: Path
) -> None:
    flow = _crash_flow(tmp_path, "crasher", "tasks")
    flow["steps"]["risky"]["with"]["marker"] = str(tmp_path / "never" / "written")
    result = orch.run(flow)
    assert result.status == "failed"
    risky = next(s for s in result.steps if s["step"] == "risky")
    assert risky["attempts"] == 2  # its one attempt, and the one given back: no more
    assert "the Ray worker died mid-call" in result.error
    assert _done(tmp_path) == ["done:before"]


def test_an_actor_killed_from_outside_mid_call_is_replaced_and_retried(
    orch: podium.Orchestrator, tmp_path: Path
) -> None:
    import ray

    flow = _crash_flow(tmp_path, "staller", "actors")
    marker = tmp_path / "first_call"
    staller = orch.registry.get("staller")
    executor = orch.adapters.executor("ray")

    killed: list[Any] = []

    async def run_and_kill() -> podium.RunResult:
        task = asyncio.ensure_future(orch.arun(flow))
        deadline = time.monotonic() + 60
        while not marker.exists():  # the first call is inside the model now
            assert time.monotonic() < deadline and not task.done()
            await asyncio.sleep(0.05)
        killed.extend(executor.actors(staller))
        ray.kill(killed[0])
        return await task

    result = asyncio.run(run_and_kill())
    assert result.status == "succeeded", result.error
    assert _done(tmp_path) == ["done:before", "done:risky", "done:then"]
    assert executor.replaced(staller) == 1
    (fresh,) = executor.actors(staller)
    assert len(killed) == 1 and fresh is not killed[0]


@pytest.mark.parametrize(
    ("model", "mode"),
    [("limited", "actors"), ("limited", "tasks"), ("limited-replicas", "actors")],
)
def test_max_concurrency_holds_on_ray(
    orch: podium.Orchestrator, tmp_path: Path, model: str, mode: str
) -> None:
    counter = str(tmp_path / "counter.json")
    flow = {
        "name": "limits",
        "executor": {"kind": "ray", "mode": mode},
        "steps": {
            "fan": {
                "map": list(range(6)),
                "concurrency": 6,
                "step": {
                    "uses": f"model/{model}",
                    "with": {"item": "${{ item }}", "counter": counter, "seconds": 0.25},
                },
            }
        },
        "outputs": {"items": "${{ steps.fan.output }}"},
    }
    warm = orch.run({**flow, "steps": {"fan": {**flow["steps"]["fan"], "map": [0, 1]}}})
    assert warm.status == "succeeded", warm.error  # actors and workers are up: now measure
    Path(counter).unlink()
    result = orch.run(flow)
    assert result.status == "succeeded", result.error
    assert result.outputs["items"] == [{"item": i} for i in range(6)]
    state = json.loads(Path(counter).read_text())
    assert state["calls"] == 6 and state["now"] == 0
    assert state["peak"] == 2  # two at once (it did run in parallel), never three


KILLED = """
name: killed
executor: ray
inputs: {log: string}
steps:
  s1: {uses: model/recorder, with: {text: s1, log: "${{ inputs.log }}"}}
  s2: {uses: model/recorder, with: {text: s2, log: "${{ inputs.log }}", delay: 3}, after: [s1]}
  s3: {uses: model/recorder, with: {text: s3, log: "${{ inputs.log }}"}, after: [s2]}
outputs: {last: "${{ steps.s3.output.text }}"}
"""


def test_a_driver_killed_by_sigkill_resumes_without_rerunning_finished_steps(
    orch: podium.Orchestrator, tmp_path: Path, ray_address: str
) -> None:
    flow = tmp_path / "killed.yaml"
    flow.write_text(KILLED)
    log = tmp_path / "side_effects.log"
    env = os.environ | {
        "PODIUM_HOME": str(orch.settings.home),
        "PODIUM_RAY_ADDRESS": ray_address,
    }
    env.pop("PODIUM_DATABASE_URL", None)
    exe = shutil.which("podium", path=str(Path(sys.executable).parent))
    command = [exe] if exe else [sys.executable, "-m", "podium"]
    driver = subprocess.Popen(
        [*command, "run", str(flow), "-i", f"log={log}", "--json"],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.monotonic() + 90
    while "start:s2" not in (log.read_text() if log.exists() else ""):
        assert driver.poll() is None, driver.communicate()
        assert time.monotonic() < deadline, "s2 never started"
        time.sleep(0.05)
    while not _s1_committed(orch.settings.home / "podium.db"):  # its line comes before that
        assert time.monotonic() < deadline, "s1 was never committed"
        time.sleep(0.02)
    driver.send_signal(signal.SIGKILL)  # s2 is in flight on a Ray actor the driver owns
    driver.communicate(timeout=10)

    (run,) = orch.runs()
    assert run.status == "running"  # the driver died without finishing it
    resumed = orch.resume(run.run_id)
    assert resumed.status == "succeeded", resumed.error
    assert resumed.outputs == {"last": "s3"}
    lines = log.read_text().splitlines()
    # s1 finished before the kill and is not run again; s2 was in flight: it starts again
    # and finishes once (its orphaned actor died with the driver); s3 runs once.
    assert [line for line in lines if line.startswith("done:")] == ["done:s1", "done:s2", "done:s3"]
    assert lines.count("start:s1") == 1 and lines.count("start:s2") == 2
    assert {s["step"]: s["executor"] for s in resumed.lineage} == dict.fromkeys(
        ("s1", "s2", "s3"), "ray"
    )


def _s1_committed(database: Path) -> bool:
    with closing(sqlite3.connect(database)) as db:
        row = db.execute(
            "SELECT 1 FROM podium_events WHERE type = 'step_succeeded' AND step = 's1'"
        ).fetchone()
    return row is not None
