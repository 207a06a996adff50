"""What can be known about a model before it first runs, checked when it is registered.

:func:`check_runnable` refuses a manifest whose model could not run: a python
``runtime.target`` that does not import or lacks the attribute; an sklearn or onnx
``runtime.path`` (or an embedding ``runtime.model`` that is a path) that does not exist; a
skops file holding a type that neither the loader's allow-list nor ``runtime.trusted``
trusts; an http or openai URL that is not ``http(s)://host...``; an http model with no
endpoint. Each refusal is a :class:`ManifestError` naming the manifest file, the line and
the field.

``thorough=False`` keeps to what costs a few ``stat`` calls (files, URLs): it is what runs
on entry-point discovery at every process start. ``thorough=True`` (explicit registration
of a manifest file or folder) also imports python targets, which runs the module's code,
and reads the type list of skops files.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from podium._imports import import_module_near
from podium._yaml import line_of
from podium.errors import ManifestError
from podium.registry._spec import (
    EmbeddingRuntime,
    HttpRuntime,
    ModelSpec,
    OnnxRuntime,
    OpenAIRuntime,
    PythonRuntime,
    SklearnRuntime,
)

#: Module prefixes whose types a skops file may hold without the manifest trusting them.
TRUSTED_PREFIXES: tuple[str, ...] = ("sklearn.", "numpy.", "scipy.")

#: Embedding model names that a package bundles (they are names, not paths).
_BUNDLED_EMBEDDINGS = frozenset({"all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"})


def first_untrusted(reported: Sequence[str], extra: Sequence[str] = ()) -> str | None:
    """The first of ``reported`` (skops' untrusted types) that nothing trusts, or ``None``.

    Trusted are :data:`TRUSTED_PREFIXES` and the names in ``extra`` (a manifest's
    ``runtime.trusted``; an entry ending in ``.`` or ``.*`` trusts that prefix).
    """
    exact = {name for name in extra if not name.endswith((".", ".*"))}
    prefixes = TRUSTED_PREFIXES + tuple(
        name.removesuffix("*") for name in extra if name.endswith((".", ".*"))
    )
    return next((n for n in reported if n not in exact and not n.startswith(prefixes)), None)


def skops_types(path: Path) -> list[str]:
    """The types in the skops file at ``path`` that skops does not trust by itself."""
    import skops.io as sio

    try:
        return list(sio.get_untrusted_types(file=path))
    except FileNotFoundError:
        raise ManifestError("model file not found", file=str(path), field="runtime.path") from None
    except Exception as exc:
        raise ManifestError(
            f"not a readable skops file: {exc}", file=str(path), field="runtime.path"
        ) from None


class _Where:
    """Locates a spec's fields in the manifest YAML it came from (when it came from one)."""

    def __init__(self, spec: ModelSpec, data: Any) -> None:
        self.spec = spec
        self.data = data

    def error(self, message: str, *path: str | int) -> ManifestError:
        line = line_of(self.data, path) if self.data is not None else None
        field = ".".join(str(p) if isinstance(p, str) else f"[{p}]" for p in path)
        return ManifestError(
            f"{self.spec.key}: {message}",
            file=self.spec.source,
            line=line,
            field=field.replace(".[", "["),
        )


def check_runnable(spec: ModelSpec, data: Any = None, *, thorough: bool = True) -> None:
    """Refuse ``spec`` if its model cannot run; ``data`` is its manifest's YAML, for lines."""
    where = _Where(spec, data)
    runtime = spec.runtime
    if isinstance(runtime, PythonRuntime):
        if thorough and runtime.target:
            _check_target(where, runtime.target, spec.source)
    elif isinstance(runtime, SklearnRuntime | OnnxRuntime):
        _check_file(where, Path(runtime.path))
        if thorough and isinstance(runtime, SklearnRuntime):
            _check_skops(where, Path(runtime.path), runtime.trusted)
    elif isinstance(runtime, EmbeddingRuntime):
        _check_embedding(where, runtime.model)
    elif isinstance(runtime, HttpRuntime | OpenAIRuntime):
        _check_urls(where, spec, runtime)


def _check_target(where: _Where, target: str, manifest: str | None = None) -> None:
    module_name, sep, attr_path = target.partition(":")
    if not sep or not module_name or not attr_path:
        raise where.error(
            f"target '{target}' must look like 'package.module:object'", "runtime", "target"
        )
    try:
        obj: Any = import_module_near(module_name, manifest)
    except ImportError as exc:
        raise where.error(
            f"cannot import '{module_name}': {exc} (is its folder on PYTHONPATH?)",
            "runtime",
            "target",
        ) from None
    except (Exception, SystemExit) as exc:
        raise where.error(
            f"importing '{module_name}' failed: {type(exc).__name__}: {exc}", "runtime", "target"
        ) from None
    for part in attr_path.split("."):
        if not hasattr(obj, part):
            raise where.error(
                f"module '{module_name}' has no attribute '{attr_path}'", "runtime", "target"
            )
        obj = getattr(obj, part)
    if not callable(obj) and not callable(getattr(obj, "predict", None)):
        raise where.error(
            f"'{target}' is a {type(obj).__name__}: neither callable nor has a predict method",
            "runtime",
            "target",
        )


def _check_file(where: _Where, path: Path) -> None:
    # A relative path (possible only for a spec built in code) resolves against the home
    # folder when the model is called, which the registry does not know: it is not checked.
    if path.is_absolute() and not path.is_file():
        problem = "is a folder, not a model file" if path.is_dir() else "does not exist"
        raise where.error(f"model file {path} {problem}", "runtime", "path")


def _check_skops(where: _Where, path: Path, trusted: Sequence[str]) -> None:
    if not path.is_absolute():
        return
    try:
        reported = skops_types(path)
    except ManifestError as exc:
        raise where.error(f"{path}: {exc.message}", "runtime", "path") from None
    untrusted = first_untrusted(reported, trusted)
    if untrusted is not None:
        raise where.error(
            f"{path} holds the untrusted type '{untrusted}'; add it to runtime.trusted only "
            "if you trust the file's author",
            "runtime",
            "trusted" if trusted else "path",
        )


def _looks_like_path(name: str) -> bool:
    if name in _BUNDLED_EMBEDDINGS:
        return False
    return Path(name).is_absolute() or name.startswith(("./", "../", "~", ".\\", "..\\"))


def _check_embedding(where: _Where, name: str) -> None:
    if not _looks_like_path(name):
        return
    path = Path(name).expanduser()
    if path.is_absolute() and not path.is_dir():
        problem = "is a file, not a model folder" if path.exists() else "does not exist"
        raise where.error(f"embedding model folder {name} {problem}", "runtime", "model")
    if not path.is_absolute() and where.data is not None:  # not found beside the manifest
        raise where.error(
            f"embedding model folder {name} does not exist (next to the manifest)",
            "runtime",
            "model",
        )


def _check_urls(where: _Where, spec: ModelSpec, runtime: HttpRuntime | OpenAIRuntime) -> None:
    default = runtime.url if isinstance(runtime, HttpRuntime) else runtime.base_url
    name = "url" if isinstance(runtime, HttpRuntime) else "base_url"
    if default is not None:
        _check_url(where, default, ("runtime", name))
    if isinstance(spec.instances, list):
        for i, instance in enumerate(spec.instances):
            for attr in ("url", "base_url"):
                value = getattr(instance, attr)
                if value is not None:
                    _check_url(where, value, ("instances", i, attr))
    if isinstance(runtime, HttpRuntime) and default is None:
        missing = [i for i, inst in enumerate(spec.instance_list()) if not inst.url]
        if missing:
            path: tuple[str | int, ...] = (
                ("instances", missing[0], "url")
                if isinstance(spec.instances, list)
                else ("runtime",)
            )
            raise where.error(
                "has no endpoint: set runtime.url, or give every instance a url", *path
            )


def _check_url(where: _Where, url: str, path: tuple[str | int, ...]) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname
        parts.port  # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError as exc:
        raise where.error(f"'{_shown(url)}' is not a valid URL: {exc}", *path) from None
    if parts.scheme not in ("http", "https"):
        scheme = f"scheme '{parts.scheme}'" if parts.scheme else "no scheme"
        raise where.error(
            f"'{_shown(url)}' has {scheme}; expected an http:// or https:// URL", *path
        )
    if not host:
        raise where.error(
            f"'{_shown(url)}' names no host; expected http(s)://HOST[:PORT]/...", *path
        )


def _shown(url: str) -> str:
    """``url`` without user info, query or fragment (they may hold secrets)."""
    url = re.split(r"[?#]", url, maxsplit=1)[0]
    head, sep, rest = url.partition("://")
    if not sep:
        return url
    netloc, slash, tail = rest.partition("/")
    return f"{head}://{netloc.rpartition('@')[2]}{slash}{tail}"
