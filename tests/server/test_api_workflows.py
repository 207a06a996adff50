"""Workflows through the API: validation errors name the field and line (as the CLI's),
registration versions changed content, tenants have their own names."""

from __future__ import annotations

import httpx
import yaml
from api_support import API, is_problem, shout_flow
from server_support import Served

BROKEN_YAML = """\
name: broken
inputs: {text: string}
steps:
  first:
    uses: capability/text.upper
    with: {text: "${{ inputs.text }}"}
  second:
    uses: capability/text.nowhere
    with: {text: "${{ steps.first.output.text }}"}
"""


def _yaml(client: httpx.Client, path: str, text: str) -> httpx.Response:
    return client.post(API + path, content=text, headers={"content-type": "application/yaml"})


def test_validate_a_good_workflow_as_yaml_and_as_json(served: Served) -> None:
    flow = shout_flow(steps=2)
    with served.client("viewer") as client:
        as_json = client.post(f"{API}/workflows/validate", json=flow)
        as_yaml = _yaml(client, "/workflows/validate", yaml.safe_dump(flow))
    for answer in (as_json, as_yaml):
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["valid"] is True and body["name"] == "shout-flow"
        assert [s["id"] for s in body["steps"]] == ["s1", "s2"]
        assert body["steps"][1]["after"] == ["s1"]
        assert body["steps"][0]["kind"] == "call"


def test_validation_errors_name_the_field_and_line(served: Served) -> None:
    with served.client("viewer") as client:
        from_yaml = is_problem(_yaml(client, "/workflows/validate", BROKEN_YAML), 422)
        assert from_yaml["field"] == "steps.second.uses"
        assert from_yaml["line"] == 8
        assert "text.nowhere" in from_yaml["detail"]
        assert "file" not in from_yaml
        # the same document as JSON, on several lines: the line is found too
        text = '{\n  "name": "broken",\n  "steps": {\n    "a": {"uses": "capability/nope"}\n  }\n}'
        from_json = client.post(
            f"{API}/workflows/validate",
            content=text,
            headers={"content-type": "application/json"},
        )
        problem = is_problem(from_json, 422)
        assert problem["field"] == "steps.a.uses" and problem["line"] == 4
        unknown = is_problem(_yaml(client, "/workflows/validate", "name: x\nstepz: {}\n"), 422)
        assert unknown["field"] == "stepz" and unknown["line"] == 2
        malformed = is_problem(
            client.post(
                f"{API}/workflows/validate",
                content=b'{"name": ',
                headers={"content-type": "application/json"},
            ),
            422,
        )
        assert "malformed JSON" in malformed["detail"] and malformed["line"] == 1
        bad_yaml = is_problem(_yaml(client, "/workflows/validate", "a: [\n  b\n"), 422)
        assert "malformed YAML" in bad_yaml["detail"] and bad_yaml["line"]
        empty = is_problem(client.post(f"{API}/workflows/validate", content=b""), 422)
        assert empty["field"] == "body"


def test_register_versions_only_changed_content(served: Served) -> None:
    with served.client("operator") as client:
        first = client.post(f"{API}/workflows", json=shout_flow(steps=1))
        assert first.status_code == 201 and first.json()["version"] == 1
        same = client.post(f"{API}/workflows", json=shout_flow(steps=1))
        assert same.status_code == 200
        assert same.json()["version"] == 1 and same.json()["created"] is False
        changed = client.post(f"{API}/workflows", json=shout_flow(steps=2))
        assert changed.status_code == 201 and changed.json()["version"] == 2
        [listed] = client.get(f"{API}/workflows").json()
        assert listed["name"] == "shout-flow" and listed["version"] == 2
        latest = client.get(f"{API}/workflows/shout-flow").json()
        assert latest["version"] == 2 and latest["versions"] == [1, 2]
        assert list(latest["document"]["steps"]) == ["s1", "s2"]
        old = client.get(f"{API}/workflows/shout-flow", params={"version": 1}).json()
        assert list(old["document"]["steps"]) == ["s1"]
        is_problem(client.get(f"{API}/workflows/shout-flow", params={"version": 3}), 404)
        is_problem(client.get(f"{API}/workflows/nothing"), 404)
        # a run by name uses the latest version, or the one asked for
        body = {"workflow": "shout-flow", "inputs": {"text": "v"}, "wait": True}
        newest = client.post(f"{API}/runs", json=body).json()
        pinned = client.post(f"{API}/runs", json=body | {"version": 1}).json()
    steps = {r.run_id: r.definition["document"]["steps"] for r in served.orchestrator.runs()}
    assert list(steps[newest["run_id"]]) == ["s1", "s2"]
    assert list(steps[pinned["run_id"]]) == ["s1"]


def test_registration_refuses_invalid_documents_and_names(served: Served) -> None:
    with served.client("operator") as client:
        invalid = is_problem(_yaml(client, "/workflows", BROKEN_YAML), 422)
        assert invalid["line"] == 8
        unnamed = is_problem(client.post(f"{API}/workflows", json=shout_flow(name="a b")), 422)
        assert unnamed["field"] == "name"
        assert client.get(f"{API}/workflows").json() == []
    with served.client("viewer") as viewer:
        is_problem(viewer.post(f"{API}/workflows", json=shout_flow()), 403)


def test_tenants_have_their_own_names_and_see_shared_ones(served: Served) -> None:
    with served.client("operator") as shared, served.client("a") as a, served.client("b") as b:
        shared.post(f"{API}/workflows", json=shout_flow(name="common"))
        a.post(f"{API}/workflows", json=shout_flow(name="common", steps=2))
        b.post(f"{API}/workflows", json=shout_flow(name="secret-b"))
        mine = {w["name"]: w for w in a.get(f"{API}/workflows").json()}
        assert set(mine) == {"common"} and mine["common"]["tenant"] == "a"
        is_problem(a.get(f"{API}/workflows/secret-b"), 404)
        assert list(b.get(f"{API}/workflows/common").json()["document"]["steps"]) == ["s1"]
        body = {"workflow": "common", "inputs": {"text": "x"}, "wait": True}
        assert a.post(f"{API}/runs", json=body).json()["status"] == "succeeded"
        is_problem(a.post(f"{API}/runs", json={"workflow": "secret-b"}), 404)
