"""The REST endpoints the console reads (capabilities, drafts, run graph and steps,
overview, call series, run search) and console sessions, against a real server."""

from __future__ import annotations

import re
import time
from contextlib import closing
from typing import Any

import httpx
from api_support import API, gated_flow, is_problem, shout_flow, until_status
from server_support import Served

from podium.governance import KeyRing


def test_capabilities_give_each_contract_and_its_providers(served: Served) -> None:
    with served.client("viewer") as api:
        found = {c["name"]: c for c in api.get(f"{API}/capabilities").json()}
        assert {"text.upper", "text.slow"} <= set(found)
        upper = found["text.upper"]
        assert upper["input"] == [{"name": "text", "type": "string", "required": True}]
        assert [p["model"] for p in upper["providers"]] == ["shout@0.1.0"]
        assert api.get(f"{API}/capabilities/text.upper").json() == upper
        is_problem(api.get(f"{API}/capabilities/no.such"), 404)


def test_a_tenant_sees_only_capabilities_it_may_use(served: Served) -> None:
    manifest = {
        "name": "secret",
        "version": "1.0.0",
        "description": "a's own",
        "capabilities": ["text.secret"],
        "input": {"text": "string"},
        "output": {"text": "string"},
        "runtime": {"kind": "python", "target": "json:dumps"},
        "tenants": ["a"],
    }
    with served.client("admin") as admin:
        assert admin.post(f"{API}/models", json=manifest).status_code == 201
    with served.client("a") as a, served.client("b") as b:
        assert "text.secret" in {c["name"] for c in a.get(f"{API}/capabilities").json()}
        assert "text.secret" not in {c["name"] for c in b.get(f"{API}/capabilities").json()}
        is_problem(b.get(f"{API}/capabilities/text.secret"), 404)
        is_problem(b.get(f"{API}/models/secret/1.0.0/health"), 404)


def test_a_draft_comes_back_as_yaml_with_every_error_on_its_step(served: Served) -> None:
    document = shout_flow("draft", steps=2)
    document["steps"]["bad"] = {"uses": "capability/no.such", "with": {"text": "x"}}
    document["steps"]["typed"] = {"uses": "capability/text.upper", "with": {"text": 3}}
    document["steps"]["after_bad"] = {
        "uses": "capability/text.upper",
        "with": {"text": "${{ steps.bad.output.text }}"},
    }
    with served.client("viewer") as api:
        draft = api.post(f"{API}/workflows/draft", json={"document": document}).json()
    assert draft["valid"] is False
    by_step = {e["step"]: e for e in draft["errors"]}
    assert set(by_step) == {"bad", "typed"}  # after_bad only waits on a step at fault
    assert "no.such" in by_step["bad"]["message"]
    assert by_step["typed"]["field"] == "steps.typed.with.text"
    assert "integer is given" in by_step["typed"]["message"]
    lines = draft["yaml"].splitlines()
    assert lines[by_step["typed"]["line"] - 1].strip().startswith("text: 3")
    steps = {s["id"]: s for s in draft["steps"]}
    assert steps["s2"]["deps"] == ["s1"] and steps["after_bad"]["deps"] == ["bad"]
    assert steps["s1"]["input"] == [{"name": "text", "type": "string", "required": True}]


def test_a_draft_in_yaml_becomes_a_document_and_bad_yaml_names_its_line(served: Served) -> None:
    text = "name: y\ninputs: {text: string}\nsteps:\n  a:\n    uses: capability/text.upper\n"
    text += "    with: {text: '${{ inputs.text }}'}\n"
    with served.client("viewer") as api:
        draft = api.post(f"{API}/workflows/draft", json={"yaml": text}).json()
        assert draft["valid"] and draft["errors"] == []
        assert draft["document"]["steps"]["a"]["uses"] == "capability/text.upper"
        broken = api.post(f"{API}/workflows/draft", json={"yaml": "steps:\n  a: [\n"}).json()
        assert broken["document"] is None and broken["errors"][0]["line"]
        is_problem(api.post(f"{API}/workflows/draft", json={}), 422)


