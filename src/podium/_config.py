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
