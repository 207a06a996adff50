"""Layer 1: model specs, versions, the capability index, manifests and discovery."""

from podium.registry._manifest import load_manifests, spec_from_mapping
from podium.registry._registry import ANY_TENANT, ENTRY_POINT_GROUP, Registry
from podium.registry._schema import Field, Schema, assignable, type_of
from podium.registry._spec import (
    Cost,
    EmbeddingRuntime,
    HttpRuntime,
    Instance,
    ModelSpec,
    OnnxRuntime,
    OpenAIRuntime,
    PythonRuntime,
    Resources,
    SklearnRuntime,
)
from podium.registry._versions import ModelRef, VersionSpec, parse_version

__all__ = [
    "ANY_TENANT",
    "ENTRY_POINT_GROUP",
    "Cost",
    "EmbeddingRuntime",
    "Field",
    "HttpRuntime",
    "Instance",
    "ModelRef",
    "ModelSpec",
    "OnnxRuntime",
    "OpenAIRuntime",
    "PythonRuntime",
    "Registry",
    "Resources",
    "Schema",
    "SklearnRuntime",
    "VersionSpec",
    "assignable",
    "load_manifests",
    "parse_version",
    "spec_from_mapping",
    "type_of",
]
