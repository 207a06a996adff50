"""Plans (made and run), call statistics scoped to the tenant, and API keys."""

from __future__ import annotations

import time

import httpx
from api_support import API, is_problem, shout_flow
from server_support import Served


def _types(served: Served) -> None:
    @served.orchestrator.model(
        capabilities=["text.loud"], consumes=["text"], produces=["loud"], cost=0.001
    )
    def loudly(text: str) -> dict[str, str]:
        """Makes text loud: upper case."""
        return {"loud": text.upper()}


def test_plan_a_goal_and_run_it(served: Served) -> None:
    _types(served)
    with served.client("operator") as client:
        planned = client.post(f"{API}/plans", json={"want": ["loud"], "given": {"message": "text"}})
        assert planned.status_code == 200, planned.text
        plan = planned.json()["plan"]
        assert planned.json()["run"] is None
        assert plan["wanted"] == ["loud"]
        assert [s["uses"] for s in plan["steps"]] == ["capability/text.loud"]
        ran = client.post(
            f"{API}/plans",
            json={
                "want": ["loud"],
                "given": {"message": "text"},
                "run": True,
                "inputs": {"message": "hey"},
                "wait": True,
            },
        )
        assert ran.status_code == 201, ran.text
        run = ran.json()["run"]
        assert run["status"] == "succeeded"
        assert ran.headers["location"] == f"{API}/runs/{run['run_id']}"
        nothing = client.post(f"{API}/plans", json={"goal": "  "})
        assert is_problem(nothing, 422)["field"] == "goal"
        unknown = client.post(f"{API}/plans", json={"want": ["loud"], "cost": 1})
        assert is_problem(unknown, 422)["field"] == "cost"
    [record] = served.orchestrator.runs()
    assert record.principal is not None and record.principal.startswith("key:")


def test_stats_by_model_and_capability_scoped_to_the_tenant(served: Served) -> None:
    with served.client("a") as a, served.client("b") as b, served.client("viewer") as every:
        body = {"workflow": shout_flow(steps=3), "inputs": {"text": "s"}, "wait": True}
        for _ in range(2):
            assert a.post(f"{API}/runs", json=body).json()["status"] == "succeeded"
        b.post(f"{API}/runs", json=body | {"workflow": shout_flow(steps=1)})
        run_id = a.get(f"{API}/runs").json()["items"][0]["run_id"]
        served.orchestrator.feedback(run_id, "s1", 0.25)
        by_model = a.get(f"{API}/stats").json()
        [shout] = by_model["items"]
        assert by_model["tenant"] == "a" and by_model["runs"] == 2
        assert shout["key"] == "shout@0.1.0"
        assert shout["calls"] == 6 and shout["errors"] == 0
        assert shout["p50_ms"] is not None and shout["p95_ms"] >= shout["p50_ms"]
        assert shout["quality"] == 0.25 and shout["quality_from"] == "feedback"
        [cap] = a.get(f"{API}/stats", params={"by": "capability"}).json()["items"]
        assert cap["key"] == "text.upper" and cap["calls"] == 6
        assert b.get(f"{API}/stats").json()["items"][0]["calls"] == 1
        assert every.get(f"{API}/stats").json()["items"][0]["calls"] == 7
        assert every.get(f"{API}/stats", params={"since": time.time() + 60}).json()["runs"] == 0


def test_stats_count_failed_attempts_as_errors(served: Served) -> None:
    @served.orchestrator.model(capabilities=["text.broken"])
    def broken(text: str) -> dict[str, str]:
        raise RuntimeError("no")

    flow = {
        "name": "breaks",
        "steps": {
            "x": {
                "uses": "capability/text.broken",
                "with": {"text": "t"},
                "retry": {"attempts": 2, "backoff_s": 0},
            }
        },
    }
    with served.client("operator") as client:
        assert (
            client.post(f"{API}/runs", json={"workflow": flow, "wait": True}).json()["status"]
            == "failed"
        )
        [item] = client.get(f"{API}/stats").json()["items"]
    assert item["key"] == "broken@0.1.0"
    assert item["errors"] == 2 and item["calls"] == 2 and item["error_rate"] == 1.0


def test_keys_are_listed_created_once_and_revoked(served: Served) -> None:
    with served.client("admin") as admin:
        made = admin.post(
            f"{API}/keys",
            json={"role": "viewer", "label": "dashboard", "expires_at": time.time() + 3600},
        )
        assert made.status_code == 201, made.text
        key = made.json()
        assert key["token"].startswith("pdm_") and key["state"] == "active"
        listed = {k["key_id"]: k for k in admin.get(f"{API}/keys").json()}
        assert (
            "token" not in listed[key["key_id"]] and listed[key["key_id"]]["label"] == "dashboard"
        )
        with httpx.Client(
            base_url=served.url, headers={"Authorization": f"Bearer {key['token']}"}
        ) as new:
            assert new.get(f"{API}/runs").status_code == 200
        revoked = admin.delete(f"{API}/keys/{key['key_id']}")
        assert revoked.json()["state"] == "revoked"
        is_problem(admin.delete(f"{API}/keys/000000000000"), 404)
        past = admin.post(f"{API}/keys", json={"role": "viewer", "expires_at": 1.0})
        assert is_problem(past, 422)["field"] == "expires_at"
        bad_role = admin.post(f"{API}/keys", json={"role": "root"})
        assert is_problem(bad_role, 422)["field"] == "role"
        bad_tenant = admin.post(f"{API}/keys", json={"role": "viewer", "tenant": "Not OK"})
        assert is_problem(bad_tenant, 422)["field"] == "tenant"
        sneaky = admin.post(f"{API}/keys", json={"role": "viewer", "key_id": "mine"})
        assert is_problem(sneaky, 422)["field"] == "key_id"


def test_a_tenants_admin_manages_its_tenants_keys_only(served: Served) -> None:
    token = served.key("admin", tenant="a")
    with httpx.Client(
        base_url=served.url, headers={"Authorization": f"Bearer {token}"}
    ) as tenant_admin:
        mine = tenant_admin.post(f"{API}/keys", json={"role": "operator"})
        assert mine.status_code == 201 and mine.json()["tenant"] == "a"
        is_problem(tenant_admin.post(f"{API}/keys", json={"role": "viewer", "tenant": "b"}), 403)
        listed = tenant_admin.get(f"{API}/keys").json()
        assert {k["tenant"] for k in listed} == {"a"}
        b_key = next(
            k
            for k in served.orchestrator.store.documents("auth.key").values()
            if k.get("tenant") == "b"
        )
        is_problem(tenant_admin.delete(f"{API}/keys/{b_key['key_id']}"), 404)
