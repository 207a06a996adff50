"""Registering a manifest refuses a model that cannot run, naming file, line and field.

Also: two definitions of one ``name@version`` that differ are refused, naming both files.
"""

from __future__ import annotations

import textwrap
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from podium.errors import ManifestError
from podium.registry import Registry, spec_from_mapping
from podium.registry import _registry as registry_module
from podium.registry._checks import check_runnable
from podium.store import MemoryStore

skops_io = pytest.importorskip("skops.io")

from sklearn.base import BaseEstimator, TransformerMixin  # noqa: E402
from sklearn.linear_model import LogisticRegression  # noqa: E402
from sklearn.pipeline import make_pipeline  # noqa: E402
from sklearn.tree import DecisionTreeClassifier  # noqa: E402

HEAD = "name: m\nversion: 1.0.0\ncapabilities: [t.x]\n"


class Doubler(BaseEstimator, TransformerMixin):
    """A custom transformer: skops and the sklearn adapter do not trust it by default."""

    def fit(self, x: Any, y: Any = None) -> Doubler:
        return self

    def transform(self, x: Any) -> Any:
        return np.asarray(x) * 2


@pytest.fixture
def registry() -> Registry:
    return Registry(MemoryStore())


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def refused(registry: Registry, path: Path, field: str, words: str) -> ManifestError:
    """Registering ``path`` fails on the line of ``field``, and registers nothing."""
    with pytest.raises(ManifestError) as info:
        registry.register_path(path)
    error = info.value
    text = path.read_text() if path.is_file() else ""
    key = field.rpartition(".")[2]
    line = next((i for i, t in enumerate(text.splitlines(), 1) if f"{key}:" in t), None)
    assert str(error).startswith(f"{path}:{line}: {field}: "), str(error)
    assert words in error.message, error.message
    assert "\n" not in str(error)
    assert len(registry) == 0
    return error


def _xy() -> tuple[Any, Any]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(40, 3))
    return x, np.where(x[:, 0] > 0, "yes", "no")


# ------------------------------------------------------------------------- python targets


def test_a_target_module_that_does_not_import_is_refused(
    tmp_path: Path, registry: Registry
) -> None:
    path = write(tmp_path, "m.yaml", HEAD + 'runtime: {kind: python, target: "nosuchmod:f"}\n')
    error = refused(registry, path, "runtime.target", "cannot import 'nosuchmod'")
    assert "PYTHONPATH" in error.message


def test_a_target_without_the_attribute_is_refused(tmp_path: Path, registry: Registry) -> None:
    path = write(
        tmp_path,
        "m.yaml",
        HEAD + "runtime:\n  kind: python\n  target: podium.demo.support:NoSuchModel\n",
    )
    refused(registry, path, "runtime.target", "has no attribute 'NoSuchModel'")


