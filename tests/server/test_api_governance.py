"""The audit log over the API (admins, tenant-filtered, paged), usage, and a run's lineage."""

from __future__ import annotations

from api_support import API, is_problem, shout_flow
from server_support import Served

from podium.governance._audit import verify


def _run(served: Served, who: str, text: str) -> str:
    with served.client(who) as client:
        started = client.post(
            f"{API}/runs?wait", json={"workflow": shout_flow(steps=2), "inputs": {"text": text}}
        )
        assert started.status_code in (200, 201), started.text
        assert started.json()["status"] == "succeeded"
        return str(started.json()["run_id"])


def test_the_audit_log_is_for_admins_and_pages_in_order(served: Served) -> None:
    first = _run(served, "a", "one")
    _run(served, "b", "two")
    with served.client("operator") as client:
        assert is_problem(client.get(f"{API}/audit"), 403)
    with served.client("admin") as client:
        page = client.get(f"{API}/audit", params={"limit": 5})
        assert page.status_code == 200, page.text
        body = page.json()
        assert [r["seq"] for r in body["items"]] == [1, 2, 3, 4, 5]
        assert body["next_after"] == 5 and body["head"].count(":") == 1
        rest = client.get(f"{API}/audit", params={"after": 5, "limit": 1000}).json()
        assert rest["items"][0]["seq"] == 6 and rest["next_after"] is None
        records = body["items"] + rest["items"]
        kinds = [r["kind"] for r in records]
        # the keys created for the test, then the runs
        assert kinds.count("key.created") == 5 and kinds.count("model.call") == 4
        created = [r for r in records if r["kind"] == "key.created"]
        assert all("hash" not in r["data"] and "salt" not in r["data"] for r in created)
        mine = client.get(f"{API}/audit", params={"tenant": "a", "limit": 1000}).json()["items"]
        assert {r["tenant"] for r in mine} == {"a"}
        assert next(r["kind"] for r in mine if r["run_id"] == first) == "run.started"
        assert mine[0]["principal"].startswith("key:")
        assert is_problem(client.get(f"{API}/audit", params={"limit": 0}), 422)
        # past what the database's integers hold: refused, never a server error
        assert is_problem(client.get(f"{API}/audit", params={"after": 2**107}), 422)
        assert is_problem(client.get(f"{API}/audit", params={"since": "inf"}), 422)
    assert verify(served.orchestrator.store).ok


def test_a_tenant_admin_sees_only_its_tenant(served: Served) -> None:
    _run(served, "a", "one")
    _run(served, "b", "two")
    served.keys["admin-a"] = served.key("admin", "a")
    with served.client("admin-a") as client:
        items = client.get(f"{API}/audit", params={"tenant": "b", "limit": 1000}).json()["items"]
        assert items and {r["tenant"] for r in items} == {"a"}


def test_usage_by_tenant_and_model(served: Served) -> None:
    _run(served, "a", "one")
    _run(served, "a", "two")
    _run(served, "b", "three")
    with served.client("viewer") as client:
        by_tenant = client.get(f"{API}/usage", params={"by": "tenant"}).json()["items"]
        assert {r["key"]: r["calls"] for r in by_tenant} == {"a": 4, "b": 2}
        by_model = client.get(f"{API}/usage", params={"by": "model"}).json()["items"]
        assert {r["key"]: r["calls"] for r in by_model} == {"shout@0.1.0": 6}
        assert is_problem(client.get(f"{API}/usage", params={"by": "colour"}), 422)
    with served.client("b") as client:
        scoped = client.get(f"{API}/usage", params={"tenant": "a"}).json()
        assert scoped["tenant"] == "b" and [r["key"] for r in scoped["items"]] == ["b"]


def test_a_run_view_holds_its_lineage_tree(served: Served) -> None:
    run_id = _run(served, "operator", "hi")
    with served.client("viewer") as client:
        detail = client.get(f"{API}/runs/{run_id}").json()
    tree = detail["lineage_tree"]
    [output] = tree["outputs"]
    assert output["output"] == "text"
    [s2] = output["from"]
    assert s2["step"] == "s2" and s2["model"] == "shout@0.1.0"
    assert [u["step"] for u in s2["from"]] == ["s1"]
    assert tree["models"][0]["calls"] == 2
