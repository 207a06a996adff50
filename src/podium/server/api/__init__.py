"""The REST API under ``/api/v1``: models, workflows, runs (with their events as SSE),
approvals, plans, stats and keys. Every error is an RFC 9457 problem document.

Every module adds its routes to one flat router, in the order below: the hot ones (runs)
first, since a request is matched against the routes in turn.
"""

from importlib import import_module

from podium.server.api._router import router

_PARTS = {
    "_runs": "runs",
    "_events": "runs",
    "_run_graph": "runs",
    "_approvals": "approvals",
    "_models": "models",
    "_workflows": "workflows",
    "_drafts": "workflows",
    "_catalog": "capabilities",
    "_plans": "plans",
    "_stats": "stats",
    "_overview": "stats",
    "_keys": "keys",
    "_audit": "governance",
}
for _part in _PARTS:
    import_module(f"{__name__}.{_part}")
for _route in router.routes:
    _module = getattr(getattr(_route, "endpoint", None), "__module__", "")
    _route.tags = [_PARTS[_module.rpartition(".")[2]]]  # type: ignore[attr-defined]

__all__ = ["router"]
