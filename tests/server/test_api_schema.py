"""The API against its own OpenAPI document: generated requests (schemathesis) never
cause a 5xx, and every answer's status, content type, headers and body are documented."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
import requests
import schemathesis
from api_support import API, shout_flow
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.core.failures import FailureGroup
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from server_support import Served

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


def test_the_openapi_document_is_3_1_and_documents_problems(served: Served) -> None:
    with served.client(None) as client:
        document = client.get("/openapi.json").json()
    assert document["openapi"].startswith("3.1")
    paths = {p for p in document["paths"] if p.startswith(API)}
    assert {
        f"{API}/models",
        f"{API}/models/search",
        f"{API}/models/{{name}}",
        f"{API}/models/{{name}}/{{version}}",
        f"{API}/models/{{name}}/{{version}}/deprecate",
        f"{API}/workflows",
        f"{API}/workflows/validate",
        f"{API}/workflows/{{name}}",
        f"{API}/runs",
        f"{API}/runs/{{run_id}}",
        f"{API}/runs/{{run_id}}/cancel",
        f"{API}/runs/{{run_id}}/resume",
        f"{API}/runs/{{run_id}}/events",
        f"{API}/runs/{{run_id}}/approvals/{{step}}",
        f"{API}/approvals",
        f"{API}/plans",
        f"{API}/stats",
        f"{API}/keys",
        f"{API}/keys/{{key_id}}",
    } <= paths
    for path in paths:
        for method, operation in document["paths"][path].items():
            for code in ("401", "403", "422"):
                content = operation["responses"][code]["content"]
                assert list(content) == ["application/problem+json"], (method, path, code)
    run = document["paths"][f"{API}/runs"]["post"]
    assert "201" in run["responses"]
    assert {p["name"] for p in run["parameters"]} >= {"Idempotency-Key", "Prefer", "wait"}


@pytest.fixture
def session() -> Iterator[requests.Session]:
    with requests.Session() as found:
        yield found


@pytest.mark.slow
def test_generated_requests_conform(served: Served, session: requests.Session) -> None:
    """Every operation, a few generated requests each (valid by the document), as admin."""
    with served.client("operator") as client:  # something for the reads to find
        client.post(f"{API}/workflows", json=shout_flow())
        client.post(f"{API}/runs", json={"workflow": "shout-flow", "inputs": {"text": "s"}})
    schema = schemathesis.openapi.from_url(f"{served.url}/openapi.json")
    headers = {"Authorization": f"Bearer {served.keys['admin']}"}
    operations = [found.ok() for found in schema.get_all_operations()]
    tested = [op for op in operations if op.path.startswith(f"{API}/")]
    assert len(tested) >= 20

    for operation in tested:

        @settings(
            max_examples=6,
            deadline=None,
            suppress_health_check=list(HealthCheck),
            database=None,
        )
        @given(case=operation.as_strategy())
        def conforms(case: schemathesis.Case) -> None:
            case.call_and_validate(session=session, headers=headers, checks=CHECKS, timeout=10)

        conforms()


def test_an_undocumented_status_would_be_caught(served: Served) -> None:
    """The checks above can fail: an answer whose status the document does not list."""
    with httpx.Client(base_url=served.url) as client:
        document = client.get("/openapi.json").json()
    del document["paths"][f"{API}/stats"]["get"]["responses"]["401"]
    schema = schemathesis.openapi.from_dict(document)
    case = schema[f"{API}/stats"]["GET"].Case(query={"by": "model"})
    with requests.Session() as raw_session:
        case.call_and_validate(
            base_url=served.url, session=raw_session, checks=[not_a_server_error]
        )
        with pytest.raises(FailureGroup) as caught:  # sent without a key: a 401
            case.call_and_validate(
                base_url=served.url, session=raw_session, checks=[status_code_conformance]
            )
    assert "Undocumented status code" in str(caught.value.exceptions[0])
