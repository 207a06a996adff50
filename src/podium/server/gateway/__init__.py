"""The OpenAI-compatible gateway under ``/v1``."""

from fastapi import APIRouter

router = APIRouter(prefix="/v1")

__all__ = ["router"]
