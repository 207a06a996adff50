"""``podium worker``, ``podium run --detach``, ``podium runs watch`` and ``podium queues``."""

from __future__ import annotations

import json
import logging
import signal
import sys
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.table import Table

from podium._types import RunStatus
from podium.cli._app import (
    JsonOpt,
    emit_json,
    err,
    handles_errors,
    orchestrator,
    out,
    report,
)
from podium.errors import UserError

if TYPE_CHECKING:
    from podium._orchestrator import Orchestrator
    from podium.engine import Workflow
    from podium.store import Event

queues_app = typer.Typer(
    help="Worker queues: what waits where, and bindings.", no_args_is_help=True
)


def register(app: typer.Typer, runs_app: typer.Typer) -> None:
    """Add ``worker``, ``runs watch`` and ``queues`` to the command."""
    app.command("worker")(worker)
    runs_app.command("watch")(runs_watch)
    app.add_typer(queues_app, name="queues")


def submit_detached(
    orch: Orchestrator, workflow: Workflow, values: dict[str, Any], queue: str | None, as_json: bool
) -> None:
    """``podium run --detach``: queue the run and print its id."""
    run_id = orch.submit(workflow, values, queue=queue)
    record = orch.store.run(run_id)
    chosen = record.queue if record is not None else queue
    if as_json:
        emit_json({"run_id": run_id, "status": "pending", "queue": chosen})
    else:
        sys.stdout.write(f"{run_id}\n")
        err.print(f"queued in '{chosen}'; follow it with: podium runs watch {run_id}")


def _queues(raw: str) -> tuple[str, ...]:
    from podium.engine._loader import QUEUE_NAME

    names = tuple(q.strip() for q in raw.split(",") if q.strip())
    if not names:
        raise UserError("name at least one queue", field="--queues")
    for name in names:
        if not QUEUE_NAME.match(name):
            raise UserError(
                f"'{name}' is not a queue name: lower-case letters, digits, '-' and '_'",
                field="--queues",
            )
    return names


@handles_errors
def worker(
    concurrency: Annotated[int, typer.Option(min=1, max=10_000, help="Runs at once.")] = 8,
    queues: Annotated[str, typer.Option(help="Queues to take runs from (comma-separated).")] = (
        "default"
    ),
    cpus: Annotated[float | None, typer.Option(min=0, help="CPUs for model calls.")] = None,
    gpus: Annotated[float | None, typer.Option(min=0, help="GPUs for model calls.")] = None,
    memory_mb: Annotated[float | None, typer.Option(min=0, help="Memory for calls.")] = None,
    grace: Annotated[
        float, typer.Option(min=0, help="On SIGTERM: seconds runs may go on before release.")
    ] = 10.0,
    burst: Annotated[bool, typer.Option("--burst", help="Exit once the queues are empty.")] = False,
    as_json: JsonOpt = False,
) -> None:
    """Drain queued runs from the shared database (any number of workers, any host)."""
    from podium.engine._admission import Admission, Capacity
    from podium.worker import Worker, WorkerConfig

    names = _queues(queues)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    with orchestrator() as orch:
        machine = Capacity.machine()
        capacity = Capacity(
            machine.cpus if cpus is None else cpus,
            machine.gpus if gpus is None else gpus,
            machine.memory_mb if memory_mb is None else memory_mb,
        )
        orch.caller.admission = Admission(capacity)
        config = WorkerConfig(names, concurrency, grace_s=grace, burst=burst)
        work = Worker(orch, config)
        err.print(
            f"worker {work.owner}: queues {', '.join(names)}, {concurrency} run(s) at once, "
            f"{capacity.cpus:g} cpus, {capacity.gpus:g} gpus, {capacity.memory_mb:.0f} MB"
        )

        import asyncio  # here: `podium --help` need not load it

        async def main() -> Any:
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, work.stop)
            return await work.run()

        stats = orch._sync(main())
    if as_json:
        emit_json(stats.to_json())
    else:
        err.print(f"worker {work.owner} stopped: {json.dumps(stats.to_json())}")


