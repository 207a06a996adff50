"""Hostile YAML: alias bombs, deep nesting and huge files are refused quickly, in one line.

Both parsers are tested: libyaml's (``yaml.CSafeLoader``, used when it is installed) and
the pure-Python one (the fallback), by pointing :mod:`podium._yaml` at each in turn.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

from podium import _yaml
from podium._limits import Limits
from podium._yaml import line_of, load_yaml_file, load_yaml_text, plain
from podium.engine import load_workflow
from podium.engine._loader import workflow_from_mapping
from podium.errors import ManifestError, UserError, WorkflowError
from podium.registry import load_manifests


@pytest.fixture(params=[loader.__name__ for loader in _yaml._LOADERS])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    """Run the test once with each YAML parser the machine has."""
    chosen = next(cls for cls in _yaml._LOADERS if cls.__name__ == request.param)
    monkeypatch.setattr(_yaml, "_Loader", chosen)
    yield request.param


def test_both_parsers_are_available() -> None:
    """libyaml ships in PyYAML's wheels; without it the speed-up (and half these tests) go."""
    assert yaml.__with_libyaml__
    assert [cls.__name__ for cls in _yaml._LOADERS] == ["_CLoader", "_PyLoader"]


def anchors(indent: int, levels: int = 9, width: int = 9) -> str:
    """The classic "billion laughs": each anchor lists the previous one ``width`` times."""
    pad = " " * indent
    lines = [pad + "a0: &a0 [" + ", ".join(['"lol"'] * width) + "]"]
    for i in range(1, levels):
        lines.append(pad + f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * width) + "]")
    return "\n".join(lines) + "\n"


BOMB_WORKFLOW = (
    "name: bomb\nsteps:\n  a:\n    uses: model/upper\n    with:\n      text: hi\n" + anchors(6)
)
BOMB_MANIFEST = (
    "name: bomb\nversion: 1.0.0\ncapabilities: [text.bomb]\ninput: {text: string}\n"
    "output: {text: string}\nruntime: {kind: python, target: 'side_effects:upper'}\n"
    "extra:\n" + anchors(2)
)


def refusal(function: Any, *args: Any, **kwargs: Any) -> tuple[UserError, float]:
    started = time.perf_counter()
    with pytest.raises(UserError) as info:
        function(*args, **kwargs)
    return info.value, time.perf_counter() - started


# --------------------------------------------------------------------------- alias bombs


def test_alias_bomb_workflow_is_refused_at_once(loader: str, tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB_WORKFLOW)
    assert path.stat().st_size < 1024
    error, took = refusal(load_workflow, path)
    assert isinstance(error, WorkflowError)
    assert took < 1.0
    text = str(error)
    assert "\n" not in text
    # a6 (9**7 strings) is the first anchor over a million values
    assert error.line == 13 and "a6: &a6" in path.read_text().splitlines()[12]
    assert text.startswith(f"{path}:13: YAML value count with aliases expanded (5,380,840)")
    assert "exceeds the limit of 1,000,000 (set PODIUM_LIMIT_YAML_NODES)" in text


def test_alias_bomb_manifest_is_a_manifest_error(loader: str, tmp_path: Path) -> None:
    path = tmp_path / "bomb.yaml"
    path.write_text(BOMB_MANIFEST)
    error, took = refusal(load_manifests, path)
    assert isinstance(error, ManifestError)
    assert took < 1.0
    assert error.line == 14 and "PODIUM_LIMIT_YAML_NODES" in str(error)


def test_the_value_limit_is_exact(loader: str) -> None:
    # {a: [1, 2, 3]} is 6 values: the mapping, the key, the list and three items
    assert load_yaml_text("a: [1, 2, 3]", "x", limits=Limits(yaml_nodes=6)) == {"a": [1, 2, 3]}
    error, _ = refusal(load_yaml_text, "a: [1, 2, 3]", "x.yaml", limits=Limits(yaml_nodes=5))
    assert "(6) exceeds the limit of 5" in str(error)


def test_aliases_count_every_time_they_appear(loader: str) -> None:
    text = "base: &b [1, 2, 3, 4]\nuse: [*b, *b, *b]\n"
    limits = Limits(yaml_nodes=1 + 2 + 5 + 1 + 3 * 5)  # root, keys, base, use, 3 x base
    assert load_yaml_text(text, "x", limits=limits)["use"][2] == [1, 2, 3, 4]
    error, _ = refusal(load_yaml_text, text, "x.yaml", limits=Limits(yaml_nodes=23))
    assert error.line == 1  # the whole document is one value too many
    error, _ = refusal(load_yaml_text, text, "x.yaml", limits=Limits(yaml_nodes=15))
    assert error.line == 2 and "(16) exceeds the limit of 15" in str(error)  # the list of three


