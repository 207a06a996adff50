"""``podium serve`` and ``podium keys``: the server, and who may use it."""

from __future__ import annotations

import gc
import re
import time
from datetime import datetime
from typing import Annotated

import typer
from rich.table import Table

from podium.cli._app import JsonOpt, app, emit_json, handles_errors, out
from podium.errors import UserError

keys_app = typer.Typer(help="Create, list and revoke API keys of the server.", no_args_is_help=True)
app.add_typer(keys_app, name="keys")

_SPAN = re.compile(r"^(\d+)\s*([smhdw])$")
_UNIT_S = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


def parse_expiry(text: str, now: float | None = None) -> float:
    """``30d``, ``12h``, ``90m``, ``2w`` from now, or an ISO 8601 date or time."""
    moment = time.time() if now is None else now
    found = _SPAN.match(text.strip().lower())
    if found:
        return moment + int(found.group(1)) * _UNIT_S[found.group(2)]
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise UserError(
            f"'{text}' is neither a span (30d, 12h, 90m, 2w) nor an ISO date", field="--expires"
        ) from None
    return when.timestamp()


@app.command("serve")
@handles_errors
def serve(
    host: Annotated[str, typer.Option(help="Address to bind (loopback by default).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="TCP port.")] = 8000,
    public_read: Annotated[
        bool, typer.Option("--public-read", help="Let requests without a key read.")
    ] = False,
    log_level: Annotated[str, typer.Option(help="debug, info, warning or error.")] = "info",
    policy: Annotated[
        str | None, typer.Option(help="A policy file applied to every model call.")
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Record what the policy would refuse; refuse nothing.")
    ] = False,
) -> None:
    """Serve the REST API, the OpenAI-compatible gateway and /metrics over this home."""
    import os

    import uvicorn

    if policy is not None:
        from podium.governance import load_policy

        load_policy(policy)  # a bad file stops here with its file, line and field
        os.environ["PODIUM_POLICY"] = policy
    if dry_run:
        os.environ["PODIUM_POLICY_DRY_RUN"] = "on"

    from podium.server import ServerConfig, create_app
    from podium.server.observability import configure_logging

    config = ServerConfig.from_env(host=host, port=port, public_read=public_read)
    configure_logging(log_level)
    application = create_app(config=config)
    # What start-up loaded lives as long as the process: frozen, collections never scan
    # it (a full one took ~100 ms under load). Requests in flight are not garbage either:
    # collecting the young generation every 700 allocations kept scanning them (8% of
    # the CPU at 50 concurrent requests); every 10,000 costs next to nothing.
    gc.freeze()
    gc.set_threshold(10_000)
    uvicorn.run(
        application,
        host=config.host,
        port=config.port,
        log_config=None,
        log_level=log_level,
        access_log=False,
        timeout_graceful_shutdown=max(1, int(config.shutdown_grace_s)),
        server_header=False,
    )


@keys_app.command("create")
@handles_errors
def keys_create(
    role: Annotated[str, typer.Option(help="viewer, operator or admin.")],
    tenant: Annotated[str | None, typer.Option(help="Only this tenant's objects.")] = None,
    expires: Annotated[
        str | None, typer.Option(help="When it stops working: 30d, 12h, or an ISO date.")
    ] = None,
    label: Annotated[str | None, typer.Option(help="A note saying what the key is for.")] = None,
    as_json: JsonOpt = False,
) -> None:
    """Create a key and print it once: only a salted hash of it is kept."""
    from podium._config import Settings
    from podium.governance import KeyRing
    from podium.store import open_store

    settings = Settings.from_env()
    expires_at = parse_expiry(expires) if expires else None
    store = open_store(settings.database_url)
    try:
        key, token = KeyRing(store).create(role, tenant=tenant, expires_at=expires_at, label=label)
    finally:
        store.close()
    if as_json:
        emit_json(key.to_json() | {"key": token})
        return
    out.print(f"key {key.key_id} ({key.role}{', tenant ' + key.tenant if key.tenant else ''})")
    out.print(token, highlight=False, soft_wrap=True)
    out.print("[dim]shown once: store it now; only its hash is kept[/dim]")


@keys_app.command("list")
@handles_errors
def keys_list(as_json: JsonOpt = False) -> None:
    """List keys (never their secrets)."""
    from podium._config import Settings
    from podium.governance import KeyRing
    from podium.store import open_store

    store = open_store(Settings.from_env().database_url)
    try:
        keys = KeyRing(store).list()
    finally:
        store.close()
    if as_json:
        emit_json([k.to_json() for k in keys])
        return
    table = Table(title=f"{len(keys)} key(s)", title_justify="left")
    for column in ("key id", "role", "tenant", "created", "expires", "state", "label"):
        table.add_column(column)
    now = time.time()
    for k in keys:
        state = "revoked" if k.revoked_at else ("expired" if not k.usable(now) else "active")
        table.add_row(
            k.key_id,
            str(k.role),
            k.tenant or "(all)",
            _when(k.created_at),
            _when(k.expires_at) if k.expires_at else "never",
            state,
            k.label or "",
        )
    out.print(table)


@keys_app.command("revoke")
@handles_errors
def keys_revoke(key_id: Annotated[str, typer.Argument(help="The key id (keys list).")]) -> None:
    """Revoke a key: requests with it are refused from now on."""
    from podium._config import Settings
    from podium.governance import KeyRing
    from podium.store import open_store

    store = open_store(Settings.from_env().database_url)
    try:
        key = KeyRing(store).revoke(key_id)
    finally:
        store.close()
    out.print(f"key {key.key_id} revoked")


def _when(ts: float | None) -> str:
    return datetime.fromtimestamp(ts).strftime("%Y-%m-%d %H:%M") if ts else "-"
