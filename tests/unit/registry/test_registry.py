"""Unit tests for the registry: manifests, versions, contracts, the index, code registration."""

from __future__ import annotations

import textwrap
from collections.abc import Iterator
from pathlib import Path
from typing import Any, TypedDict

import pytest
from pydantic import BaseModel

import podium
from podium.errors import ManifestError, ModelNotFoundError, UserError
from podium.registry import ModelSpec, Registry, load_manifests, spec_from_mapping
from podium.registry import _registry as registry_module
from podium.store import MemoryStore

INTENT = """\
name: intent-classifier
version: 1.2.0
description: Classifies a customer message into billing, technical, cancellation, other.
capabilities: [text.intent]
input: {text: string}
output: {label: string, confidence: number}
runtime: {kind: python, target: "podium.demo.support:KeywordIntent"}
cost: {per_call: 0.0002}
latency_ms: 5
quality: {text.intent: 0.91}
tags: [pii-safe]
"""


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text), encoding="utf-8")
    return path


def spec(name: str, version: str = "1.0.0", **fields: Any) -> ModelSpec:
    fields.setdefault("capabilities", ["x.y"])
    return spec_from_mapping({"name": name, "version": version, **fields})


@pytest.fixture
def registry() -> Registry:
    return Registry(MemoryStore())


def manifest_error(path: Path) -> ManifestError:
    with pytest.raises(ManifestError) as info:
        load_manifests(path)
    assert "\n" not in str(info.value)
    return info.value


# --------------------------------------------------------------------------- manifests


def test_manifest_file_is_read_into_a_spec(tmp_path: Path) -> None:
    path = write(tmp_path, "intent.yaml", INTENT)
    [loaded] = load_manifests(path)
    assert loaded.key == "intent-classifier@1.2.0"
    assert loaded.capabilities == ["text.intent"]
    assert loaded.input_schema.describe() == "text:string"
    assert loaded.output_schema.describe() == "label:string, confidence:number"
    assert loaded.cost.per_call == 0.0002 and loaded.latency_ms == 5
    assert loaded.quality_for("text.intent") == 0.91
    assert loaded.consumed_types == ["text"] and loaded.produced_types == ["label", "confidence"]
    assert loaded.source == str(path)


def test_manifest_folder_is_read_recursively(tmp_path: Path) -> None:
    write(tmp_path, "models/intent.yaml", INTENT)
    write(
        tmp_path,
        "models/more/pair.yml",
        """
        - name: tone
          version: "2.0"
          capabilities: [text.sentiment]
        - name: keyword-intent
          version: 0.1.0
          capabilities: [text.intent]
          runtime: {kind: sklearn, path: kw.skops}
        """,
    )
    write(tmp_path, "models/notes.txt", "not a manifest")
    specs = load_manifests(tmp_path / "models")
    assert sorted(s.key for s in specs) == [
        "intent-classifier@1.2.0",
        "keyword-intent@0.1.0",
        "tone@2.0.0",  # partial versions are completed
    ]
    keyword = next(s for s in specs if s.name == "keyword-intent")
    # relative paths resolve against the manifest's folder
    assert keyword.runtime.path == str((tmp_path / "models/more/kw.skops").resolve())  # type: ignore[union-attr]


