"""The Ray executor's pure parts: what runs there, pool sizes, resource options, and how
an answer or a Ray failure comes back (no Ray instance is started here)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from podium.adapters import AdapterEnv, AdapterPool, Placement
from podium.adapters._ray import RayExecutor, model_error, pool_shape, ray_options, shortfall
from podium.adapters._ray_worker import unwrap
from podium.errors import ManifestError, ModelCallError, UserError, WorkerLostError
from podium.registry import ModelSpec, spec_from_mapping


def _spec(**fields: Any) -> ModelSpec:
    base: dict[str, Any] = {"name": "m", "version": "1.0.0", "capabilities": ["t.x"]}
    return spec_from_mapping(base | fields)


RUNTIMES = {
    "python-target": ({"kind": "python", "target": "mod:fn"}, True),
    "python-in-process": ({"kind": "python"}, False),
    "sklearn": ({"kind": "sklearn", "path": "m.skops"}, True),
    "onnx": ({"kind": "onnx", "path": "m.onnx"}, True),
    "embedding": ({"kind": "embedding", "model": "all-MiniLM-L6-v2"}, True),
    "http": ({"kind": "http", "url": "http://127.0.0.1:9/x"}, False),
    "openai": ({"kind": "openai", "base_url": "http://127.0.0.1:9/v1", "model": "x"}, False),
}


@pytest.mark.parametrize("name", list(RUNTIMES))
def test_only_models_that_load_in_a_worker_go_to_ray(tmp_path: Path, name: str) -> None:
    runtime, shipped = RUNTIMES[name]
    spec = _spec(runtime=runtime)
    pool = AdapterPool(AdapterEnv(tmp_path, implementations=lambda s: None))
    assert RayExecutor(pool.env).runs(spec) is shipped
    ray = Placement("ray")
    assert pool.placed(spec, ray) == (ray if shipped else Placement("local"))


def test_the_actor_pool_shares_max_concurrency_between_instances() -> None:
    assert pool_shape(_spec()) == [None]
    assert pool_shape(_spec(instances=3)) == [None, None, None]
    assert pool_shape(_spec(resources={"max_concurrency": 2})) == [2]
    assert pool_shape(_spec(instances=3, resources={"max_concurrency": 2})) == [1, 1]
    assert pool_shape(_spec(instances=3, resources={"max_concurrency": 7})) == [3, 2, 2]
    for instances, limit in [(1, 1), (2, 5), (4, 4), (5, 3), (3, 10)]:
        shape = pool_shape(_spec(instances=instances, resources={"max_concurrency": limit}))
        assert sum(s or 0 for s in shape) == limit and all(s and s >= 1 for s in shape)


def test_declared_resources_become_ray_options_and_only_those() -> None:
    assert ray_options(_spec()) == {}
    assert ray_options(_spec(resources={"max_concurrency": 2})) == {}
    wanted = {"cpus": 0.5, "gpus": 1, "memory_mb": 512}
    assert ray_options(_spec(resources=wanted)) == {
        "num_cpus": 0.5,
        "num_gpus": 1,
        "memory": 512 * 1024 * 1024,
    }


def test_a_request_beyond_a_local_instance_is_named() -> None:
    capacity = {"CPU": 2.0, "memory": 4.0 * 1024**3, "object_store_memory": 1e9}
    assert shortfall({}, capacity) is None
    assert shortfall(ray_options(_spec(resources={"cpus": 2, "memory_mb": 4096})), capacity) is None
    gpu = ray_options(_spec(resources={"gpus": 1}))
    assert shortfall(gpu, capacity) == "resources.gpus asks for 1; the local Ray instance has 0"
    memory = ray_options(_spec(resources={"memory_mb": 8192}))
    assert shortfall(memory, capacity) == (
        "resources.memory_mb asks for 8192; the local Ray instance has 4096"
    )
    assert "resources.cpus asks for 2.5" in str(shortfall({"num_cpus": 2.5}, capacity))


def test_bad_resources_name_their_field() -> None:
    with pytest.raises(ManifestError) as info:
        _spec(resources={"cpus": -1})
    assert info.value.field == "resources.cpus"
    with pytest.raises(ManifestError) as info:
        _spec(resources={"threads": 2})
    assert info.value.field == "resources.threads"


def test_an_answer_comes_back_as_the_error_it_would_have_been_in_process() -> None:
    assert unwrap({"output": {"a": 1}}) == {"a": 1}
    with pytest.raises(ModelCallError) as info:
        unwrap({"error": "m@1.0.0: boom", "retryable": False})
    assert str(info.value) == "m@1.0.0: boom" and info.value.retryable is False
    with pytest.raises(ManifestError) as manifest:
        unwrap(
            {
                "user_error": "ManifestError",
                "message": "cannot import 'nowhere'",
                "file": "m.yaml",
                "line": None,
                "field": "runtime.target",
            }
        )
    assert manifest.value.field == "runtime.target" and manifest.value.file == "m.yaml"
    with pytest.raises(UserError) as other:  # a name outside the error tree: a plain UserError
        unwrap({"user_error": "SystemExit", "message": "no", "file": None, "field": None})
    assert type(other.value) is UserError


def test_ray_failures_become_model_call_errors() -> None:
    exceptions = pytest.importorskip("ray.exceptions")
    spec = _spec()
    died = model_error(exceptions.RayActorError(), spec)
    assert isinstance(died, WorkerLostError)  # its attempt is given back, once
    assert died.retryable and "the Ray actor died mid-call" in str(died)
    crashed = model_error(exceptions.WorkerCrashedError(), spec)
    assert crashed.retryable and "the Ray worker died mid-call" in str(crashed)
    never = model_error(exceptions.TaskUnschedulableError("no node has 64 GPUs"), spec)
    assert not never.retryable and "64 GPUs" in str(never)
    assert not isinstance(never, WorkerLostError)
    assert str(died).startswith("m@1.0.0: ")
