"""Models through the API: list (filters, cursor), search, show, register YAML or JSON,
deprecate; models marked for tenants are theirs alone, in listings and in routing."""

from __future__ import annotations

from typing import Any

import httpx
import yaml
from api_support import API, is_problem
from server_support import Served

MANIFEST = """\
name: echo-{n}
version: 1.{n}.0
description: Says it back, number {n}.
capabilities: [text.echo]
input: {{text: string}}
output: {{text: string}}
runtime: {{kind: python, target: "api_echo:echo"}}
tags: [{tag}]
"""


def _register(client: httpx.Client, text: str, **headers: str) -> httpx.Response:
    return client.post(
        f"{API}/models",
        content=text,
        headers={"content-type": "application/yaml", **headers},
    )


def _echo_module(served: Served, tmp_path: Any, monkeypatch: Any) -> None:
    (tmp_path / "api_echo.py").write_text(
        "def echo(text: str) -> dict:\n    return {'text': text}\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))


def test_list_filter_and_page_models(served: Served, tmp_path: Any, monkeypatch: Any) -> None:
    _echo_module(served, tmp_path, monkeypatch)
    with served.client("admin") as admin:
        for n in range(5):
            answer = _register(admin, MANIFEST.format(n=n, tag="even" if n % 2 == 0 else "odd"))
            assert answer.status_code == 201, answer.text
    with served.client("viewer") as viewer:
        everything = viewer.get(f"{API}/models").json()["items"]
        assert {m["name"] for m in everything} >= {"shout", "slow", "echo-0", "echo-4"}
        echoes = viewer.get(f"{API}/models", params={"capability": "text.echo"}).json()
        assert [m["name"] for m in echoes["items"]] == [f"echo-{n}" for n in range(5)]
        odd = viewer.get(f"{API}/models", params={"tag": "odd"}).json()["items"]
        assert [m["name"] for m in odd] == ["echo-1", "echo-3"]
        named = viewer.get(f"{API}/models", params={"name": "shou"}).json()["items"]
        assert [m["name"] for m in named] == ["shout"]
        seen: list[str] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"capability": "text.echo", "limit": 2}
            if cursor:
                params["cursor"] = cursor
            page = viewer.get(f"{API}/models", params=params).json()
            seen += [m["name"] for m in page["items"]]
            cursor = page["next_cursor"]
            if cursor is None:
                break
        assert seen == [f"echo-{n}" for n in range(5)]
        assert is_problem(viewer.get(f"{API}/models?cursor=nonsense"), 422)["field"] == "cursor"


def test_search_show_and_show_a_version(served: Served, tmp_path: Any, monkeypatch: Any) -> None:
    _echo_module(served, tmp_path, monkeypatch)
    with served.client("admin") as admin:
        _register(admin, MANIFEST.format(n=1, tag="x"))
    with served.client("viewer") as viewer:
        [hit] = viewer.get(f"{API}/models/search", params={"q": "says it back"}).json()
        assert hit["name"] == "echo-1" and hit["score"] > 0
        detail = viewer.get(f"{API}/models/echo-1").json()
        assert detail["latest"]["version"] == "1.1.0"
        assert detail["versions"] == [{"version": "1.1.0", "status": "active"}]
        version = viewer.get(f"{API}/models/echo-1/1.1.0").json()
        assert version["runtime"]["target"] == "api_echo:echo"
        assert version["tenants"] is None
        is_problem(viewer.get(f"{API}/models/echo-1/9.9.9"), 404)
        is_problem(viewer.get(f"{API}/models/nothing"), 404)


def test_register_as_json_errors_name_field_and_line(served: Served) -> None:
    with served.client("admin") as admin:
        yaml_error = _register(admin, "name: bad\nversion: 1.0.0\ncapabilities: [Not Dotted]\n")
        problem = is_problem(yaml_error, 422)
        assert problem["field"] == "capabilities" and problem["line"] == 3
        unknown = admin.post(
            f"{API}/models",
            json={"name": "bad", "version": "1.0.0", "capabilities": ["a.b"], "owner": "me"},
        )
        assert is_problem(unknown, 422)["field"] == "owner"
        no_target = admin.post(
            f"{API}/models", json={"name": "bad", "version": "1.0.0", "capabilities": ["a.b"]}
        )
        assert is_problem(no_target, 422)["field"] == "runtime.target"
        missing = admin.post(
            f"{API}/models",
            json={
                "name": "bad",
                "version": "1.0.0",
                "capabilities": ["a.b"],
                "runtime": {"kind": "python", "target": "no_such_module_here:f"},
            },
        )
        assert "cannot import" in is_problem(missing, 422)["detail"]
        malformed = _register(admin, "name: [unclosed\n")
        assert "malformed YAML" in is_problem(malformed, 422)["detail"]