def test_the_run_graph_and_a_step_explain_the_run(served: Served) -> None:
    with served.client("operator") as api:
        body = {"workflow": shout_flow("graph", steps=3), "inputs": {"text": "hi"}, "wait": True}
        run = api.post(f"{API}/runs", json=body).json()
        graph = api.get(f"{API}/runs/{run['run_id']}/graph").json()
        assert [(s["id"], s["deps"]) for s in graph["steps"]] == [
            ("s1", []),
            ("s2", ["s1"]),
            ("s3", ["s2"]),
        ]
        assert graph["steps"][0]["uses"] == "capability/text.upper"
        step = api.get(f"{API}/runs/{run['run_id']}/steps/s2").json()
        assert step["status"] == "succeeded" and step["model"] == "shout@0.1.0"
        assert step["inputs"] == {"text": "HI"} and step["output"] == {"text": "HI"}
        assert step["decision"]["chosen"] == "shout@0.1.0" and step["decision"]["reason"]
        assert [e["type"] for e in step["events"]] == ["step_started", "step_succeeded"]
        is_problem(api.get(f"{API}/runs/{run['run_id']}/steps/nope"), 404)
    with served.client("b") as other:
        is_problem(other.get(f"{API}/runs/{run['run_id']}/graph"), 404)
        is_problem(other.get(f"{API}/runs/{run['run_id']}/steps/s1"), 404)


def test_overview_counts_runs_cost_and_open_approvals(served: Served) -> None:
    with served.client("operator") as api:
        for _ in range(2):
            body = {"workflow": shout_flow(), "inputs": {"text": "x"}, "wait": True}
            assert api.post(f"{API}/runs", json=body).json()["status"] == "succeeded"
        waiting = api.post(
            f"{API}/runs?wait=10", json={"workflow": gated_flow(), "inputs": {"text": "x"}}
        )
        assert waiting.json()["status"] == "waiting"
        found = api.get(f"{API}/overview").json()
        assert found["totals"]["succeeded"] == 2 and found["totals"]["waiting"] == 1
        assert found["open_approvals"] == 1 and found["error_rate"] == 0.0
        assert sum(b["counts"]["succeeded"] for b in found["buckets"]) == 2
        assert found["busiest"][0]["model"] == "shout@0.1.0" and found["busiest"][0]["calls"] == 2
        series = api.get(f"{API}/stats/series", params={"model": "shout"}).json()
        assert sum(p["calls"] for p in series["points"]) == 2
    with served.client("a") as tenant:  # another tenant's runs are not counted
        assert sum(tenant.get(f"{API}/overview").json()["totals"].values()) == 0


def test_runs_are_found_by_text_and_time(served: Served) -> None:
    with served.client("operator") as api:
        first = api.post(
            f"{API}/runs",
            json={"workflow": shout_flow("alpha"), "inputs": {"text": "x"}, "wait": True},
        ).json()
        middle = time.time()
        api.post(
            f"{API}/runs",
            json={"workflow": shout_flow("beta"), "inputs": {"text": "x"}, "wait": True},
        )
        names = [r["workflow"] for r in api.get(f"{API}/runs", params={"q": "ALP"}).json()["items"]]
        assert names == ["alpha"]
        assert [
            r["run_id"]
            for r in api.get(f"{API}/runs", params={"q": first["run_id"][-6:]}).json()["items"]
        ] == [first["run_id"]]
        recent = api.get(f"{API}/runs", params={"since": middle}).json()["items"]
        assert [r["workflow"] for r in recent] == ["beta"]
        older = api.get(f"{API}/runs", params={"until": middle}).json()["items"]
        assert [r["workflow"] for r in older] == ["alpha"]