def test_empty_folder_and_missing_path(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert "no manifest files" in str(manifest_error(tmp_path / "empty"))
    assert "no such file or folder" in str(manifest_error(tmp_path / "absent"))


def test_register_path_registers_and_persists(tmp_path: Path) -> None:
    store = MemoryStore()
    write(tmp_path, "m/intent.yaml", INTENT)
    write(tmp_path, "m/tone.yaml", "name: tone\nversion: 1.0.0\ncapabilities: [text.sentiment]\n")
    registered = Registry(store).register_path(tmp_path / "m")
    assert {s.name for s in registered} == {"intent-classifier", "tone"}
    again = Registry(store)  # a new registry on the same store sees them
    assert again.names() == ["intent-classifier", "tone"]
    assert again.contract("text.intent") == {
        "input": {"text": "string"},
        "output": {"label": "string", "confidence": "number"},
        "model": "intent-classifier@1.2.0",
    }


def test_a_bad_manifest_in_a_folder_registers_nothing(tmp_path: Path, registry: Registry) -> None:
    write(tmp_path, "m/a.yaml", "name: a\nversion: 1.0.0\ncapabilities: [t.x]\n")
    write(tmp_path, "m/b.yaml", "name: B\nversion: 1.0.0\ncapabilities: [t.x]\n")
    with pytest.raises(ManifestError):
        registry.register_path(tmp_path / "m")
    assert len(registry) == 0


def test_conflicting_manifests_in_one_folder_register_nothing(
    tmp_path: Path, registry: Registry
) -> None:
    write(
        tmp_path,
        "m/a.yaml",
        "name: a\nversion: 1.0.0\ncapabilities: [t.x]\noutput: {label: string}\n",
    )
    write(
        tmp_path,
        "m/b.yaml",
        "name: b\nversion: 1.0.0\ncapabilities: [t.x]\noutput: {score: number}\n",
    )
    with pytest.raises(ManifestError) as info:
        registry.register_path(tmp_path / "m")
    assert "b.yaml" in str(info.value)
    assert len(registry) == 0


# (manifest text, field at fault, text of the line it is on, words of the message)
MANIFEST_ERRORS = [
    pytest.param(
        INTENT.replace("intent-classifier", "Intent_Classifier"),
        "name",
        "name:",
        "must match [a-z0-9-]+",
        id="bad-name",
    ),
    pytest.param(
        INTENT.replace("1.2.0", "one.two"),
        "version",
        "version:",
        "is not a semantic version",
        id="bad-version",
    ),
    pytest.param(
        INTENT + "colour: red\n", "colour", "colour:", "is not a manifest field", id="unknown-field"
    ),
    pytest.param(
        INTENT.replace("[text.intent]", "[Text Intent]"),
        "capabilities",
        "capabilities:",
        "dotted capability name",
        id="bad-capability",
    ),
    pytest.param(
        INTENT.replace("latency_ms: 5", "latency_ms: -5"),
        "latency_ms",
        "latency_ms:",
        "greater than or equal to 0",
        id="negative-latency",
    ),
    pytest.param(
        INTENT.replace("cost: {per_call: 0.0002}", "cost: {per_cal: 1}"),
        "cost.per_cal",
        "cost:",
        "is not a manifest field",
        id="unknown-cost-field",
    ),
]


@pytest.mark.parametrize(("text", "field", "line_text", "words"), MANIFEST_ERRORS)
def test_manifest_errors_name_file_line_and_field(
    tmp_path: Path, text: str, field: str, line_text: str, words: str
) -> None:
    path = write(tmp_path, "model.yaml", text)
    error = manifest_error(path)
    line = next(i for i, t in enumerate(text.splitlines(), 1) if t.startswith(line_text))
    assert error.file == str(path) and error.line == line and error.field == field
    assert str(error).startswith(f"{path}:{line}: {field}: ")
    assert words in str(error)


def test_missing_required_field(tmp_path: Path) -> None:
    path = write(tmp_path, "model.yaml", INTENT.replace("version: 1.2.0\n", ""))
    error = manifest_error(path)
    assert error.field == "version" and "is required" in str(error)


def test_malformed_manifest_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(tmp_path, "model.yaml", "name: x\nversion: 1.0.0\ncapabilities: [a.b\n")
    error = manifest_error(path)
    assert error.line is not None and "malformed YAML" in str(error)


def test_quality_for_an_unknown_capability_names_line_and_field(tmp_path: Path) -> None:
    path = write(tmp_path, "model.yaml", INTENT.replace("{text.intent: 0.91}", "{text.tone: 0.9}"))
    error = manifest_error(path)
    assert "text.tone" in str(error) and "not among the capabilities" in str(error)
    assert error.field == "quality" and error.line == 10


def test_quality_for_an_unknown_capability_is_refused(tmp_path: Path) -> None:
    path = write(tmp_path, "model.yaml", INTENT.replace("{text.intent: 0.91}", "{text.tone: 0.9}"))
    error = manifest_error(path)
    assert str(error).startswith(str(path))
    assert "quality names 'text.tone', which is not among the capabilities" in str(error)


def test_bad_schema_type_names_its_line(tmp_path: Path) -> None:
    path = write(tmp_path, "model.yaml", INTENT.replace("{text: string}", "{text: strin}"))
    error = manifest_error(path)
    assert error.field == "input.text" and error.line == 5


def test_unknown_runtime_field_is_named_plainly(tmp_path: Path) -> None:
    path = write(tmp_path, "model.yaml", INTENT.replace('target: "podium', 'targt: "podium'))
    assert manifest_error(path).field == "runtime.targt"


# --------------------------------------------------------------------------- versions


@pytest.fixture
def versioned(registry: Registry) -> Registry:
    for version in ["1.0.0", "1.2.0", "1.2.5", "1.3.1", "2.0.0"]:
        registry.register(spec("m", version))
    return registry


@pytest.mark.parametrize(
    ("range_", "expected"),
    [
        ("^1.2", "1.3.1"),
        (">=1,<2", "1.3.1"),
        ("1.2.0", "1.2.0"),
        ("==1.2.5", "1.2.5"),
        ("~1.2", "1.2.5"),
        ("^1", "1.3.1"),
        (">=1.2.1,<1.3", "1.2.5"),
        ("^2", "2.0.0"),
        ("<1.2", "1.0.0"),
        (None, "2.0.0"),
    ],
)
def test_semver_resolution(versioned: Registry, range_: str | None, expected: str) -> None:
    assert versioned.get("m", range_).version == expected
    text = "model/m" + (f"@{range_}" if range_ else "")
    assert [s.version for s in versioned.resolve(text)] == [expected]


def test_no_matching_version_lists_the_registered_ones(versioned: Registry) -> None:
    with pytest.raises(ModelNotFoundError) as info:
        versioned.get("m", "^3")
    assert str(info.value) == (
        "no version of 'm' matches '^3' (registered: 1.0.0, 1.2.0, 1.2.5, 1.3.1, 2.0.0)"
    )
    assert isinstance(info.value, UserError)


def test_unknown_name_suggests_a_close_one(versioned: Registry) -> None:
    with pytest.raises(ModelNotFoundError, match="no model named 'mm'; did you mean 'm'"):
        versioned.get("mm")


def test_bad_range_is_a_clear_error(versioned: Registry) -> None:
    with pytest.raises(ModelNotFoundError, match="is not a version range"):
        versioned.get("m", "^^1")


def test_disabled_versions_are_not_chosen(registry: Registry) -> None:
    registry.register(spec("m", "1.0.0"))
    registry.register(spec("m", "1.1.0", status="disabled"))
    assert registry.get("m").version == "1.0.0"
    assert registry.get("m", "^1").version == "1.0.0"
    with pytest.raises(ModelNotFoundError, match=r"registered: 1\.0\.0, 1\.1\.0"):
        registry.get("m", "1.1.0")
    registry.register(spec("d", "1.0.0", capabilities=["only.deprecated"], status="deprecated"))
    with pytest.raises(ModelNotFoundError):
        registry.resolve("capability/only.deprecated")  # capabilities use active models only
    assert registry.get("d").status == "deprecated"  # but the model itself can still be named


def test_ranges_do_not_pick_pre_releases(versioned: Registry) -> None:
    versioned.register(spec("m", "2.1.0-rc.1"))
    assert versioned.get("m", "^2").version == "2.0.0"
    assert versioned.get("m").version == "2.0.0"


# --------------------------------------------------------------------------- contracts


def test_first_model_sets_the_capability_contract(registry: Registry) -> None:
    registry.register(
        spec("a", capabilities=["t.i"], input={"text": "string"}, output={"label": "string"})
    )
    assert registry.contract("t.i") == {
        "input": {"text": "string"},
        "output": {"label": "string"},
        "model": "a@1.0.0",
    }


@pytest.mark.parametrize(
    ("input_", "output", "reason"),
    [
        (
            {"text": "string", "lang": "string"},
            {"label": "string"},
            "requires input field 'lang' the contract does not have",
        ),
        (
            {"text": "integer"},
            {"label": "string"},
            "input field 'text' is integer, the contract passes string",
        ),
        ({"text": "string"}, {"lbl": "string"}, "output field 'label' (string) is missing"),
        (
            {"text": "string"},
            {"label": "number"},
            "output field 'label' is number, contract says string",
        ),
    ],
)
def test_a_version_that_breaks_the_contract_is_refused_with_the_reason(
    registry: Registry, input_: dict[str, str], output: dict[str, str], reason: str
) -> None:
    registry.register(
        spec("a", capabilities=["t.i"], input={"text": "string"}, output={"label": "string"})
    )
    with pytest.raises(ManifestError) as info:
        registry.register(spec("b", capabilities=["t.i"], input=input_, output=output))
    message = str(info.value)
    assert "b@1.0.0 breaks the contract of capability 't.i' (set by a@1.0.0)" in message
    assert reason in message
    assert info.value.field == "capabilities"
    assert [s.key for s in registry.provides("t.i")] == ["a@1.0.0"]


def test_a_compatible_version_is_accepted(registry: Registry) -> None:
    registry.register(
        spec("a", capabilities=["t.i"], input={"text": "string"}, output={"label": "string"})
    )
    registry.register(
        spec(
            "b",
            capabilities=["t.i"],
            input={"text": "string", "lang": "string?"},
            output={"label": "string", "confidence": "number"},
        )
    )
    assert sorted(s.key for s in registry.provides("t.i")) == ["a@1.0.0", "b@1.0.0"]


def test_contract_refusal_from_a_file_names_the_file(tmp_path: Path, registry: Registry) -> None:
    registry.register(spec("a", capabilities=["t.i"], output={"label": "string"}))
    path = write(
        tmp_path,
        "b.yaml",
        "name: b\nversion: 1.0.0\ncapabilities: [t.i]\noutput: {score: number}\n",
    )
    with pytest.raises(ManifestError) as info:
        registry.register_path(path)
    assert str(info.value).startswith(str(path))
    assert "output field 'label' (string) is missing" in str(info.value)


# --------------------------------------------------------------------------- capability index


def test_capability_index(registry: Registry) -> None:
    registry.register(spec("a", capabilities=["text.intent", "text.topic"]))
    registry.register(spec("b", capabilities=["text.intent"]))
    registry.register(spec("c", capabilities=["image.label"]))
    assert registry.capabilities() == ["image.label", "text.intent", "text.topic"]
    assert sorted(s.name for s in registry.provides("text.intent")) == ["a", "b"]
    assert [s.name for s in registry.resolve("capability/text.topic")] == ["a"]
    assert registry.provides("nothing.here") == []
    with pytest.raises(ModelNotFoundError, match=r"did you mean 'text\.topic'"):
        registry.resolve("capability/text.topik")


def test_re_registering_a_version_reindexes_it(registry: Registry) -> None:
    registry.register(spec("a", capabilities=["one.cap"]))
    registry.register(spec("a", capabilities=["two.cap"]))
    assert registry.provides("one.cap") == []
    assert [s.key for s in registry.provides("two.cap")] == ["a@1.0.0"]
    assert "one.cap" not in registry.capabilities()
    assert len(registry) == 1


def test_versions_side_by_side(registry: Registry) -> None:
    for version in ["1.10.0", "1.2.0", "1.9.0"]:
        registry.register(spec("a", version))
    assert [s.version for s in registry.versions("a")] == ["1.2.0", "1.9.0", "1.10.0"]
    assert registry.get("a").version == "1.10.0"  # semantic, not lexical, order
    assert [s.key for s in registry.all()] == ["a@1.2.0", "a@1.9.0", "a@1.10.0"]


# --------------------------------------------------------------------------- from Python


class Intent(TypedDict):
    label: str
    confidence: float


class Partial(TypedDict, total=False):
    note: str


class Score(BaseModel):
    value: float
    note: str | None = None


@pytest.fixture
def orch(tmp_path: Path) -> Iterator[podium.Orchestrator]:
    with podium.Orchestrator(home=tmp_path, durable=False, discover=False) as o:
        yield o


def test_decorator_takes_schemas_from_the_signature(orch: podium.Orchestrator) -> None:
    @orch.model(capabilities=["text.intent"], quality={"text.intent": 0.8}, cost=0.01)
    def my_intent(
        text: str,
        lang: str = "en",
        n: int | None = None,
        ratio: float = 0.5,
        tags: list[str] | None = None,
    ) -> Intent:
        """Classify the intent of a message."""
        return {"label": "billing", "confidence": 1.0}

    found = orch.registry.get("my-intent")
    assert found.version == "0.1.0"
    assert found.input == {
        "text": "string",
        "lang": "string?",
        "n": "integer?",
        "ratio": "number?",
        "tags": "array?",
    }
    assert found.output == {"label": "string", "confidence": "number"}
    assert found.description == "Classify the intent of a message."
    assert found.cost.per_call == 0.01 and found.quality_for("text.intent") == 0.8
    assert orch.registry.implementation(found) is my_intent
    assert my_intent(text="x")["label"] == "billing"  # the decorator returns the function


def test_decorator_options_and_other_return_annotations(orch: podium.Orchestrator) -> None:
    @orch.model(name="scorer", version="2.1.0", capabilities=["text.score"], tags=["fast"])
    def score_it(text: str) -> Score:
        return Score(value=1.0)

    @orch.model(capabilities=["text.note"])
    def note_it(text: str) -> Partial:
        return {}

    @orch.model(capabilities=["text.plain"])
    def plain_it(text):  # type: ignore[no-untyped-def]
        return {"text": text}

    assert orch.registry.get("scorer").key == "scorer@2.1.0"
    assert orch.registry.get("scorer").output == {"value": "number", "note": "string?"}
    assert orch.registry.get("scorer").tags == ["fast"]
    assert orch.registry.get("note-it").output == {"note": "string?"}
    assert orch.registry.get("plain-it").input == {"text": "any"}
    assert orch.registry.get("plain-it").output is None


def test_a_class_with_predict(orch: podium.Orchestrator) -> None:
    class TinyClassifier:
        """Says 'big' for big numbers."""

        def __init__(self) -> None:
            self.threshold = 10

        def predict(self, features: list[float]) -> Intent:
            big = sum(features) > self.threshold
            return {"label": "big" if big else "small", "confidence": 1.0}

    registered = orch.register_callable(TinyClassifier, capabilities=["tab.size"])
    assert registered.key == "tinyclassifier@0.1.0"
    assert registered.input == {"features": "array"}
    assert registered.output == {"label": "string", "confidence": "number"}
    result = orch.run(
        {
            "steps": {"c": {"uses": "capability/tab.size", "with": {"features": [5, 9]}}},
            "outputs": {"label": "${{ steps.c.output.label }}"},
        }
    )
    assert result.ok and result.outputs == {"label": "big"}


def test_register_accepts_specs_and_mappings(orch: podium.Orchestrator) -> None:
    orch.register(spec("from-spec"))
    orch.register({"name": "from-map", "version": "1.0.0", "capabilities": ["x.y"]})
    assert orch.registry.names() == ["from-map", "from-spec"]


# --------------------------------------------------------------------------- discovery


class _FakeEntryPoint:
    def __init__(self, name: str, value: Any) -> None:
        self.name = name
        self._value = value

    def load(self) -> Any:
        if isinstance(self._value, Exception):
            raise self._value
        return self._value


def test_discover_without_installed_plugins_is_empty(registry: Registry) -> None:
    assert registry.discover() == []
    assert len(registry) == 0


def test_discover_registers_what_entry_points_offer(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    folder = tmp_path / "pkg"
    write(folder, "tone.yaml", "name: tone\nversion: 1.0.0\ncapabilities: [text.sentiment]\n")
    points = [
        _FakeEntryPoint(
            "specs", [spec("one"), {"name": "two", "version": "1.0.0", "capabilities": ["x.y"]}]
        ),
        _FakeEntryPoint("factory", lambda: folder),
    ]
    seen: list[str] = []

    def fake_entry_points(*, group: str) -> list[_FakeEntryPoint]:
        seen.append(group)
        return points

    monkeypatch.setattr(registry_module, "entry_points", fake_entry_points)
    found = registry.discover()
    assert seen == ["podium.models"]
    assert sorted(s.name for s in found) == ["one", "tone", "two"]
    assert registry.names() == ["one", "tone", "two"]


def test_a_broken_entry_point_is_a_manifest_error(
    registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(
        registry_module,
        "entry_points",
        lambda *, group: [_FakeEntryPoint("bad", ImportError("no module named x"))],
    )
    with pytest.raises(ManifestError, match="entry point 'bad' failed to load: no module named x"):
        registry.discover()
    monkeypatch.setattr(
        registry_module, "entry_points", lambda *, group: [_FakeEntryPoint("odd", 42)]
    )
    with pytest.raises(ManifestError, match="entry point 'odd' gave int"):
        registry.discover()


# --------------------------------------------------------------------------- search


@pytest.fixture
def catalogue(registry: Registry) -> Registry:
    registry.register(
        spec(
            "vader-sentiment",
            capabilities=["text.sentiment"],
            description="Scores the sentiment of English text, positive or negative.",
        )
    )
    registry.register(
        spec(
            "intent-classifier",
            capabilities=["text.intent"],
            description="Classifies a customer message into billing or technical.",
        )
    )
    registry.register(
        spec(
            "digits",
            capabilities=["image.digits"],
            description="Recognises handwritten digits.",
            tags=["sklearn"],
        )
    )
    registry.register(
        spec("sentiment-lite", capabilities=["text.sentiment"], description="A small model.")
    )
    return registry


def test_search_ranks_by_relevance(catalogue: Registry) -> None:
    hits = catalogue.search("sentiment of english text")
    names = [s.name for s, _ in hits]
    assert names[0] == "vader-sentiment"
    assert "sentiment-lite" in names and "digits" not in names
    scores = [score for _, score in hits]
    assert scores == sorted(scores, reverse=True) and all(s > 0 for s in scores)
    assert catalogue.search("customer intent")[0][0].name == "intent-classifier"
    assert [s.name for s, _ in catalogue.search("SKLEARN digits")] == ["digits"]


def test_search_edge_cases(catalogue: Registry) -> None:
    assert catalogue.search("zzz qqq") == []
    assert catalogue.search("  ,,, ") == []
    assert len(catalogue.search("text", limit=1)) == 1
    assert Registry(MemoryStore()).search("anything") == []
