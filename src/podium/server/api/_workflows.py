"""``/workflows``: validate a workflow document, register named versions, read them back."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Query, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from podium.engine import Workflow
from podium.errors import UserError, WorkflowError
from podium.server._auth import Principal
from podium.server._deps import Operator, Viewer
from podium.server._problems import not_found
from podium.server._state import server_state
from podium.server.api._book import Entry
from podium.server.api._common import (
    document_body,
    locate,
    plain_json,
    problems,
    read_document,
)
from podium.server.api._documents import refuse_files
from podium.server.api._router import router
from podium.server.api._shared import api_state


class StepInfo(BaseModel):
    """One top-level step of a validated workflow."""

    id: str
    kind: str
    uses: str | None = None
    after: list[str] = Field(default_factory=list)


class Validation(BaseModel):
    """A workflow that passed every check (the CLI's, against the registered models)."""

    valid: bool = True
    name: str
    inputs: dict[str, Any]
    outputs: list[str]
    steps: list[StepInfo]


class WorkflowVersion(BaseModel):
    """One registered version of a named workflow."""

    name: str
    tenant: str | None = None
    version: int
    digest: str
    registered_at: float
    registered_by: str | None = None
    description: str | None = None
    inputs: dict[str, Any] = Field(default_factory=dict)


class WorkflowDetail(WorkflowVersion):
    """A version with its document, and every version of the name."""

    document: dict[str, Any]
    versions: list[int] = Field(default_factory=list)


class Registered(WorkflowVersion):
    """The outcome of a registration: ``created`` is false when the content was the
    latest version's already."""

    created: bool


def _kind(step: Any) -> str:
    return type(step).__name__.removesuffix("Step").lower() or "step"


def _validation(workflow: Workflow) -> Validation:
    steps = []
    for step_id, step in workflow.steps.items():
        uses = getattr(step, "uses", None)
        steps.append(
            StepInfo(
                id=step_id,
                kind=_kind(step),
                uses=str(uses) if uses is not None else None,
                after=sorted(getattr(step, "deps", ()) or ()),
            )
        )
    return Validation(
        name=workflow.name,
        inputs=plain_json(workflow.inputs),
        outputs=list(workflow.outputs),
        steps=steps,
    )


async def _checked(request: Request) -> tuple[Workflow, dict[str, Any]]:
    """The request's workflow document, fully validated (as ``podium run`` does)."""
    document, as_yaml = await read_document(request, WorkflowError)
    if not isinstance(document, dict):
        raise WorkflowError("a workflow must be a mapping with 'steps'", line=1)
    try:
        refuse_files(document)
        workflow = server_state(request).orchestrator.load(document)
    except UserError as exc:
        raise (exc if as_yaml else locate(exc, document, await request.body())) from None
    return workflow, plain_json(document)


@router.post(
    "/workflows/validate",
    response_model=Validation,
    summary="Validate a workflow (YAML or JSON) against the registered models",
    responses=problems(413),
    openapi_extra=document_body("A workflow document, as YAML or JSON."),
)
async def validate_workflow(request: Request, principal: Principal = Viewer) -> Validation:
    workflow, _ = await _checked(request)
    return _validation(workflow)


def _version(entry: Entry) -> dict[str, Any]:
    return entry.to_json()


@router.post(
    "/workflows",
    response_model=Registered,
    status_code=201,
    summary="Register a named workflow; changed content becomes a new version",
    responses=problems(
        413, also={200: {"model": Registered, "description": "The latest version already"}}
    ),
    openapi_extra=document_body("A workflow document with a `name`, as YAML or JSON."),
)
async def register_workflow(request: Request, principal: Principal = Operator) -> JSONResponse:
    _, document = await _checked(request)
    book = api_state(request).book
    entry, created = book.register(principal.tenant, document, principal.name)
    body = Registered(**_version(entry), created=created).model_dump(mode="json")
    location = f"/api/v1/workflows/{entry.name}?version={entry.version}"
    return JSONResponse(body, status_code=201 if created else 200, headers={"Location": location})


@router.get(
    "/workflows",
    response_model=list[WorkflowVersion],
    summary="The latest version of every registered workflow you see",
    responses=problems(),
)
async def list_workflows(request: Request, principal: Principal = Viewer) -> list[dict[str, Any]]:
    return [_version(e) for e in api_state(request).book.listing(principal.tenant)]


@router.get(
    "/workflows/{name}",
    response_model=WorkflowDetail,
    summary="A registered workflow: its latest version, or ?version=N",
    responses=problems(404),
)
async def get_workflow(
    request: Request,
    name: str,
    version: Annotated[int | None, Query(ge=1, le=2**31)] = None,
    principal: Principal = Viewer,
) -> dict[str, Any]:
    book = api_state(request).book
    latest = book.latest(principal.tenant, name)
    if latest is None:
        raise not_found(f"no workflow named '{name}'")
    found = book.version(principal.tenant, name, version or latest.version)
    if found is None:
        raise not_found(f"workflow '{name}' has no version {version}")
    entry, document = found
    versions = [e.version for e in book.versions(principal.tenant, name)]
    return _version(entry) | {"document": document, "versions": versions}
