"""The OpenAI-compatible gateway under ``/v1``: chat completions (streamed or not) and
embeddings routed to registered models, workflows called as models, and the model list."""

from podium.server.gateway._routes import router

__all__ = ["router"]
