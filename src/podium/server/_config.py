"""How the server is set up: address, who may read, and the limits it enforces."""

from __future__ import annotations

import os
from dataclasses import dataclass

from podium.errors import UserError


@dataclass(frozen=True)
class ServerConfig:
    """Settings of ``podium serve``; each limit also reads a ``PODIUM_SERVER_*`` variable.

    ``public_read`` lets requests without a key read (never write). Limits: the largest
    request body in bytes, requests per minute per key, concurrent runs per key (runs the
    server drives at once for one principal). ``shutdown_grace_s`` is how long in-flight
    steps may finish on SIGTERM; ``resume_every_s`` how often runs whose process died are
    looked for and resumed (0: never).
    """

    host: str = "127.0.0.1"
    port: int = 8000
    public_read: bool = False
    max_body_bytes: int = 1_048_576
    requests_per_minute: int = 6000
    concurrent_runs: int = 200
    shutdown_grace_s: float = 10.0
    resume_every_s: float = 5.0

    @classmethod
    def from_env(cls, **overrides: object) -> ServerConfig:
        """Defaults, then ``PODIUM_SERVER_<FIELD>`` variables, then ``overrides``."""
        values: dict[str, object] = {}
        for name, kind in (
            ("max_body_bytes", int),
            ("requests_per_minute", int),
            ("concurrent_runs", int),
            ("shutdown_grace_s", float),
            ("resume_every_s", float),
        ):
            variable = f"PODIUM_SERVER_{name.upper()}"
            raw = os.environ.get(variable)
            if raw:
                try:
                    value = kind(raw)
                except ValueError:
                    value = -1
                if value < 0:
                    raise UserError(f"must be a non-negative number, not {raw!r}", field=variable)
                values[name] = value
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]
