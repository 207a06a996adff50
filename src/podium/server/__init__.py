"""The Podium server: REST under ``/api/v1``, the OpenAI-compatible gateway under ``/v1``,
``/metrics``, ``/healthz`` and ``/readyz``."""

from podium.server._app import create_app
from podium.server._config import ServerConfig

__all__ = ["ServerConfig", "create_app"]
