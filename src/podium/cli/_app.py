"""The ``podium`` command."""

from __future__ import annotations

import functools
import json
import sys
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer
from rich.console import Console
from rich.text import Text

from podium._types import RunStatus
from podium.cli._progress import LiveProgress
from podium.cli._render import (
    model_detail,
    model_json,
    models_table,
    runs_table,
    steps_table,
)
from podium.errors import ExecutionError, PodiumError, UserError

if TYPE_CHECKING:
    from podium._orchestrator import Orchestrator
    from podium.engine import RunResult

app = typer.Typer(
    help="Podium: many specialised AI models working as one system.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
models_app = typer.Typer(help="Register, list, show and search models.", no_args_is_help=True)
runs_app = typer.Typer(help="List, inspect, resume and cancel runs.", no_args_is_help=True)
app.add_typer(models_app, name="models")
app.add_typer(runs_app, name="runs")

out = Console()
err = Console(stderr=True)
C = TypeVar("C", bound=Callable[..., Any])

JsonOpt = Annotated[bool, typer.Option("--json", help="Print one JSON document on stdout.")]


def handles_errors(command: C) -> C:
    """User mistakes: one line on stderr, exit 2. A failed run or model: exit 1."""

    @functools.wraps(command)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return command(*args, **kwargs)
        except UserError as exc:
            err.print(
                Text("error: ", style="red") + Text(exc.one_line()), highlight=False, soft_wrap=True
            )
            raise typer.Exit(2) from None
        except ExecutionError as exc:
            err.print(
                Text("failed: ", style="red") + Text(str(exc)), highlight=False, soft_wrap=True
            )
            raise typer.Exit(1) from None
        except PodiumError as exc:
            err.print(
                Text("error: ", style="red") + Text(str(exc)), highlight=False, soft_wrap=True
            )
            raise typer.Exit(1) from None

    return wrapper  # type: ignore[return-value]


def orchestrator() -> Orchestrator:
    from podium._orchestrator import Orchestrator

    return Orchestrator()


def emit_json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, default=str) + "\n")


def emit_result_json(result: RunResult) -> None:
    """A run's JSON document, written piece by piece: a run of a million steps is never
    held in memory as one string (nor its list of steps as one list)."""
    write = sys.stdout.write
    encoder = json.JSONEncoder(indent=2, default=str)
    write("{\n")
    for key, value in result.summary_json().items():
        text = encoder.encode(value).replace("\n", "\n  ")
        write(f"  {json.dumps(key)}: {text},\n")
    for position, (name, entries) in enumerate(
        (("steps", result.iter_steps()), ("lineage", result.iter_lineage()))
    ):
        write(f'  "{name}": [')
        first = True
        for entry in entries:
            write(("\n    " if first else ",\n    ") + json.dumps(entry, default=str))
            first = False
        write("\n  ]" if not first else "]")
        write(",\n" if position == 0 else "\n")
    write("}\n")