def test_legit_anchors_aliases_and_merge_keys_still_work(loader: str, tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        textwrap.dedent(
            """
            name: merged
            inputs: {message: string}
            steps:
              a: &call
                uses: model/upper
                with: &args {text: "${{ inputs.message }}"}
                retry: {attempts: 2}
              b:
                <<: *call
                retry: {attempts: 5}
              c:
                <<: [{timeout_s: 3, retry: 9}, *call]
                with: *args
            outputs: {x: "${{ steps.b.output.text }}"}
            """
        ).lstrip()
    )
    workflow = load_workflow(path)
    a, b, c = (workflow.steps[k] for k in "abc")
    assert a.retry.attempts == 2 and b.retry.attempts == 5
    assert c.retry.attempts == 9 and c.timeout_s == 3.0  # the first merged mapping wins
    assert b.with_ is not None and b.with_.source == {"text": "${{ inputs.message }}"}
    assert b.line == 8 and c.line == 11
    assert workflow.document["steps"]["b"]["uses"] == "model/upper"


def test_a_key_written_twice_is_still_a_duplicate(loader: str) -> None:
    text = "base: &b {x: 1}\nm:\n  <<: *b\n  y: 1\n  y: 2\n"
    error, _ = refusal(load_yaml_text, text, "x.yaml")
    assert str(error) == "x.yaml:5: malformed YAML: duplicate key 'y'"


def test_merged_keys_know_their_lines(loader: str) -> None:
    data = load_yaml_text("base: &b\n  x: 1\nm:\n  <<: *b\n  y: 2\n", "x")
    assert data["m"] == {"x": 1, "y": 2}
    assert line_of(data, ["m", "x"]) == 2 and line_of(data, ["m", "y"]) == 5


def test_a_merge_of_a_scalar_is_refused(loader: str) -> None:
    error, _ = refusal(load_yaml_text, "m: {<<: 3}", "x.yaml")
    assert "'<<' needs a mapping or a list of mappings" in str(error)


def test_an_alias_inside_its_own_anchor_is_refused(loader: str) -> None:
    error, _ = refusal(load_yaml_text, "a: &a [1, *a]\n", "x.yaml")
    assert str(error) == "x.yaml:1: a YAML alias refers to a value that contains it"


def test_shared_values_stay_shared_and_plain_copies_them(loader: str) -> None:
    data = load_yaml_text("a: &a {k: [1]}\nb: *a\n", "x")
    assert data["a"] is data["b"]
    copied = plain(data)
    assert copied == {"a": {"k": [1]}, "b": {"k": [1]}} and type(copied["a"]) is dict


# --------------------------------------------------------------------------- depth


def test_a_deep_list_is_refused_with_its_line(loader: str, tmp_path: Path) -> None:
    path = tmp_path / "deep.yaml"
    path.write_text("name: d\nsteps:\n  a:\n    with: " + "[" * 5000 + "]" * 5000 + "\n")
    error, took = refusal(load_workflow, path)
    assert isinstance(error, WorkflowError) and took < 2.0
    assert error.line == 4
    assert "YAML nesting depth" in str(error) and "PODIUM_LIMIT_YAML_DEPTH" in str(error)


def test_the_depth_limit_is_exact_and_names_the_line_it_is_crossed(loader: str) -> None:
    text = "".join("  " * i + "- \n" for i in range(5))  # five sequences, one per line
    assert load_yaml_text(text, "x", limits=Limits(yaml_depth=5)) == [[[[[None]]]]]
    error, _ = refusal(load_yaml_text, text, "x.yaml", limits=Limits(yaml_depth=4))
    assert str(error).startswith("x.yaml:5: YAML nesting depth (5) exceeds the limit of 4")


def test_depth_counts_through_aliases(loader: str) -> None:
    # each anchor nests the previous one two levels deeper: textually shallow, expanded deep
    lines = ["a0: &a0 [[x]]"] + [f"a{i}: &a{i} [[*a{i - 1}]]" for i in range(1, 40)]
    error, _ = refusal(load_yaml_text, "\n".join(lines), "x.yaml")
    assert "YAML nesting depth" in str(error) and error.line is not None


DEEP_SCRIPT = """
import sys
from podium import _yaml
from podium.errors import UserError
_yaml._Loader = next(c for c in _yaml._LOADERS if c.__name__ == sys.argv[1])
for text in ("[" * 200_000, "[" * 200_000 + "]" * 200_000, "- " * 200_000 + "x", "{a: " * 200_000):
    try:
        _yaml.load_yaml_text(text, "deep.yaml")
    except UserError as exc:
        print(exc)
"""


