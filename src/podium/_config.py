"""Where Podium keeps its state (``$PODIUM_HOME``, ``$PODIUM_DATABASE_URL``) and where model
calls run (``$PODIUM_EXECUTOR``, ``$PODIUM_RAY_MODE``, ``$PODIUM_RAY_ADDRESS``)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from podium._limits import Limits
from podium._placement import LOCAL, Placement, placement_from_env


@dataclass(frozen=True)
class Settings:
    """Resolved locations of Podium's state, and where model calls run by default
    (``placement``; ``ray_address``: the Ray cluster to join, ``None`` for a local one)."""

    home: Path
    database_url: str
    limits: Limits = field(default_factory=Limits)
    sqlite_synchronous: str = "NORMAL"
    write_retry_s: float = 5.0
    placement: Placement = LOCAL
    ray_address: str | None = None
    #: ``$PODIUM_AUDIT``: keep the hash-chained audit log (``off``/``0``/``false``: don't).
    audit: bool = True
    #: ``$PODIUM_POLICY``: the policy file applied to every model call, if any.
    policy: Path | None = None
    #: ``$PODIUM_POLICY_DRY_RUN``: record what the policy would refuse, refuse nothing.
    policy_dry_run: bool = False

    @classmethod
    def from_env(cls, home: str | Path | None = None, database_url: str | None = None) -> Settings:
        """Settings from explicit values, else the environment, else ``./.podium``."""
        home_path = Path(home or os.environ.get("PODIUM_HOME") or ".podium").expanduser()
        url = database_url or os.environ.get("PODIUM_DATABASE_URL")
        if not url:
            url = f"sqlite:///{(home_path / 'podium.db').resolve()}"
        return cls(
            home=home_path.resolve(),
            database_url=url,
            limits=Limits.from_env(),
            sqlite_synchronous=os.environ.get("PODIUM_SQLITE_SYNCHRONOUS") or "NORMAL",
            write_retry_s=_seconds("PODIUM_WRITE_RETRY_S", 5.0),
            placement=placement_from_env(),
            ray_address=os.environ.get("PODIUM_RAY_ADDRESS") or None,
            audit=_flag("PODIUM_AUDIT", True),
            policy=Path(os.environ["PODIUM_POLICY"]) if os.environ.get("PODIUM_POLICY") else None,
            policy_dry_run=_flag("PODIUM_POLICY_DRY_RUN", False),
        )


def _seconds(variable: str, default: float) -> float:
    raw = os.environ.get(variable)
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        value = -1.0
    if value < 0:
        from podium.errors import UserError

        raise UserError(f"must be a number of seconds, not {raw!r}", field=variable)
    return value


def _flag(variable: str, default: bool) -> bool:
    raw = (os.environ.get(variable) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "on", "true", "yes"):
        return True
    if raw in ("0", "off", "false", "no"):
        return False
    from podium.errors import UserError

    raise UserError(f"must be on or off, not {raw!r}", field=variable)