def _signed_in(served: Served, role: str) -> tuple[httpx.Client, str]:
    token = served.key(role)
    browser = httpx.Client(base_url=served.url, timeout=30)
    form = browser.get("/sign-in")
    signin = re.search(r'name="signin_token" value="([^"]+)"', form.text)
    assert signin is not None
    done = browser.post(
        "/sign-in",
        content=f"key={token}&signin_token={signin.group(1)}&next=/runs",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert done.status_code == 303 and done.headers["location"] == "/runs"
    cookie = done.headers["set-cookie"]
    assert "HttpOnly" in cookie and "SameSite=strict" in cookie.replace("Strict", "strict")
    page = browser.get("/runs")
    csrf = re.search(r'name="csrf-token" content="([^"]+)"', page.text)
    assert csrf is not None
    return browser, csrf.group(1)


def test_a_session_reads_and_writes_only_with_its_csrf_token(served: Served) -> None:
    browser, csrf = _signed_in(served, "operator")
    with closing(browser):
        assert browser.get(f"{API}/runs").status_code == 200
        body = {"workflow": shout_flow(), "inputs": {"text": "x"}}
        is_problem(browser.post(f"{API}/runs", json=body), 403)
        is_problem(browser.post(f"{API}/runs", json=body, headers={"X-CSRF-Token": "no"}), 403)
        started = browser.post(f"{API}/runs", json=body, headers={"X-CSRF-Token": csrf})
        assert started.status_code == 201
        with served.client("viewer") as api:
            until_status(api, started.json()["run_id"], "succeeded")


def test_sign_in_refuses_bad_keys_foreign_forms_and_outside_redirects(served: Served) -> None:
    with httpx.Client(base_url=served.url, timeout=30) as browser:
        form = browser.get("/sign-in?next=//evil.example/x")
        token = re.search(r'name="signin_token" value="([^"]+)"', form.text)
        assert token is not None and 'name="next" value="/"' in form.text
        headers = {"Content-Type": "application/x-www-form-urlencoded"}
        bad = browser.post(
            "/sign-in", content=f"key=pdm_x&signin_token={token.group(1)}", headers=headers
        )
        assert bad.status_code == 401 and "unknown" in bad.text
        browser.cookies.clear()
        foreign = browser.post(
            "/sign-in", content=f"key={served.key('admin')}&signin_token=x", headers=headers
        )
        assert foreign.status_code == 403
    with httpx.Client(base_url=served.url, timeout=30) as anonymous:
        page = anonymous.get("/runs/abc")
        assert page.status_code == 303 and page.headers["location"].startswith("/sign-in?next=")


def test_revoking_the_key_ends_its_sessions_and_sign_out_ends_one(served: Served) -> None:
    browser, csrf = _signed_in(served, "viewer")
    with closing(browser):
        keys = KeyRing(served.orchestrator.store)
        newest = max(keys.list(), key=lambda k: k.created_at)
        assert browser.get(f"{API}/runs").status_code == 200
        keys.revoke(newest.key_id)
        time.sleep(1.1)  # a session is trusted for a second before it is read again
        is_problem(browser.get(f"{API}/runs"), 401)
    browser, csrf = _signed_in(served, "viewer")
    with closing(browser):
        out = browser.post(
            "/sign-out",
            content=f"csrf={csrf}",
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )
        assert out.status_code == 303
        assert browser.get("/runs").status_code == 303


def test_pages_carry_a_strict_content_security_policy(served: Served) -> None:
    browser, _ = _signed_in(served, "admin")
    with closing(browser):
        page = browser.get("/")
        assert page.status_code == 200
        assert "script-src 'self'" in page.headers["content-security-policy"]
        assert page.headers["x-frame-options"] == "DENY"
        assert browser.get("/static/js/app.js").status_code == 200
        viewer, _ = _signed_in(served, "viewer")
        with closing(viewer):
            models = viewer.get("/models").text
            assert "register-form" not in models
        assert "register-form" in browser.get("/models").text


def test_a_step_shows_its_cascade_stages(served: Served) -> None:
    orch = served.orchestrator

    @orch.model(capabilities=["risk.test"], cost={"per_call": 0.001}, quality={"risk.test": 0.7})
    def cheap(x: float) -> dict[str, Any]:
        return {"label": "ok", "confidence": 0.5}

    @orch.model(capabilities=["risk.test"], cost={"per_call": 0.01}, quality={"risk.test": 0.9})
    def dear(x: float) -> dict[str, Any]:
        return {"label": "fraud", "confidence": 0.99}

    flow = {
        "name": "cascaded",
        "inputs": {"x": "number"},
        "steps": {
            "score": {
                "uses": "capability/risk.test",
                "with": {"x": "${{ inputs.x }}"},
                "route": {"policy": "cascade", "threshold": 0.8},
            }
        },
    }
    with served.client("operator") as api:
        run = api.post(f"{API}/runs", json={"workflow": flow, "inputs": {"x": 1}, "wait": True})
        assert run.json()["status"] == "succeeded", run.text
        step = api.get(f"{API}/runs/{run.json()['run_id']}/steps/score").json()
    assert [s["model"] for s in step["decision"]["cascade"]] == ["cheap@0.1.0", "dear@0.1.0"]
    assert [s["model"] for s in step["cascade"]] == ["cheap@0.1.0", "dear@0.1.0"]
    assert step["model"] == "dear@0.1.0" and step["output"]["label"] == "fraud"