def test_deprecated_versions_are_not_routed_by_capability(
    served: Served, tmp_path: Any, monkeypatch: Any
) -> None:
    _echo_module(served, tmp_path, monkeypatch)
    with served.client("admin") as admin:
        _register(admin, MANIFEST.format(n=1, tag="x"))
        deprecated = admin.post(f"{API}/models/echo-1/1.1.0/deprecate")
        assert deprecated.status_code == 200, deprecated.text
        assert deprecated.json()["status"] == "deprecated"
        flow = {
            "name": "echo",
            "steps": {"e": {"uses": "capability/text.echo", "with": {"text": "x"}}},
        }
        refused = admin.post(f"{API}/workflows/validate", json=flow)
        assert is_problem(refused, 422)["field"] == "steps.e.uses"
    assert served.orchestrator.registry.get("echo-1").status == "deprecated"


def _tenant_models(served: Served) -> None:
    orch = served.orchestrator

    @orch.model(capabilities=["text.private"], quality={"text.private": 0.9}, tenants=["a"])
    def a_only(text: str) -> dict[str, str]:
        return {"text": f"a:{text}"}

    @orch.model(capabilities=["text.private"], quality={"text.private": 0.95}, tenants=["b"])
    def b_only(text: str) -> dict[str, str]:
        return {"text": f"b:{text}"}

    @orch.model(capabilities=["text.private"], quality={"text.private": 0.1})
    def shared(text: str) -> dict[str, str]:
        return {"text": f"shared:{text}"}


PRIVATE = {
    "name": "private",
    "inputs": {"text": "string"},
    "steps": {"p": {"uses": "capability/text.private", "with": {"text": "${{ inputs.text }}"}}},
    "outputs": {"text": "${{ steps.p.output.text }}"},
}


def test_tenant_models_are_seen_and_routed_only_for_their_tenant(served: Served) -> None:
    _tenant_models(served)
    with served.client("a") as a, served.client("b") as b, served.client("operator") as shared:
        seen_a = {m["name"] for m in a.get(f"{API}/models").json()["items"]}
        assert "a-only" in seen_a and "b-only" not in seen_a and "shared" in seen_a
        is_problem(a.get(f"{API}/models/b-only"), 404)
        is_problem(a.get(f"{API}/models/b-only/0.1.0"), 404)
        assert a.get(f"{API}/models/a-only").json()["latest"]["tenants"] == ["a"]
        hits = {h["name"] for h in a.get(f"{API}/models/search", params={"q": "only"}).json()}
        assert "b-only" not in hits
        body = {"workflow": PRIVATE, "inputs": {"text": "t"}, "wait": True}
        # b's model has the best quality, but only b's runs may use it
        assert a.post(f"{API}/runs", json=body).json()["outputs"] == {"text": "a:t"}
        assert b.post(f"{API}/runs", json=body).json()["outputs"] == {"text": "b:t"}
        assert shared.post(f"{API}/runs", json=body).json()["outputs"] == {"text": "shared:t"}
        every = {m["name"] for m in shared.get(f"{API}/models").json()["items"]}
        assert {"a-only", "b-only"} <= every  # a key of no tenant sees every model


def test_a_tenant_run_never_falls_back_to_another_tenants_model(served: Served) -> None:
    _tenant_models(served)
    flow = {
        "name": "named",
        "steps": {"p": {"uses": "model/b-only", "with": {"text": "x"}}},
        "outputs": {"text": "${{ steps.p.output.text }}"},
    }
    with served.client("a") as a:
        run = a.post(f"{API}/runs", json={"workflow": flow, "wait": True}).json()
    assert run["status"] == "failed"
    assert "serves runs of tenant 'a'" in run["error"]
    assert "b:" not in str(run.get("outputs"))


def test_a_tenants_admin_registers_for_its_tenant_only(served: Served) -> None:
    token = served.key("admin", tenant="a")
    headers = {"Authorization": f"Bearer {token}"}
    manifest = {
        "name": "mine",
        "version": "1.0.0",
        "capabilities": ["text.upper"],
        "input": {"text": "string"},
        "output": {"text": "string"},
        "runtime": {"kind": "python", "target": "json:dumps"},
    }
    with httpx.Client(base_url=served.url, headers=headers) as tenant_admin:
        made = tenant_admin.post(f"{API}/models", json=manifest)
        assert made.status_code == 201, made.text
        assert made.json()[0]["tenants"] == ["a"]
        other = tenant_admin.post(f"{API}/models", json=manifest | {"tenants": ["b"]})
        is_problem(other, 403)
        is_problem(tenant_admin.post(f"{API}/models/shout/0.1.0/deprecate"), 403)
        replaced = tenant_admin.post(
            f"{API}/models", json=manifest | {"name": "shout", "version": "0.1.0"}
        )
        is_problem(replaced, 409)
    assert served.orchestrator.registry.get("mine").tenants == ["a"]
    with served.client("b") as b:
        is_problem(b.get(f"{API}/models/mine"), 404)


def test_yaml_list_of_manifests(served: Served) -> None:
    docs = [
        {
            "name": f"lister-{n}",
            "version": "1.0.0",
            "capabilities": ["text.list"],
            "runtime": {"kind": "python", "target": "json:dumps"},
        }
        for n in range(2)
    ]
    with served.client("admin") as admin:
        answer = _register(admin, yaml.safe_dump(docs))
    assert answer.status_code == 201, answer.text
    assert [m["name"] for m in answer.json()] == ["lister-0", "lister-1"]