@handles_errors
def runs_watch(
    run_id: str,
    as_json: JsonOpt = False,
    timeout: Annotated[
        float | None, typer.Option(min=0, help="Stop watching after this many seconds.")
    ] = None,
) -> None:
    """Follow a run's events live until it ends; exit with its exit code."""
    from podium.cli._progress import LiveProgress
    from podium.worker import follow

    with orchestrator() as orch:
        if as_json:

            def line(event: Event) -> None:
                data = {"seq": event.seq, "type": event.type, "step": event.step}
                data |= {"ts": event.ts, "data": event.data}
                sys.stdout.write(json.dumps(data, default=str) + "\n")
                sys.stdout.flush()

            record = follow(orch.store, run_id, line, timeout_s=timeout)
        elif not out.is_terminal:  # no live view on a pipe: the result when it ends
            record = follow(orch.store, run_id, lambda _e: None, timeout_s=timeout)
            report(orch.get_run(run_id), False)
        else:
            progress = LiveProgress(out, f"run {run_id}")
            with progress:
                record = follow(
                    orch.store, run_id, lambda e: progress(run_id, e), timeout_s=timeout
                )
            report(orch.get_run(run_id), False)
        if record.status in (RunStatus.FAILED, RunStatus.CANCELLED):
            raise typer.Exit(1)
        if not RunStatus(record.status).finished and not as_json:
            err.print(f"run {run_id} is {record.status}")


@queues_app.command("list")
@handles_errors
def queues_list(as_json: JsonOpt = False) -> None:
    """Runs pending, running and waiting per queue; live workers; bindings."""
    from podium.engine._control import LEASE_S
    from podium.engine._queue import QueueBindings
    from podium.worker import live_workers

    with orchestrator() as orch:
        counts = orch.store.queue_counts()
        workers = live_workers(orch.store, LEASE_S)
        bindings = QueueBindings.load(orch.store)
    if as_json:
        emit_json({"queues": counts, "workers": workers, "bindings": bindings.to_json()})
        return
    table = Table(title="queues", title_justify="left")
    for column in ("queue", "pending", "running", "waiting", "workers"):
        table.add_column(column)
    names = sorted(set(counts) | {q for w in workers.values() for q in w.get("queues", [])})
    for name in names:
        per = counts.get(name, {})
        serving = sum(1 for w in workers.values() if name in w.get("queues", []))
        table.add_row(
            name, *(str(per.get(s, 0)) for s in ("pending", "running", "waiting")), str(serving)
        )
    out.print(table)
    for tag, queue in sorted(bindings.tags.items()):
        out.print(f"tag {tag} -> queue {queue}")
    for capability, queue in sorted(bindings.capabilities.items()):
        out.print(f"capability {capability} -> queue {queue}")


TagOpt = Annotated[str | None, typer.Option(help="A model tag.")]
CapabilityOpt = Annotated[str | None, typer.Option(help="A capability.")]


@queues_app.command("bind")
@handles_errors
def queues_bind(
    queue: Annotated[str, typer.Argument(help="The queue.")],
    tag: TagOpt = None,
    capability: CapabilityOpt = None,
) -> None:
    """Send runs whose steps may call a model with TAG (or use CAPABILITY) to QUEUE."""
    from podium.engine._queue import QueueBindings

    _queues(queue)
    if not tag and not capability:
        raise UserError("give --tag or --capability", field="queues bind")
    with orchestrator() as orch:
        QueueBindings.load(orch.store).bind(queue, tag=tag, capability=capability).save(orch.store)
    out.print(f"bound {'tag ' + tag if tag else 'capability ' + str(capability)} to queue {queue}")


@queues_app.command("unbind")
@handles_errors
def queues_unbind(tag: TagOpt = None, capability: CapabilityOpt = None) -> None:
    """Remove a binding."""
    from podium.engine._queue import QueueBindings

    if not tag and not capability:
        raise UserError("give --tag or --capability", field="queues unbind")
    with orchestrator() as orch:
        QueueBindings.load(orch.store).unbind(tag=tag, capability=capability).save(orch.store)
    out.print("unbound")