# models -----------------------------------------------------------------------------------------
@models_app.command("list")
@handles_errors
def models_list(
    capability: Annotated[str | None, typer.Option(help="Only models offering this.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """List registered model versions."""
    with orchestrator() as orch:
        specs = orch.registry.provides(capability) if capability else orch.registry.all()
        specs = sorted(specs, key=lambda s: (s.name, s.semver))
        if as_json:
            emit_json([model_json(s) for s in specs])
        else:
            out.print(models_table(specs))


@models_app.command("show")
@handles_errors
def models_show(
    ref: Annotated[str, typer.Argument(help="NAME or NAME@VERSION")], as_json: JsonOpt = False
) -> None:
    """Show one model version (the newest matching one)."""
    from podium.engine._control import LEASE_S
    from podium.worker import use_of

    name, _, spec = ref.partition("@")
    with orchestrator() as orch:
        model = orch.registry.get(name, spec or None)
        use = use_of(orch.store, model, None, LEASE_S)
        if as_json:
            emit_json(model_json(model) | {"use": use})
        else:
            out.print(model_detail(model, use))


@models_app.command("register")
@handles_errors
def models_register(
    path: Annotated[Path, typer.Argument(help="A manifest file or a folder.")],
    as_json: JsonOpt = False,
) -> None:
    """Register the manifests in a file or folder (all or nothing)."""
    with orchestrator() as orch:
        specs = orch.register(path)
        if as_json:
            emit_json([{"name": s.name, "version": s.version} for s in specs])
        else:
            for s in specs:
                out.print(f"registered [bold]{s.key}[/bold] ({', '.join(s.capabilities)})")


@models_app.command("search")
@handles_errors
def models_search(
    text: Annotated[str, typer.Argument(help="Free text.")], as_json: JsonOpt = False
) -> None:
    """Search models by name, description, capability and tags."""
    with orchestrator() as orch:
        hits = orch.registry.search(text)
        if as_json:
            emit_json(
                [
                    {
                        "name": s.name,
                        "version": s.version,
                        "score": score,
                        "capabilities": s.capabilities,
                        "description": s.description,
                    }
                    for s, score in hits
                ]
            )
        elif not hits:
            out.print("no model matches")
        else:
            out.print(models_table([s for s, _ in hits]))


# runs -------------------------------------------------------------------------------------------
def parse_inputs(
    pairs: list[str], input_file: Path | None, types: dict[str, Any] | None = None
) -> dict[str, Any]:
    """``-i key=value`` over ``--input-file``.

    A value is parsed as JSON when it is JSON, except for inputs declared ``string``,
    which take the text as given (so ``-i order=00123`` stays ``"00123"``).
    """
    types = types or {}
    values: dict[str, Any] = {}
    if input_file is not None:
        try:
            loaded = json.loads(input_file.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise UserError("no such file", file=str(input_file)) from None
        except IsADirectoryError:
            raise UserError("is a folder, expected a JSON file", file=str(input_file)) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UserError(f"cannot read: {exc}", file=str(input_file)) from None
        except RecursionError:
            raise UserError("nested too deeply", file=str(input_file)) from None
        except json.JSONDecodeError as exc:
            raise UserError(
                f"malformed JSON: {exc.msg}", file=str(input_file), line=exc.lineno
            ) from None
        if not isinstance(loaded, dict):
            raise UserError("must hold a JSON object of inputs", file=str(input_file))
        values.update(loaded)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UserError(f"'{pair}' must look like key=value", field="-i")
        declared = types.get(key)
        if isinstance(declared, dict):
            declared = declared.get("type")
        if str(declared).rstrip("?") == "string":
            values[key] = raw
            continue
        try:
            values[key] = json.loads(raw)
        except json.JSONDecodeError:
            values[key] = raw
    return values


def report(result: RunResult, as_json: bool, *, why: bool = False) -> None:
    """Print a run's result and exit 1 if it failed or was cancelled."""
    if as_json:
        emit_result_json(result)
    else:
        if result.driver:
            out.print(f"run {result.run_id} continues in process {result.driver}")
            return
        out.print(steps_table(result, why=why))
        if result.outputs is not None:
            out.print_json(
                json.dumps({"outputs": result.outputs, "cost": round(result.cost, 8)}, default=str)
            )
        if result.status is RunStatus.WAITING:
            waiting = [s["step"] for s in result.steps if s["status"] == "waiting"]
            for step in waiting:
                out.print(
                    f"[yellow]waiting for approval:[/yellow] podium approve "
                    f"{result.run_id} {step} [--reject]"
                )
        if result.error:
            err.print(
                Text("failed: ", style="red") + Text(result.error), highlight=False, soft_wrap=True
            )
    if result.status in (RunStatus.FAILED, RunStatus.CANCELLED):
        raise typer.Exit(1)


def execute(orch: Orchestrator, title: str, as_json: bool, start: Callable[[], RunResult]) -> None:
    if as_json or not out.is_terminal:
        report(start(), as_json)
        return
    progress = LiveProgress(out, title)
    orch.runner.observers.append(progress)
    with progress:
        result = start()
    report(result, as_json)


@app.command("run")
@handles_errors
def run(
    workflow: Annotated[Path, typer.Argument(help="The workflow YAML file.")],
    inputs: Annotated[
        list[str] | None, typer.Option("-i", "--input", help="key=value (repeatable).")
    ] = None,
    input_file: Annotated[Path | None, typer.Option(help="A JSON object of inputs.")] = None,
    as_json: JsonOpt = False,
    detach: Annotated[bool, typer.Option("--detach", help="Queue it for a worker.")] = False,
    queue: Annotated[str | None, typer.Option(help="The queue (with --detach).")] = None,
) -> None:
    """Run a workflow file (or, with --detach, queue it for `podium worker` and print its id)."""
    with orchestrator() as orch:
        loaded = orch.load(workflow)
        values = parse_inputs(inputs or [], input_file, dict(loaded.inputs))
        if detach or queue:
            return submit_detached(orch, loaded, values, queue, as_json)
        execute(orch, f"running {loaded.name}", as_json, lambda: orch.run(loaded, values))


@runs_app.command("list")
@handles_errors
def runs_list(
    limit: Annotated[int, typer.Option(help="How many, newest first.")] = 50,
    as_json: JsonOpt = False,
) -> None:
    """List runs, newest first."""
    with orchestrator() as orch:
        records = orch.runs(limit)
        if as_json:
            emit_json([r.to_json() for r in records])
        else:
            out.print(runs_table(records))


@runs_app.command("show")
@handles_errors
def runs_show(
    run_id: str,
    as_json: JsonOpt = False,
    lineage: Annotated[bool, typer.Option("--lineage", help="Draw the lineage tree.")] = False,
) -> None:
    """Show a run's steps, models, outputs and routing reasons (or its lineage)."""
    if lineage:
        from podium.cli._governance import lineage_view

        return lineage_view(run_id, as_json)
    with orchestrator() as orch:
        result = orch.get_run(run_id)
        for anomaly in result.anomalies:
            err.print(
                Text("warning: ", style="yellow")
                + Text(f"{anomaly.describe(run_id)}; skipped (podium runs repair {run_id})"),
                highlight=False,
                soft_wrap=True,
            )
        if as_json:
            emit_result_json(result)
        else:
            out.print(steps_table(result, why=True))
            if result.outputs is not None:
                out.print_json(json.dumps({"outputs": result.outputs}, default=str))
            if result.error:
                out.print(Text("error: ", style="red") + Text(result.error), highlight=False)


@runs_app.command("resume")
@handles_errors
def runs_resume(
    run_id: str,
    force: Annotated[
        bool, typer.Option("--force", help="Resume even if another process seems to run it.")
    ] = False,
    as_json: JsonOpt = False,
) -> None:
    """Continue a run whose process died (finished steps are not run again)."""
    with orchestrator() as orch:
        execute(orch, f"resuming {run_id}", as_json, lambda: orch.resume(run_id, force=force))


@runs_app.command("repair")
@handles_errors
def runs_repair(run_id: str, as_json: JsonOpt = False) -> None:
    """Quarantine the events of a run's log that cannot have happened, so it reads again."""
    with orchestrator() as orch:
        repair = orch.repair(run_id)
        if as_json:
            emit_json(
                {
                    "run_id": run_id,
                    "status": repair.status,
                    "quarantined": [a.to_json() for a in repair.quarantined],
                }
            )
        elif not repair.quarantined:
            out.print(f"run {run_id}: every event reads; nothing to repair")
        else:
            for anomaly in repair.quarantined:
                out.print(f"quarantined {anomaly.describe(run_id)}")
            out.print(
                f"run {run_id} reads again ({len(repair.quarantined)} event(s) quarantined); "
                f"its status is {repair.status}"
            )


@runs_app.command("cancel")
@handles_errors
def runs_cancel(run_id: str, as_json: JsonOpt = False) -> None:
    """Cancel a run; a process running it stops within a second."""
    with orchestrator() as orch:
        record = orch.cancel(run_id)
        if as_json:
            emit_json(record.to_json())
        else:
            out.print(f"run {run_id} cancelled")


@app.command("approve")
@handles_errors
def approve(
    run_id: str,
    step: str,
    reject: Annotated[bool, typer.Option("--reject", help="Reject instead of approve.")] = False,
    comment: Annotated[str | None, typer.Option(help="Why.")] = None,
    by: Annotated[str | None, typer.Option(help="Who decides (default: local:<user>).")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Approve (or reject) a waiting step, then continue the run."""
    if by is None:
        from podium._context import local_caller

        by = str(local_caller().principal)
    with orchestrator() as orch:
        execute(
            orch,
            f"continuing {run_id}",
            as_json,
            lambda: orch.approve(run_id, step, approved=not reject, by=by, comment=comment),
        )


@app.command("demo")
@handles_errors
def demo(as_json: JsonOpt = False) -> None:
    """Run the shipped scenarios end to end and print a table."""
    from podium.demo import run_demo

    with orchestrator() as orch:
        run_demo(orch, out, as_json=as_json)


from podium.cli._plan import plan  # noqa: E402 - registered last: it uses the helpers above
from podium.cli._worker import register, submit_detached  # noqa: E402 - same

app.command("plan")(plan)
register(app, runs_app)
from podium.cli import _governance  # noqa: E402, F401 - adds audit, policy and usage
