"""Start-up costs a user pays before any step runs, as wall time of fresh processes.

``python -c pass`` (the interpreter alone, for reference), ``python -c "import podium"``,
``podium --help``, and ``podium run run5.yaml -i x=0 --json`` for the 5-step chain of
``benchmarks/public_api.py`` (durable, SQLite in a temporary ``PODIUM_HOME``, the models
registered beforehand with ``podium models register``). Best of ``--repeat``; ``--verbose``
prints the modules that ``-X importtime`` finds slowest. Run:

    python benchmarks/startup.py [--repeat 5] [--json] [--verbose]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from public_api import RUN_STEPS, write_models, write_workflows

# Targets, seconds of wall time.
TARGETS = {"import podium": 0.15, "podium --help": 0.3}


def podium_command() -> list[str]:
    """The ``podium`` script of the running interpreter's environment."""
    script = Path(sys.executable).parent / "podium"
    if script.exists():
        return [str(script)]
    found = shutil.which("podium")
    return [found] if found else [sys.executable, "-m", "podium"]


def run_ok(cmd: list[str], env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(cmd, env=env, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        raise RuntimeError(f"{' '.join(cmd)} exited {done.returncode}: {' | '.join(tail)}")
    return done


def wall(cmd: list[str], repeat: int, env: dict[str, str] | None = None) -> tuple[float, str]:
    """Best wall time of ``repeat`` runs of ``cmd`` (seconds) and the last stdout."""
    best, out = float("inf"), ""
    for _ in range(repeat):
        start = time.perf_counter()
        out = run_ok(cmd, env).stdout
        best = min(best, time.perf_counter() - start)
    return best, out


def importtime(args: list[str], env: dict[str, str] | None = None) -> list[dict[str, Any]]:
    """Every module that ``python -X importtime ARGS`` imports, with self and cumulative us."""
    done = subprocess.run(
        [sys.executable, "-X", "importtime", *args],
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    found = []
    for line in done.stderr.splitlines():
        if not line.startswith("import time:") or "[us]" in line:
            continue
        self_us, cumulative_us, name = line[len("import time:") :].split("|", 2)
        depth = (len(name) - len(name.lstrip())) // 2
        found.append(
            {
                "module": name.strip(),
                "depth": depth,
                "self_us": int(self_us),
                "cumulative_us": int(cumulative_us),
            }
        )
    return found


def top_offenders(found: list[dict[str, Any]], n: int = 12) -> dict[str, list[dict[str, Any]]]:
    """The slowest modules by their own time, and own time summed per top-level package."""
    by_self = sorted(found, key=lambda m: m["self_us"], reverse=True)[:n]
    packages: dict[str, int] = {}
    for m in found:
        top = m["module"].split(".")[0]
        packages[top] = packages.get(top, 0) + m["self_us"]
    ranked = sorted(packages.items(), key=lambda kv: kv[1], reverse=True)
    by_package: list[dict[str, Any]] = [{"package": k, "self_us": v} for k, v in ranked]
    return {"self": by_self, "packages": by_package[:n]}


def measure(repeat: int, *, verbose: bool = False) -> dict[str, Any]:
    """Wall times (seconds) of the start-up commands, best of ``repeat``."""
    podium = podium_command()
    rows: dict[str, float] = {}
    rows["python -c pass"] = wall([sys.executable, "-c", "pass"], repeat)[0]
    rows["import podium"] = wall([sys.executable, "-c", "import podium"], repeat)[0]
    rows["podium --help"] = wall([*podium, "--help"], repeat)[0]
    with tempfile.TemporaryDirectory(prefix="podium-startup-") as tmp:
        folder = Path(tmp)
        flows = write_workflows(folder)
        manifest = write_models(folder)
        env = dict(os.environ, PODIUM_HOME=str(folder / "home"))
        env["PYTHONPATH"] = os.pathsep.join(p for p in (str(folder), env.get("PYTHONPATH")) if p)
        env.pop("PODIUM_DATABASE_URL", None)
        run_ok([*podium, "models", "register", str(manifest)], env)
        cmd = [*podium, "run", str(flows["run5"]), "-i", "x=0", "--json"]
        seconds, out = wall(cmd, repeat, env)
        result = json.loads(out)
        if result.get("status") != "succeeded" or result.get("outputs") != {"x": RUN_STEPS}:
            raise RuntimeError(f"podium run gave {out[:200]!r}")
        rows[f"podium run {RUN_STEPS}-step --json"] = seconds
    report: dict[str, Any] = {"podium": podium, "seconds": rows}
    if verbose:
        report["importtime"] = {
            "import podium": top_offenders(importtime(["-c", "import podium"])),
            "podium --help": top_offenders(importtime(["-m", "podium", "--help"])),
        }
    return report


def print_report(report: dict[str, Any]) -> None:
    seconds = report["seconds"]
    base = seconds["python -c pass"]
    print(f"{'command (fresh process)':<30}{'wall s':>9}{'minus python':>14}  target met")
    for name, value in seconds.items():
        target = TARGETS.get(name)
        met = "" if target is None else f"{'yes' if value < target else 'no'} (<{target} s)"
        net = "" if name == "python -c pass" else f"{value - base:.3f}"
        print(f"{name:<30}{value:>9.3f}{net:>14}  {met}")
    for what, offenders in report.get("importtime", {}).items():
        packages = ", ".join(
            f"{m['package']} {m['self_us'] / 1e3:.0f}" for m in offenders["packages"]
        )
        modules = ", ".join(f"{m['module']} {m['self_us'] / 1e3:.1f}" for m in offenders["self"])
        print(f"\n-X importtime, {what}: own time per package (ms)\n  {packages}")
        print(f"-X importtime, {what}: slowest modules by own time (ms)\n  {modules}")


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawTextHelpFormatter
    )
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--verbose", action="store_true", help="print -X importtime offenders")
    args = parser.parse_args()
    report = measure(args.repeat, verbose=args.verbose)
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        print(f"load average {[round(v, 2) for v in os.getloadavg()]} on {os.cpu_count()} cores")
        print_report(report)


if __name__ == "__main__":
    main()
