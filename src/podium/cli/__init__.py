"""The ``podium`` command line (Typer + Rich)."""

from __future__ import annotations

import sys

from podium.cli._app import app


def main() -> None:
    """Entry point of the ``podium`` console script."""
    try:
        app()
    except KeyboardInterrupt:
        sys.stderr.write("interrupted\n")
        sys.exit(130)


__all__ = ["app", "main"]