@pytest.mark.parametrize("name", [loader.__name__ for loader in _yaml._LOADERS])
def test_very_deep_input_cannot_crash_the_parser(name: str) -> None:
    """200,000 open brackets: a recursive C composer would overflow the stack and kill the
    process, so this runs in a child process where a crash fails the test."""
    done = subprocess.run(
        [sys.executable, "-c", DEEP_SCRIPT, name],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, (done.returncode, done.stderr[-2000:])
    lines = done.stdout.splitlines()
    assert len(lines) == 4, done.stdout
    assert all(line.startswith("deep.yaml:1: YAML nesting depth") for line in lines), lines


def test_the_c_parser_is_used_only_where_libyaml_bounds_nesting() -> None:
    from yaml import _yaml as libyaml

    assert libyaml.get_version() >= (0, 2, 5)
    assert _yaml._Loader.__name__ == "_CLoader"


# --------------------------------------------------------------------------- file size


def test_an_oversized_file_is_refused_before_it_is_read(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    path.write_text("steps: {}\n# " + "x" * 2000 + "\n")
    error, _ = refusal(load_workflow, path, limits=Limits(file_bytes=1000))
    assert isinstance(error, WorkflowError)
    assert str(error) == (
        f"{path}: size in bytes (2,013) exceeds the limit of 1,000 (set PODIUM_LIMIT_FILE_BYTES)"
    )


def test_the_default_file_limit_is_four_mebibytes(tmp_path: Path) -> None:
    path = tmp_path / "big.yaml"
    with path.open("w") as handle:
        handle.write("steps: {}\n")
        handle.truncate(4 * 1024 * 1024 + 1)  # sparse: nothing to write, nothing to parse
    error, took = refusal(load_yaml_file, path, WorkflowError)
    assert took < 0.5 and "(4,194,305) exceeds the limit of 4,194,304" in str(error)


def test_a_device_that_never_ends_is_refused(tmp_path: Path) -> None:
    """/dev/zero has no size to stat: reading stops one byte past the limit."""
    error, took = refusal(load_yaml_file, "/dev/zero", limits=Limits(file_bytes=10_000))
    assert took < 1.0 and "size in bytes (at least) (10,001)" in str(error)


def test_text_over_the_limit_is_refused(loader: str) -> None:
    error, _ = refusal(load_yaml_text, "a: " + "é" * 600, "x.yaml", limits=Limits(file_bytes=1000))
    assert "size in bytes (1,203)" in str(error)
    assert load_yaml_text("a: " + "é" * 400, "x", limits=Limits(file_bytes=1000))


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "latin.yaml"
    path.write_bytes(b"name: caf\xe9\n")
    error, _ = refusal(load_yaml_file, path, WorkflowError)
    assert str(error).startswith(f"{path}: cannot read: not UTF-8 text")


# --------------------------------------------------------------------------- tags


def test_tags_without_a_json_value_are_refused(loader: str) -> None:
    error, _ = refusal(load_yaml_text, "a: 1\nb: !!set {x, y}\n", "x.yaml")
    assert str(error) == "x.yaml:2: unsupported YAML tag 'tag:yaml.org,2002:set'"
    error, _ = refusal(load_yaml_text, "a: !!python/object:os.system x\n", "x.yaml")
    assert "malformed YAML: could not determine a constructor" in str(error)


def test_scalars_are_read_as_safe_yaml_reads_them(loader: str) -> None:
    text = "a: 0x1f\nb: .inf\nc: ~\nd: yes\ne: '7'\nf: 2024-01-02\n1: one\n"
    expected = yaml.safe_load(text)
    expected["1"] = expected.pop(1)  # keys become text
    assert load_yaml_text(text, "x") == expected


# --------------------------------------------------------------------------- in memory


def test_a_shared_in_memory_bomb_is_refused() -> None:
    level: Any = ["lol"] * 10
    for _ in range(7):
        level = [level] * 10  # shared, so cheap to build and huge to expand
    doc = {"steps": {"a": {"uses": "model/m", "with": {"text": "hi", "x": level}}}}
    error, took = refusal(workflow_from_mapping, doc, source="<api>")
    assert took < 1.0 and "value count" in str(error) and "PODIUM_LIMIT_YAML_NODES" in str(error)


def test_a_deep_in_memory_document_is_refused() -> None:
    deep: Any = "x"
    for _ in range(5000):
        deep = [deep]
    doc = {"steps": {"a": {"uses": "model/m", "with": {"text": deep}}}}
    error, _ = refusal(workflow_from_mapping, doc, source="<api>")
    assert "nesting depth (65) exceeds the limit of 64" in str(error)
    assert error.field is not None and error.field.startswith("steps.a.with.text.0.0")


def test_an_in_memory_document_that_contains_itself_is_refused() -> None:
    doc: dict[str, Any] = {"steps": {"a": {"uses": "model/m", "with": {"text": "hi"}}}}
    doc["steps"]["a"]["with"]["self"] = doc
    error, _ = refusal(workflow_from_mapping, doc, source="<api>")
    assert "the document contains itself" in str(error)


def test_characters_yaml_does_not_allow_are_one_located_error(loader: str) -> None:
    error, _ = refusal(load_yaml_text, "a: 1\nb: \x07\n", "x.yaml")
    assert str(error).startswith("x.yaml:2: malformed YAML: character #x0007: ")
    error, _ = refusal(load_yaml_text, "a: 1\nb: \ud800\n", "x.yaml")
    assert str(error).startswith("x.yaml:2: malformed YAML: character #xd800: ")