def test_a_target_module_that_raises_on_import_is_refused(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    write(tmp_path / "code", "broken_models.py", "raise RuntimeError('needs a GPU')\n")
    write(tmp_path / "code", "good_models.py", "def f(text):\n    return {'text': text}\n")
    monkeypatch.syspath_prepend(str(tmp_path / "code"))
    path = write(tmp_path, "m.yaml", HEAD + "runtime: {kind: python, target: broken_models:f}\n")
    refused(registry, path, "runtime.target", "RuntimeError: needs a GPU")
    good = write(tmp_path, "g.yaml", HEAD + "runtime: {kind: python, target: good_models:f}\n")
    assert [s.key for s in registry.register_path(good)] == ["m@1.0.0"]


def test_a_target_that_is_not_callable_is_refused(tmp_path: Path, registry: Registry) -> None:
    path = write(
        tmp_path, "m.yaml", HEAD + "runtime: {kind: python, target: podium.demo:__doc__}\n"
    )
    refused(registry, path, "runtime.target", "neither callable nor has a predict method")


def test_a_malformed_target_is_refused(tmp_path: Path, registry: Registry) -> None:
    path = write(tmp_path, "m.yaml", HEAD + "runtime: {kind: python, target: just_a_module}\n")
    refused(registry, path, "runtime.target", "must look like 'package.module:object'")


def test_a_callable_registered_from_code_needs_no_target(registry: Registry) -> None:
    spec = spec_from_mapping({"name": "f", "version": "1.0.0", "capabilities": ["t.x"]})
    registry.register(spec, implementation=lambda text: {"text": text})
    assert registry.names() == ["f"]


# ------------------------------------------------------------------------- model files


@pytest.mark.parametrize("kind", ["sklearn", "onnx"])
def test_a_missing_model_file_is_refused(tmp_path: Path, registry: Registry, kind: str) -> None:
    path = write(
        tmp_path, "m.yaml", HEAD + f"runtime:\n  kind: {kind}\n  path: models/absent.{kind}\n"
    )
    error = refused(registry, path, "runtime.path", "does not exist")
    assert str(tmp_path / "models" / f"absent.{kind}") in error.message


def test_a_folder_is_not_a_model_file(tmp_path: Path, registry: Registry) -> None:
    (tmp_path / "m.onnx").mkdir()
    path = write(tmp_path, "m.yaml", HEAD + "runtime: {kind: onnx, path: m.onnx}\n")
    refused(registry, path, "runtime.path", "is a folder")


def test_a_skops_file_with_an_untrusted_type_is_refused(tmp_path: Path, registry: Registry) -> None:
    x, y = _xy()
    skops_io.dump(make_pipeline(Doubler(), LogisticRegression()).fit(x, y), tmp_path / "m.skops")
    path = write(tmp_path, "m.yaml", HEAD + "runtime: {kind: sklearn, path: m.skops}\n")
    error = refused(registry, path, "runtime.path", "untrusted type")
    assert "Doubler" in error.message and "runtime.trusted" in error.message
    # trusting it in the manifest is the way to accept it; the error then points at the list
    path.write_text(HEAD + "runtime:\n  kind: sklearn\n  path: m.skops\n  trusted: [numpy.x]\n")
    refused(registry, path, "runtime.trusted", "Doubler")
    (untrusted,) = [
        t for t in skops_io.get_untrusted_types(file=tmp_path / "m.skops") if "Doub" in t
    ]
    path.write_text(
        HEAD + f"runtime:\n  kind: sklearn\n  path: m.skops\n  trusted: [{untrusted}]\n"
    )
    assert [s.key for s in registry.register_path(path)] == ["m@1.0.0"]


def test_the_adapters_default_trust_is_enough_for_plain_scikit_learn(
    tmp_path: Path, registry: Registry
) -> None:
    x, y = _xy()
    skops_io.dump(DecisionTreeClassifier().fit(x, y), tmp_path / "tree.skops")
    assert skops_io.get_untrusted_types(file=tmp_path / "tree.skops")  # skops alone distrusts it
    path = write(tmp_path, "m.yaml", HEAD + "runtime: {kind: sklearn, path: tree.skops}\n")
    assert [s.key for s in registry.register_path(path)] == ["m@1.0.0"]


def test_a_file_that_is_not_skops_is_refused(tmp_path: Path, registry: Registry) -> None:
    (tmp_path / "m.skops").write_bytes(b"not a zip file")
    path = write(tmp_path, "m.yaml", HEAD + "runtime: {kind: sklearn, path: m.skops}\n")
    refused(registry, path, "runtime.path", "not a readable skops file")


def test_an_embedding_path_that_does_not_exist_is_refused(
    tmp_path: Path, registry: Registry
) -> None:
    path = write(tmp_path, "m.yaml", HEAD + "runtime: {kind: embedding, model: ./minilm}\n")
    refused(registry, path, "runtime.model", "does not exist")
    path.write_text(HEAD + f"runtime: {{kind: embedding, model: {tmp_path / 'gone'}}}\n")
    refused(registry, path, "runtime.model", "does not exist")
    (tmp_path / "minilm").mkdir()
    path.write_text(HEAD + "runtime: {kind: embedding, model: ./minilm}\n")
    assert len(registry.register_path(path)) == 1


@pytest.mark.parametrize("name", ["all-MiniLM-L6-v2", "sentence-transformers/all-MiniLM-L6-v2"])
def test_an_embedding_name_is_not_taken_for_a_path(
    tmp_path: Path, registry: Registry, name: str
) -> None:
    path = write(tmp_path, "m.yaml", HEAD + f"runtime: {{kind: embedding, model: {name}}}\n")
    assert len(registry.register_path(path)) == 1


# ------------------------------------------------------------------------- URLs


BAD_URLS = [
    pytest.param("ftp://files.example/model", "scheme 'ftp'", id="ftp"),
    pytest.param("localhost:8000/predict", "scheme 'localhost'", id="no-scheme-host-port"),
    pytest.param("/predict", "no scheme", id="path-only"),
    pytest.param("http:///predict", "names no host", id="no-host"),
    pytest.param("https://", "names no host", id="empty"),
    pytest.param("http://127.0.0.1:port/", "not a valid URL", id="bad-port"),
]


@pytest.mark.parametrize(("url", "words"), BAD_URLS)
def test_a_bad_http_url_is_refused(
    tmp_path: Path, registry: Registry, url: str, words: str
) -> None:
    path = write(tmp_path, "m.yaml", HEAD + f'runtime: {{kind: http, url: "{url}"}}\n')
    refused(registry, path, "runtime.url", words)


@pytest.mark.parametrize(("url", "words"), BAD_URLS)
def test_a_bad_openai_base_url_is_refused(
    tmp_path: Path, registry: Registry, url: str, words: str
) -> None:
    path = write(
        tmp_path, "m.yaml", HEAD + f'runtime: {{kind: openai, model: gpt, base_url: "{url}"}}\n'
    )
    refused(registry, path, "runtime.base_url", words)


def test_a_bad_instance_url_names_the_instance(tmp_path: Path, registry: Registry) -> None:
    path = write(
        tmp_path,
        "m.yaml",
        HEAD
        + "runtime: {kind: http}\n"
        + "instances:\n"
        + "  - url: http://127.0.0.1:8001/predict\n"
        + "  - url: 127.0.0.1:8002/predict\n",
    )
    with pytest.raises(ManifestError) as info:
        registry.register_path(path)
    assert str(info.value).startswith(f"{path}:7: instances[1].url: ")
    assert "has no scheme" in str(info.value)
    openai = write(
        tmp_path,
        "o.yaml",
        HEAD + "runtime: {kind: openai, model: gpt}\ninstances:\n  - {base_url: 'file:///v1'}\n",
    )
    with pytest.raises(ManifestError) as info:
        registry.register_path(openai)
    assert str(info.value).startswith(f"{openai}:6: instances[0].base_url: ")


def test_an_http_model_without_any_endpoint_is_refused(tmp_path: Path, registry: Registry) -> None:
    path = write(tmp_path, "m.yaml", HEAD + "runtime: {kind: http}\n")
    refused(registry, path, "runtime", "has no endpoint")


def test_good_urls_register(tmp_path: Path, registry: Registry) -> None:
    path = write(
        tmp_path,
        "m.yaml",
        """\
        - name: a
          version: 1.0.0
          capabilities: [t.x]
          runtime: {kind: http, url: "https://models.example.com/v2/predict?x=1"}
        - name: b
          version: 1.0.0
          capabilities: [t.y]
          runtime: {kind: http}
          instances: [{url: "http://127.0.0.1:8001"}, {url: "http://[::1]:8002/p", weight: 2}]
        - name: c
          version: 1.0.0
          capabilities: [t.z]
          runtime: {kind: openai, model: gpt}
        """,
    )
    assert [s.name for s in registry.register_path(path)] == ["a", "b", "c"]


def test_errors_do_not_show_the_urls_secrets(tmp_path: Path, registry: Registry) -> None:
    path = write(tmp_path, "m.yaml", HEAD + 'runtime: {kind: http, url: "ftp://u:pw@h/p?key=s3"}\n')
    error = refused(registry, path, "runtime.url", "ftp://h/p")
    assert "pw" not in str(error) and "s3" not in str(error)


HOSTS = st.from_regex(r"[a-z][a-z0-9-]{0,20}(\.[a-z]{2,6}){0,2}", fullmatch=True)
PATHS = st.from_regex(r"(/[A-Za-z0-9._~-]{0,12}){0,3}", fullmatch=True)


@given(
    scheme=st.sampled_from(["http", "https", "HTTP"]),
    host=HOSTS,
    port=st.none() | st.integers(1, 65535),
    path=PATHS,
)
def test_any_http_url_with_a_host_is_accepted(
    scheme: str, host: str, port: int | None, path: str
) -> None:
    url = f"{scheme}://{host}{f':{port}' if port else ''}{path}"
    check_runnable(spec_from_mapping({**_http_spec(), "runtime": {"kind": "http", "url": url}}))


@given(scheme=st.from_regex(r"[a-z][a-z0-9+.-]{0,8}", fullmatch=True), host=HOSTS, path=PATHS)
def test_any_other_scheme_is_refused(scheme: str, host: str, path: str) -> None:
    if scheme in ("http", "https"):
        return
    url = f"{scheme}://{host}{path}"
    spec = spec_from_mapping({**_http_spec(), "runtime": {"kind": "http", "url": url}})
    with pytest.raises(ManifestError, match="expected an http:// or https:// URL"):
        check_runnable(spec)


def _http_spec() -> dict[str, Any]:
    return {"name": "m", "version": "1.0.0", "capabilities": ["t.x"]}


# ------------------------------------------------------------------------- duplicates


def test_one_version_defined_differently_in_two_files_is_refused_naming_both(
    tmp_path: Path, registry: Registry
) -> None:
    a = write(tmp_path, "m/a.yaml", HEAD + "description: first\n")
    b = write(tmp_path, "m/b.yaml", "description: second\n" + HEAD)
    with pytest.raises(ManifestError) as info:
        registry.register_path(tmp_path / "m")
    message = str(info.value)
    assert message.startswith(f"{b}:3: version: m@1.0.0 is also defined in {a}:2 ")
    assert "with a different spec" in message
    assert len(registry) == 0


def test_one_version_defined_twice_in_one_file_is_refused(
    tmp_path: Path, registry: Registry
) -> None:
    path = write(
        tmp_path,
        "m.yaml",
        """\
        - {name: m, version: 1.0.0, capabilities: [t.x], cost: 0.1}
        - {name: m, version: 1.0.0, capabilities: [t.x], cost: 0.2}
        """,
    )
    with pytest.raises(ManifestError) as info:
        registry.register_path(path)
    assert str(info.value).startswith(f"{path}:2: version: m@1.0.0 is also defined in {path}:1")
    assert len(registry) == 0


def test_identical_copies_register_once(tmp_path: Path, registry: Registry) -> None:
    write(tmp_path, "m/a.yaml", HEAD + "description: same\n")
    write(tmp_path, "m/sub/copy.yaml", "description: same\n" + HEAD)
    write(tmp_path, "m/other.yaml", HEAD.replace("1.0.0", "1.1.0"))
    registered = registry.register_path(tmp_path / "m")
    assert [s.key for s in registered] == ["m@1.0.0", "m@1.1.0"]


# ------------------------------------------------------------------------- discovery


class _EntryPoint:
    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self._value = value

    def load(self) -> Any:
        return self._value


def test_discovery_checks_files_and_urls_but_imports_nothing(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "pkg"
    write(folder, "lazy.yaml", HEAD + "runtime: {kind: python, target: not_imported_yet:f}\n")
    monkeypatch.setattr(
        registry_module, "entry_points", lambda *, group: [_EntryPoint("p", folder)]
    )
    assert [s.name for s in registry.discover()] == ["m"]  # the target is imported on first call
    write(
        folder,
        "file.yaml",
        "name: n\nversion: 1.0.0\ncapabilities: [t.y]\n"
        "runtime: {kind: sklearn, path: gone.skops}\n",
    )
    with pytest.raises(ManifestError, match=r"gone\.skops does not exist"):
        registry.discover()
    bad_url = {**_http_spec(), "name": "u", "runtime": {"kind": "http", "url": "ftp://h"}}
    monkeypatch.setattr(
        registry_module, "entry_points", lambda *, group: [_EntryPoint("q", [bad_url])]
    )
    with pytest.raises(ManifestError, match=r"entry point q: runtime\.url: .*scheme 'ftp'"):
        registry.discover()
