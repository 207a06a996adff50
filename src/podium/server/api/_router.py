"""The one router every API module adds its routes to (one flat list: FastAPI matches a
request against each route in turn, and nested routers cost a walk per level)."""

from fastapi import APIRouter

router = APIRouter(prefix="/api/v1")
