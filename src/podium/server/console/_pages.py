"""The console's pages: server-rendered shells that its JavaScript modules fill from the
REST API, and sign-in/sign-out.

A page is shown to a signed-in session (or to anyone with ``--public-read``); otherwise
it sends the browser to ``/sign-in``. Controls the caller's role may not use are not
rendered at all; the API refuses those actions anyway.
"""

from __future__ import annotations

import secrets
import time
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from podium.governance import Role
from podium.server._auth import ANONYMOUS_READER, Principal
from podium.server._sessions import COOKIE, Session
from podium.server._state import server_state

HERE = Path(__file__).resolve().parent
SIGNIN_COOKIE = "podium_signin"
#: No inline script or style, nothing from elsewhere, never framed.
CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; "
    "frame-ancestors 'none'"
)
SECURITY_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "Cache-Control": "no-store",
}
NAV = (
    ("overview", "/", "Overview"),
    ("models", "/models", "Models"),
    ("runs", "/runs", "Runs"),
    ("approvals", "/approvals", "Approvals"),
    ("planner", "/planner", "Planner"),
    ("builder", "/builder", "Builder"),
)

router = APIRouter(include_in_schema=False)
_templates: Any = None


def templates() -> Any:
    """The Jinja2 environment (made on first use: jinja2 is imported lazily)."""
    global _templates  # noqa: PLW0603 - one environment per process, made on first use
    if _templates is None:
        from fastapi.templating import Jinja2Templates

        _templates = Jinja2Templates(directory=str(HERE / "templates"))
    return _templates


def _session(request: Request) -> Session | None:
    return server_state(request).sessions.find(request.cookies.get(COOKIE))


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _safe_next(target: str | None) -> str:
    """Where to go after signing in: a path on this server only."""
    if not target or not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/"
    return target


def _render(
    request: Request, template: str, context: dict[str, Any], status: int = 200
) -> Response:
    response: Response = templates().TemplateResponse(
        request, template, context, status_code=status, headers=SECURITY_HEADERS
    )
    return response


def page(request: Request, template: str, title: str, **extra: Any) -> Response:
    """A page for the caller, or a redirect to sign in."""
    session = _session(request)
    principal: Principal
    if session is not None:
        key = session.key
        principal = Principal(key.principal, key.role, key.tenant, key)
    elif server_state(request).config.public_read:
        principal = ANONYMOUS_READER
    else:
        here = request.url.path + (f"?{request.url.query}" if request.url.query else "")
        return RedirectResponse(f"/sign-in?next={quote(here, safe='')}", status_code=303)
    context = {
        "page": template,
        "title": title,
        "nav": NAV,
        "user": principal.name,
        "role": str(principal.role),
        "tenant": principal.tenant,
        "signed_in": session is not None,
        "csrf": session.csrf if session is not None else "",
        "can_operate": principal.may(Role.OPERATOR) and session is not None,
        "can_admin": principal.may(Role.ADMIN) and session is not None,
        **extra,
    }
    return _render(request, f"{template}.html", context)


@router.get("/", response_class=HTMLResponse)
async def overview_page(request: Request) -> Response:
    return page(request, "overview", "Overview")


@router.get("/models", response_class=HTMLResponse)
async def models_page(request: Request) -> Response:
    return page(request, "models", "Models")


@router.get("/models/{name}", response_class=HTMLResponse)
async def model_page(request: Request, name: str) -> Response:
    return page(request, "model", f"Model {name}", name=name)


@router.get("/runs", response_class=HTMLResponse)
async def runs_page(request: Request) -> Response:
    return page(request, "runs", "Runs")


@router.get("/runs/{run_id}", response_class=HTMLResponse)
async def run_page(request: Request, run_id: str) -> Response:
    return page(request, "run", f"Run {run_id}", run_id=run_id)


@router.get("/approvals", response_class=HTMLResponse)
async def approvals_page(request: Request) -> Response:
    return page(request, "approvals", "Approvals")


@router.get("/planner", response_class=HTMLResponse)
async def planner_page(request: Request) -> Response:
    return page(request, "planner", "Planner")


@router.get("/builder", response_class=HTMLResponse)
async def builder_page(request: Request) -> Response:
    return page(request, "builder", "Workflow builder")


def _sign_in_form(request: Request, error: str | None = None, status: int = 200) -> Response:
    token = request.cookies.get(SIGNIN_COOKIE) or secrets.token_urlsafe(24)
    context = {
        "page": "sign-in",
        "title": "Sign in",
        "nav": (),
        "signed_in": False,
        "csrf": "",
        "signin_token": token,
        "next": _safe_next(request.query_params.get("next")),
        "error": error,
    }
    response = _render(request, "sign-in.html", context, status)
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/sign-in",
        max_age=3600,
    )
    return response


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request) -> Response:
    return _sign_in_form(request)


async def _form(request: Request) -> dict[str, str]:
    """An ``application/x-www-form-urlencoded`` body (at most 8 KiB)."""
    raw = await request.body()
    if len(raw) > 8192:
        return {}
    fields = parse_qs(raw.decode("utf-8", "replace"), keep_blank_values=True)
    return {name: values[0] for name, values in fields.items() if values}


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    form = await _form(request)
    expected = request.cookies.get(SIGNIN_COOKIE)
    if not expected or not secrets.compare_digest(expected, form.get("signin_token", "")):
        return _sign_in_form(request, "The form expired; please sign in again.", 403)
    opened = server_state(request).sessions.open(form.get("key", "").strip())
    if opened is None:
        return _sign_in_form(request, "That key is unknown, expired or revoked.", 401)
    cookie, session = opened
    target = _safe_next(form.get("next"))
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path="/",
        max_age=max(1, int(session.expires_at - time.time())),
    )
    response.delete_cookie(SIGNIN_COOKIE, path="/sign-in")
    return response


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    form = await _form(request)
    session = _session(request)
    if session is not None and not session.csrf_matches(form.get("csrf")):
        return Response("a sign-out needs the page's CSRF token", status_code=403)
    server_state(request).sessions.close(request.cookies.get(COOKIE))
    response = RedirectResponse("/sign-in", status_code=303)
    response.delete_cookie(COOKIE, path="/")
    return response


def install(app: Any) -> None:
    """Serve the console at ``/`` and its static files at ``/static``."""
    from starlette.staticfiles import StaticFiles

    app.include_router(router)
    app.mount("/static", StaticFiles(directory=str(HERE / "static")), name="console-static")
