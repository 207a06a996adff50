"""Reading model manifests (YAML files, or folders of them) into :class:`ModelSpec`."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from podium._limits import DEFAULT_LIMITS, Limits
from podium._yaml import line_of, load_yaml_file, plain
from podium.errors import ManifestError, SchemaError
from podium.registry._spec import ModelSpec

_PATH_FIELDS = {"sklearn": "path", "onnx": "path"}


def spec_from_mapping(
    data: Any, *, source: str | None = None, base_dir: Path | None = None
) -> ModelSpec:
    """Validate one manifest mapping; errors name ``source``, the line and the field."""
    if not isinstance(data, dict):
        raise ManifestError("a manifest must be a mapping of fields", file=source, line=1)
    raw = plain(data)
    runtime = raw.get("runtime")
    if base_dir is not None and isinstance(runtime, dict):
        key = _PATH_FIELDS.get(str(runtime.get("kind")))
        if key and isinstance(runtime.get(key), str):
            file = Path(runtime[key]).expanduser()
            runtime[key] = str(file if file.is_absolute() else (base_dir / file).resolve())
        if runtime.get("kind") == "embedding" and isinstance(runtime.get("model"), str):
            candidate = base_dir / runtime["model"]
            if candidate.exists():
                runtime["model"] = str(candidate.resolve())
    if source is not None:
        raw["source"] = source
    try:
        return ModelSpec.model_validate(raw)
    except ValidationError as exc:
        first = exc.errors()[0]
        loc = [p for p in first["loc"] if not (isinstance(p, str) and p[:1].isupper())]
        if len(loc) > 1 and loc[0] == "runtime" and loc[1] == (runtime or {}).get("kind"):
            del loc[1]  # pydantic's discriminator tag, not a field the user wrote
        field = ".".join(str(p) for p in loc) or None
        message = first["msg"].removeprefix("Value error, ")
        if first["type"] == "missing":
            message = "is required"
        elif first["type"] == "extra_forbidden":
            message = "is not a manifest field"
        raise ManifestError(
            message, file=source, line=line_of(data, loc) if loc else None, field=field
        ) from None
    except SchemaError as exc:
        raise ManifestError(
            exc.message,
            file=source,
            line=line_of(data, (exc.field or "").split(".")),
            field=exc.field,
        ) from None


@dataclass(frozen=True)
class Manifest:
    """One manifest document: its spec, and the YAML it came from (it knows its lines)."""

    spec: ModelSpec
    data: Any
    source: str

    def line(self, *path: str | int) -> int | None:
        """The line of the field at ``path`` (the document's first line for no path)."""
        return line_of(self.data, path)


def load_manifests(path: str | Path, *, limits: Limits = DEFAULT_LIMITS) -> list[ModelSpec]:
    """Every manifest in a file (one document, or a list of them) or a folder (recursive)."""
    return [manifest.spec for manifest in read_manifests(path, limits=limits)]


def read_manifests(path: str | Path, *, limits: Limits = DEFAULT_LIMITS) -> list[Manifest]:
    """Every manifest document in a file or folder, with the YAML each came from.

    The same ``name@version`` defined twice with different specs (in two files, or twice
    in one) is a :class:`ManifestError` naming both places; identical copies count once.
    """
    target = Path(path)
    if not target.exists():
        raise ManifestError("no such file or folder", file=str(path))
    if target.is_dir():
        files = sorted(
            p for p in target.rglob("*") if p.suffix in (".yaml", ".yml") and p.is_file()
        )
        if not files:
            raise ManifestError("no manifest files (*.yaml, *.yml) in this folder", file=str(path))
        found = [manifest for f in files for manifest in _read_file(f, limits)]
    else:
        found = _read_file(target, limits)
    return _without_duplicates(found)


def _read_file(target: Path, limits: Limits) -> list[Manifest]:
    data = load_yaml_file(target, ManifestError, limits=limits)
    documents = data if isinstance(data, list) else [data]
    base_dir = target.parent.resolve()
    return [
        Manifest(spec_from_mapping(doc, source=str(target), base_dir=base_dir), doc, str(target))
        for doc in documents
    ]


def _without_duplicates(manifests: list[Manifest]) -> list[Manifest]:
    first: dict[str, Manifest] = {}
    kept: list[Manifest] = []
    for manifest in manifests:
        seen = first.get(manifest.spec.key)
        if seen is None:
            first[manifest.spec.key] = manifest
            kept.append(manifest)
            continue
        if _same(seen.spec, manifest.spec):
            continue
        raise ManifestError(
            f"{manifest.spec.key} is also defined in {seen.source}:{seen.line('version')} "
            "with a different spec; give one of them another version",
            file=manifest.source,
            line=manifest.line("version"),
            field="version",
        )
    return kept


def _same(a: ModelSpec, b: ModelSpec) -> bool:
    return a.model_dump(exclude={"source"}) == b.model_dump(exclude={"source"})
