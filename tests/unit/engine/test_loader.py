"""Unit tests for the workflow loader (podium.engine._loader) and its static checks.

Every error the loader raises must be a :class:`~podium.errors.WorkflowError` whose text is
one line naming the file, the line and the field at fault.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

import podium
from podium._limits import Limits
from podium.engine import CallStep, LoopStep, MapStep, WorkflowStep, load_workflow
from podium.engine._loader import workflow_from_mapping, workflow_from_snapshot
from podium.engine._validate import find_cycle
from podium.errors import WorkflowError

# --------------------------------------------------------------------------- helpers


def write(folder: Path, name: str, text: str) -> Path:
    path = folder / name
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def line_containing(path: Path, needle: str) -> int:
    """The 1-based number of the only line of ``path`` containing ``needle``."""
    lines = [i for i, text in enumerate(path.read_text().splitlines(), 1) if needle in text]
    assert len(lines) == 1, f"{needle!r} is on lines {lines}"
    return lines[0]


def load_error(path: Path) -> WorkflowError:
    with pytest.raises(WorkflowError) as info:
        load_workflow(path)
    return info.value


def assert_located(error: WorkflowError, path: Path, *, line: int | None, field: str | None) -> str:
    """``error`` is one line naming ``path``, ``line`` and ``field``; returns its text."""
    text = str(error)
    assert "\n" not in text
    assert isinstance(error, WorkflowError)
    assert error.file is not None and Path(error.file).name == path.name
    assert error.line == line
    assert error.field == field
    where = f"{path.name}:{line}" if line is not None else path.name
    assert where in text
    if field is not None:
        assert f": {field}: " in text
    return text


# --------------------------------------------------------------------------- a valid file


def test_valid_workflow_builds_the_ir(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "flow.yaml",
        """
        name: triage
        inputs: {message: string, lines: array}
        steps:
          intent:
            uses: model/intent@^1.2
            with: {text: "${{ inputs.message }}"}
            retry: {attempts: 3, backoff_s: 0.5}
            timeout_s: 2
            fallback: [model/keyword]
            route: cheapest
          tone:
            uses: capability/text.sentiment
            with: {text: "${{ inputs.message }}"}
            after: [intent]
          pick:
            uses: model/pick
            with: {x: "${{ coalesce(steps.tone.output.score, 0) }}"}
          items:
            map: "${{ inputs.lines }}"
            concurrency: 4
            step: {uses: capability/text.sentiment, with: {text: "${{ item }}"}}
          refine:
            loop:
              max_iterations: 3
              until: "${{ steps.refine.output.draft.ok }}"
              steps:
                draft:
                  uses: model/draft
                  with: {prev: "${{ loop.last.draft }}", intent: "${{ steps.intent.output }}"}
        outputs:
          intent: "${{ steps.intent.output.label }}"
        """,
    )
    wf = load_workflow(path)
    assert wf.name == "triage"
    assert set(wf.steps) == {"intent", "tone", "pick", "items", "refine"}
    intent = wf.steps["intent"]
    assert isinstance(intent, CallStep)
    assert intent.retry.attempts == 3 and intent.retry.backoff_s == 0.5
    assert intent.timeout_s == 2.0
    assert [str(r) for r in intent.fallback] == ["model/keyword"]
    assert intent.route.policy == "cheapest"
    assert intent.deps == frozenset()
    assert intent.line == 4
    assert wf.steps["tone"].deps == {"intent"}  # from `after`
    pick = wf.steps["pick"]
    assert pick.deps == {"tone"} and pick.guarded == {"tone"}  # only inside coalesce
    items = wf.steps["items"]
    assert isinstance(items, MapStep) and items.concurrency == 4
    refine = wf.steps["refine"]
    assert isinstance(refine, LoopStep) and refine.max_iterations == 3
    assert refine.deps == {"intent"}  # the loop body reads an outer step
    assert set(wf.outputs) == {"intent"}


def test_retry_and_route_shorthands(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "short.yaml",
        """
        steps:
          a: {uses: model/m, retry: 4, route: fastest, approval_free: null}
        """,
    )
    # an unknown field still fails, even next to valid shorthands
    error = load_error(path)
    assert_located(error, path, line=2, field="steps.a.approval_free")
    path = write(tmp_path, "short.yaml", "steps:\n  a: {uses: model/m, retry: 4, route: fastest}\n")
    step = load_workflow(path).steps["a"]
    assert isinstance(step, CallStep)
    assert step.retry.attempts == 4 and step.route.policy == "fastest"


def test_mapping_workflows_use_the_same_checks() -> None:
    wf = workflow_from_mapping({"steps": {"a": {"uses": "model/m", "with": {"x": 1}}}})
    assert wf.name == "<workflow>" and set(wf.steps) == {"a"}
    with pytest.raises(WorkflowError) as info:
        workflow_from_mapping({"steps": {"a": {"uses": "model/m", "after": ["zz"]}}})
    assert str(info.value) == "<workflow>: steps.a.after: 'after' names unknown step 'zz'"


# --------------------------------------------------------------------------- malformed YAML


def test_malformed_yaml_names_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "broken.yaml",
        """
        name: broken
        steps:
          a:
            uses: model/m
            with: text: hi
        """,
    )
    error = load_error(path)
    text = str(error)
    assert "\n" not in text
    assert error.line == line_containing(path, "with: text: hi")
    assert f"broken.yaml:{error.line}: malformed YAML" in text


def test_duplicate_key_names_the_second_occurrence(tmp_path: Path) -> None:
    path = tmp_path / "dup.yaml"
    path.write_text("steps:\n  a:\n    uses: model/m\n  a:\n    uses: model/n\n")
    error = load_error(path)
    assert error.line == 4
    assert "duplicate key 'a'" in str(error)


def test_tab_indentation_is_malformed(tmp_path: Path) -> None:
    path = tmp_path / "tab.yaml"
    path.write_text("steps:\n  a:\n\tuses: model/m\n")
    error = load_error(path)
    assert error.line == 3 and "malformed YAML" in str(error)


def test_missing_file(tmp_path: Path) -> None:
    error = load_error(tmp_path / "absent.yaml")
    assert "absent.yaml" in str(error) and "no such file" in str(error)


def test_a_document_that_is_not_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "list.yaml", "- a\n- b\n")
    error = load_error(path)
    assert "a workflow must be a mapping" in str(error)
    assert error.line == 1


# --------------------------------------------------------------------------- the error table

# (yaml text, expected field, text of the line the error points at, words in the message)
LOCATED_ERRORS = [
    pytest.param(
        """
        name: x
        stepz: {}
        steps:
          a: {uses: model/m}
        """,
        "stepz",
        "stepz:",
        "unknown field",
        id="unknown-top-level-field",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            retries: 3
        """,
        "steps.a.retries",
        "retries: 3",
        "unknown field for a 'uses' step",
        id="unknown-step-field",
    ),
    pytest.param(
        """
        steps:
          a:
            map: "${{ inputs.xs }}"
            cache: true
            step: {uses: model/m}
        """,
        "steps.a.cache",
        "cache: true",
        "unknown field for a 'map' step",
        id="field-of-other-kind",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            with: {text: "${{ steps.nope.output.x }}"}
        """,
        "steps.a",
        "  a:",
        "refers to unknown step 'nope'",
        id="unknown-step-reference",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            if: "${{ steps.ghost.output.ok }}"
        """,
        "steps.a",
        "  a:",
        "refers to unknown step 'ghost'",
        id="unknown-reference-in-if",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
        outputs:
          y: "${{ steps.q.output }}"
        """,
        "outputs.y",
        "y:",
        "refers to unknown step 'q'",
        id="unknown-reference-in-outputs",
    ),
    pytest.param(
        """
        steps:
          a:
            loop:
              max_iterations: 2
              steps:
                b:
                  uses: model/m
                  with: {x: "${{ steps.zz.output }}"}
        """,
        "steps.a.loop.steps.b",
        "b:",
        "refers to unknown step 'zz'",
        id="unknown-ref-in-loop",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            after: [ghost]
        """,
        "steps.a.after",
        "after:",
        "'after' names unknown step 'ghost'",
        id="after-unknown",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            with: {x: "${{ steps.b.output.y }}"}
          b:
            uses: model/m
            with: {x: "${{ steps.a.output.y }}"}
        """,
        "steps.a",
        "  a:",
        "cycle: a -> b -> a",
        id="cycle-two",
    ),
    pytest.param(
        """
        steps:
          c:
            uses: model/m
            with: {x: "${{ steps.a.output }}"}
          a:
            uses: model/m
            with: {x: "${{ steps.b.output }}"}
          b:
            uses: model/m
            after: [c]
        """,
        "steps.c",
        "  c:",
        "cycle: c -> a -> b -> c",
        id="cycle-three-with-after",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            with: {x: "${{ inputs.a + }}"}
        """,
        "steps.a.with",
        "with:",
        "column 11",
        id="bad-expression-with",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            if: "${{ (inputs.x }}"
        """,
        "steps.a.if",
        "if:",
        "column 10",
        id="bad-expression-if",
    ),
    pytest.param(
        """
        steps:
          a:
            map: "${{ inputs.xs[ }}"
            step: {uses: model/m}
        """,
        "steps.a.map",
        "map:",
        "column",
        id="bad-expression-map",
    ),
    pytest.param(
        """
        steps:
          a: {uses: model/m}
        outputs:
          z: "${{ 1 + * 2 }}"
        """,
        "outputs.z",
        "z:",
        "column",
        id="bad-expression-outputs",
    ),
    pytest.param(
        """
        steps:
          a:
            workflow: nothere.yaml
        """,
        "steps.a.workflow",
        "workflow:",
        "sub-workflow file 'nothere.yaml' not found",
        id="missing-sub-workflow",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            retry: {attempts: 0}
        """,
        "steps.a.retry.attempts",
        "retry:",
        "at least 1",
        id="retry-attempts-zero",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            retry:
              attempts: 2.5
        """,
        "steps.a.retry.attempts",
        "attempts: 2.5",
        "whole number",
        id="retry-attempts-fraction",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            retry:
              attempts: 2
              backoff_s: -1
        """,
        "steps.a.retry.backoff_s",
        "backoff_s",
        "non-negative",
        id="retry-negative-backoff",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            retry:
              attempts: 2
              backof: 1
        """,
        "steps.a.retry.backof",
        "backof:",
        "unknown field",
        id="retry-unknown-field",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            retry: lots
        """,
        "steps.a.retry",
        "retry:",
        "number of attempts",
        id="retry-not-a-mapping",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            route:
              policy: best
              max_cost: cheap
        """,
        "steps.a.route.max_cost",
        "max_cost",
        "must be a number",
        id="route-max-cost",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            route: 5
        """,
        "steps.a.route",
        "route:",
        "policy name or a mapping",
        id="route-not-a-mapping",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            route:
              policy: [best]
        """,
        "steps.a.route.policy",
        "policy:",
        "must be a policy name",
        id="route-policy-type",
    ),
    pytest.param(
        """
        steps:
          a:
            approval:
              prompt: "ok?"
              approverz: [x]
        """,
        "steps.a.approval.approverz",
        "approverz",
        "unknown field",
        id="approval-unknown-field",
    ),
    pytest.param(
        """
        steps:
          a:
            approval:
              timeout_s: -1
        """,
        "steps.a.approval.timeout_s",
        "timeout_s",
        "positive number",
        id="approval-timeout",
    ),
    pytest.param(
        """
        steps:
          a:
            approval: yes please
        """,
        "steps.a.approval",
        "approval:",
        "must be a mapping",
        id="approval-not-a-mapping",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            timeout_s: 0
        """,
        "steps.a.timeout_s",
        "timeout_s",
        "positive number",
        id="timeout-zero",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            timeout_s: soon
        """,
        "steps.a.timeout_s",
        "timeout_s",
        "positive number",
        id="timeout-text",
    ),
    pytest.param(
        """
        steps:
          a:
            map: "${{ inputs.xs }}"
        """,
        "steps.a",
        "  a:",
        "a map step needs 'step'",
        id="map-needs-step",
    ),
    pytest.param(
        """
        steps:
          a:
            map: "${{ inputs.xs }}"
            concurrency: 0
            step: {uses: model/m}
        """,
        "steps.a.concurrency",
        "concurrency",
        "at least 1",
        id="map-concurrency",
    ),
    pytest.param(
        """
        steps:
          a:
            loop:
              steps:
                b: {uses: model/m}
        """,
        "steps.a.loop.max_iterations",
        "loop:",
        "is required",
        id="loop-needs-max-iterations",
    ),
    pytest.param(
        """
        steps:
          a:
            loop:
              max_iterations: 0
              steps:
                b: {uses: model/m}
        """,
        "steps.a.loop.max_iterations",
        "max_iterations",
        "at least 1",
        id="loop-max-zero",
    ),
    pytest.param(
        """
        steps:
          a:
            loop:
              max_iterations: 2
              repeat: true
              steps:
                b: {uses: model/m}
        """,
        "steps.a.loop.repeat",
        "repeat:",
        "unknown field for a loop",
        id="loop-unknown-field",
    ),
    pytest.param(
        """
        steps:
          a:
            loop:
              max_iterations: 2
        """,
        "steps.a.loop.steps",
        "loop:",
        "non-empty mapping of steps",
        id="loop-needs-steps",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            map: "${{ inputs.x }}"
        """,
        "steps.a",
        "  a:",
        "exactly one of",
        id="two-kinds",
    ),
    pytest.param(
        """
        steps:
          a:
            with: {x: 1}
        """,
        "steps.a",
        "  a:",
        "(found: none)",
        id="no-kind",
    ),
    pytest.param(
        """
        steps:
          1a:
            uses: model/m
        """,
        "steps.1a",
        "1a:",
        "step ids are",
        id="bad-step-id",
    ),
    pytest.param(
        """
        steps:
          a:
            ensemble: capability/x
            combine: avg
        """,
        "steps.a.combine",
        "combine:",
        "unknown combiner 'avg'",
        id="ensemble-combiner",
    ),
    pytest.param(
        """
        steps:
          a:
            ensemble: capability/x
            models: 0
        """,
        "steps.a.models",
        "models:",
        "positive number",
        id="ensemble-models",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: modle/m
        """,
        "steps.a.uses",
        "uses:",
        "is not a model reference",
        id="bad-reference",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m@^^1
        """,
        "steps.a.uses",
        "uses:",
        "is not a version range",
        id="bad-version-range",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            with: [1, 2]
        """,
        "steps.a.with",
        "with:",
        "must be a mapping",
        id="with-not-a-mapping",
    ),
    pytest.param(
        """
        inputs:
          x: strng
        steps:
          a: {uses: model/m}
        """,
        "inputs.x",
        "x: strng",
        "unknown type 'strng'",
        id="bad-input-type",
    ),
    pytest.param(
        """
        steps: {}
        """,
        "steps",
        "steps:",
        "non-empty mapping of steps",
        id="no-steps",
    ),
    pytest.param(
        """
        steps:
          a:
            uses: model/m
            cache: maybe
        """,
        "steps.a.cache",
        "cache:",
        "true or false",
        id="cache-not-bool",
    ),
]


@pytest.mark.parametrize(("text", "field", "line_text", "words"), LOCATED_ERRORS)
def test_errors_name_file_line_and_field(
    tmp_path: Path, text: str, field: str, line_text: str, words: str
) -> None:
    path = write(tmp_path, "flow.yaml", text)
    error = load_error(path)
    message = assert_located(error, path, line=line_containing(path, line_text), field=field)
    assert words in message


def test_cycle_message_shows_the_path(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "cycle.yaml",
        """
        steps:
          a: {uses: model/m, after: [b]}
          b: {uses: model/m, after: [a]}
        """,
    )
    assert str(load_error(path)).endswith("steps depend on each other in a cycle: a -> b -> a")


def test_a_step_reading_its_own_output_is_a_cycle(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "self.yaml",
        """
        steps:
          a:
            uses: model/m
            with: {x: "${{ steps.a.output.y }}"}
        """,
    )
    error = load_error(path)
    assert "a -> a" in str(error)


def test_boolean_timeout_is_rejected(tmp_path: Path) -> None:
    path = write(tmp_path, "t.yaml", "steps:\n  a:\n    uses: model/m\n    timeout_s: true\n")
    assert_located(load_error(path), path, line=4, field="steps.a.timeout_s")


# --------------------------------------------------------------------------- sub-workflows


def test_sub_workflow_is_loaded_relative_to_its_parent(tmp_path: Path) -> None:
    (tmp_path / "subs").mkdir()
    write(
        tmp_path / "subs",
        "child.yaml",
        """
        inputs: {text: string}
        steps:
          up: {uses: model/m, with: {text: "${{ inputs.text }}"}}
        outputs: {text: "${{ steps.up.output.text }}"}
        """,
    )
    parent = write(
        tmp_path,
        "parent.yaml",
        """
        steps:
          sub:
            workflow: subs/child.yaml
            with: {text: hi}
        """,
    )
    wf = load_workflow(parent)
    sub = wf.steps["sub"]
    assert isinstance(sub, WorkflowStep)
    assert set(sub.workflow.steps) == {"up"}
    assert str((tmp_path / "subs" / "child.yaml").resolve()) in wf.documents


def test_error_inside_a_sub_workflow_names_the_sub_file(tmp_path: Path) -> None:
    child = write(
        tmp_path,
        "child.yaml",
        """
        steps:
          up:
            uses: model/m
            retry: {attempts: 0}
        """,
    )
    parent = write(tmp_path, "parent.yaml", "steps:\n  sub:\n    workflow: child.yaml\n")
    error = load_error(parent)
    assert_located(error, child, line=4, field="steps.up.retry.attempts")


def test_missing_sub_workflow_of_a_sub_workflow(tmp_path: Path) -> None:
    child = write(tmp_path, "child.yaml", "steps:\n  deeper:\n    workflow: gone.yaml\n")
    parent = write(tmp_path, "parent.yaml", "steps:\n  sub:\n    workflow: child.yaml\n")
    error = load_error(parent)
    text = assert_located(error, child, line=3, field="steps.deeper.workflow")
    assert "'gone.yaml' not found" in text


def test_sub_workflows_including_each_other_show_the_chain(tmp_path: Path) -> None:
    write(tmp_path, "b.yaml", "steps:\n  back:\n    workflow: a.yaml\n")
    a = write(tmp_path, "a.yaml", "steps:\n  there:\n    workflow: b.yaml\n")
    error = load_error(a)
    text = str(error)
    assert "\n" not in text
    assert "sub-workflows include each other: a.yaml -> b.yaml -> a.yaml" in text


def test_a_workflow_including_itself(tmp_path: Path) -> None:
    a = write(tmp_path, "self.yaml", "steps:\n  me:\n    workflow: self.yaml\n")
    assert "self.yaml -> self.yaml" in str(load_error(a))


def test_include_cycle_error_names_line_and_field(tmp_path: Path) -> None:
    b = write(tmp_path, "b.yaml", "steps:\n  back:\n    workflow: a.yaml\n")
    a = write(tmp_path, "a.yaml", "steps:\n  there:\n    workflow: b.yaml\n")
    error = load_error(a)
    assert error.line is not None and error.field is not None
    assert error.field.endswith(".workflow")
    assert Path(error.file or "").name in (a.name, b.name)


# --------------------------------------------------------------------------- registry checks


@pytest.fixture
def orch(tmp_path: Path) -> Iterator[podium.Orchestrator]:
    with podium.Orchestrator(home=tmp_path / "home", discover=False) as o:

        @o.model(capabilities=["text.shout"])
        def shout(text: str) -> dict[str, str]:
            return {"text": text.upper()}

        yield o


@pytest.mark.parametrize(
    ("step", "field", "words"),
    [
        ("uses: model/nope", "steps.a.uses", "no model named 'nope'"),
        ("uses: model/shout@^2", "steps.a.uses", "no version of 'shout' matches '^2'"),
        ("uses: capability/text.shoot", "steps.a.uses", "did you mean 'text.shout'"),
        ("uses: model/shout\n    with: {}", "steps.a.with", "needs input 'text'"),
        (
            "uses: model/shout\n    with: {txt: hi}",
            "steps.a.with.txt",
            "shout@0.1.0 has no input 'txt' (inputs: text)",
        ),
        ("uses: model/shout\n    with: {text: 3}", "steps.a.with.text", "is string, but integer"),
    ],
)
def test_registry_checks_are_workflow_errors(
    orch: podium.Orchestrator, tmp_path: Path, step: str, field: str, words: str
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(f"steps:\n  a:\n    {step}\n")
    with pytest.raises(WorkflowError) as info:
        orch.load(path)
    text = str(info.value)
    assert "\n" not in text
    assert text.startswith(str(path)) and f": {field}: " in text and words in text


def test_registry_check_errors_name_the_line(orch: podium.Orchestrator, tmp_path: Path) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("name: x\nsteps:\n  a:\n    uses: model/nope\n")
    with pytest.raises(WorkflowError) as info:
        orch.load(path)
    assert info.value.line == 4
    assert str(info.value).startswith(f"{path}:4: steps.a.uses: ")


def test_unknown_fallback_names_the_fallback_field(
    orch: podium.Orchestrator, tmp_path: Path
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        "steps:\n  a:\n    uses: model/shout\n    with: {text: x}\n    fallback: [model/ghost]\n"
    )
    with pytest.raises(WorkflowError) as info:
        orch.load(path)
    assert info.value.field == "steps.a.fallback.0"


def test_reference_to_an_undeclared_input_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "inputs.yaml",
        """
        inputs: {message: string}
        steps:
          a:
            uses: model/m
            with: {text: "${{ inputs.mesage }}"}
        """,
    )
    error = load_error(path)
    assert "mesage" in str(error)
    assert error.line in (4, 5)


def test_an_unknown_with_field_is_refused_with_its_line(
    orch: podium.Orchestrator, tmp_path: Path
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        "steps:\n  a:\n    uses: model/shout\n    with:\n      text: hi\n      txt: ho\n"
    )
    with pytest.raises(WorkflowError) as info:
        orch.load(path)
    assert str(info.value) == (
        f"{path}:6: steps.a.with.txt: shout@0.1.0 has no input 'txt' (inputs: text)"
    )


def test_an_unknown_with_field_of_a_capability_names_the_capability(
    orch: podium.Orchestrator, tmp_path: Path
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text("steps:\n  a:\n    uses: capability/text.shout\n    with: {text: a, x: 1}\n")
    with pytest.raises(WorkflowError) as info:
        orch.load(path)
    assert "steps.a.with.x: capability/text.shout has no input 'x' (inputs: text)" in str(
        info.value
    )


def test_open_schemas_take_any_with_field(tmp_path: Path) -> None:
    with podium.Orchestrator(home=tmp_path / "home", discover=False) as o:

        @o.model(
            capabilities=["t.loose"],
            input={"type": "object", "properties": {"text": {"type": "string"}}},
        )
        def loose(**fields: Any) -> dict[str, Any]:
            return fields

        @o.model(capabilities=["t.any"], input={})
        def anything(**fields: Any) -> dict[str, Any]:
            return fields

        @o.model(
            capabilities=["t.strict"],
            input={
                "type": "object",
                "properties": {"text": {"type": "string"}},
                "additionalProperties": False,
            },
        )
        def strict(text: str) -> dict[str, str]:
            return {"text": text}

        for name in ("loose", "anything"):
            path = tmp_path / f"{name}.yaml"
            path.write_text(f"steps:\n  a:\n    uses: model/{name}\n    with: {{text: a, x: 1}}\n")
            o.load(path)
        path = tmp_path / "strict.yaml"
        path.write_text("steps:\n  a:\n    uses: model/strict\n    with: {text: a, x: 1}\n")
        with pytest.raises(WorkflowError) as info:
            o.load(path)
        assert "steps.a.with.x: strict@" in str(info.value)


def test_with_given_as_one_expression_is_not_checked_field_by_field(
    orch: podium.Orchestrator, tmp_path: Path
) -> None:
    path = tmp_path / "flow.yaml"
    path.write_text(
        "inputs: {args: object}\nsteps:\n  a:\n    uses: model/shout\n"
        '    with: "${{ inputs.args }}"\n'
    )
    orch.load(path)


# --------------------------------------------------------------------------- limits


def test_max_iterations_over_the_limit_is_refused(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "loop.yaml",
        """
        steps:
          l:
            loop:
              max_iterations: 1000000000
              steps:
                a: {uses: model/m}
        """,
    )
    text = assert_located(load_error(path), path, line=4, field="steps.l.loop.max_iterations")
    assert text.endswith(
        "max_iterations (1,000,000,000) exceeds the limit of 10,000 "
        "(set PODIUM_LIMIT_LOOP_ITERATIONS)"
    )
    assert load_workflow(path, limits=Limits(loop_iterations=10**9)).steps["l"]


def test_too_many_steps_are_refused_nested_ones_included(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "many.yaml",
        """
        steps:
          a: {uses: model/m}
          l:
            loop:
              max_iterations: 2
              steps:
                b: {uses: model/m}
                c: {map: "${{ [1] }}", step: {uses: model/m}}
          d: {uses: model/m}
        """,
    )
    assert len(load_workflow(path, limits=Limits(workflow_steps=6)).steps) == 3
    error = load_workflow_error(path, Limits(workflow_steps=5))
    text = assert_located(error, path, line=9, field="steps.d")
    assert "step count with nested and sub-workflow steps (6) exceeds the limit of 5" in text


def load_workflow_error(path: Path, limits: Limits) -> WorkflowError:
    with pytest.raises(WorkflowError) as info:
        load_workflow(path, limits=limits)
    return info.value


def test_mapping_and_snapshot_loads_take_limits(tmp_path: Path) -> None:
    doc = {"steps": {"a": {"uses": "model/m"}, "b": {"uses": "model/m"}}}
    with pytest.raises(WorkflowError, match="PODIUM_LIMIT_WORKFLOW_STEPS"):
        workflow_from_mapping(doc, limits=Limits(workflow_steps=1))
    snapshot = workflow_from_mapping(doc).snapshot()
    assert set(workflow_from_snapshot(snapshot).steps) == {"a", "b"}
    with pytest.raises(WorkflowError, match="PODIUM_LIMIT_WORKFLOW_STEPS"):
        workflow_from_snapshot(snapshot, limits=Limits(workflow_steps=1))


def test_sub_workflows_count_towards_the_step_limit(tmp_path: Path) -> None:
    write(tmp_path, "child.yaml", "steps:\n  x: {uses: model/m}\n  y: {uses: model/m}\n")
    parent = write(tmp_path, "parent.yaml", "steps:\n  sub: {workflow: child.yaml}\n")
    assert load_workflow(parent, limits=Limits(workflow_steps=3))
    with pytest.raises(WorkflowError, match=r"\(3\) exceeds the limit of 2"):
        load_workflow(parent, limits=Limits(workflow_steps=2))


def test_a_sub_workflow_included_many_times_is_built_once(tmp_path: Path) -> None:
    """Each file includes the next one twice: 2**30 inclusions, each file built once."""
    for i in range(30):
        body = (
            f"steps:\n  a: {{workflow: f{i + 1}.yaml}}\n  b: {{workflow: f{i + 1}.yaml}}\n"
            if i < 29
            else "steps:\n  a: {uses: model/m}\n"
        )
        (tmp_path / f"f{i}.yaml").write_text(body)
    started = time.perf_counter()
    workflow = load_workflow(tmp_path / "f0.yaml")
    assert time.perf_counter() - started < 2.0
    a, b = workflow.steps["a"], workflow.steps["b"]
    assert isinstance(a, WorkflowStep) and isinstance(b, WorkflowStep)
    assert a.workflow is b.workflow
    assert len(workflow.documents) == 29


def test_sub_workflows_nest_at_most_the_depth_limit(tmp_path: Path) -> None:
    for i in range(100):
        body = (
            f"steps:\n  a: {{workflow: c{i + 1}.yaml}}\n" if i < 99 else "steps:\n  a: {uses: m}\n"
        )
        (tmp_path / f"c{i}.yaml").write_text(body)
    error = load_error(tmp_path / "c0.yaml")
    assert "nesting of steps in loops, maps and sub-workflows (65) exceeds the limit of 64" in str(
        error
    )
    assert error.line == 2 and error.field == "steps.a"


def test_a_shallow_include_does_not_hide_a_deep_one(tmp_path: Path) -> None:
    """A file first included near the top is built once; including it again deeper must
    still count the nesting inside it."""
    write(tmp_path, "l1.yaml", "steps:\n  a: {workflow: l2.yaml}\n")
    write(tmp_path, "l2.yaml", "steps:\n  a: {workflow: l3.yaml}\n")
    write(tmp_path, "l3.yaml", "steps:\n  a: {uses: model/m}\n")  # l1 holds 3 levels
    write(tmp_path, "m1.yaml", "steps:\n  a: {workflow: m2.yaml}\n")
    m2 = write(tmp_path, "m2.yaml", "steps:\n  a: {workflow: l1.yaml}\n")
    parent = write(
        tmp_path,
        "parent.yaml",
        "steps:\n  first: {workflow: l1.yaml}\n  second: {workflow: m1.yaml}\n",
    )
    assert load_workflow(parent, limits=Limits(yaml_depth=6))  # second > m1 > m2 > l1 > l2 > l3
    error = load_workflow_error(parent, Limits(yaml_depth=5))
    text = assert_located(error, m2, line=2, field="steps.a.workflow")
    assert "nesting of steps in loops, maps and sub-workflows (6) exceeds the limit of 5" in text


def test_a_long_chain_declared_backwards_has_no_recursion_limit(tmp_path: Path) -> None:
    lines = ["steps:"]
    for i in range(3000, 0, -1):
        text = f"${{{{ steps.s{i - 1}.output.text }}}}" if i > 1 else "hi"
        lines.append(f'  s{i}: {{uses: model/m, with: {{text: "{text}"}}}}')
    path = tmp_path / "chain.yaml"
    path.write_text("\n".join(lines) + "\n")
    assert load_workflow(path).steps["s3000"].deps == {"s2999"}


def test_ten_thousand_steps_load_quickly(tmp_path: Path) -> None:
    """Each step used to copy the set of its siblings: quadratic, 6 s of CPU for 10,000."""
    path = tmp_path / "wide.yaml"
    lines = [f"  s{i}: {{uses: model/m, after: [s0]}}" for i in range(1, 10_000)]
    path.write_text("steps:\n  s0: {uses: model/m}\n" + "\n".join(lines) + "\n")
    started = time.process_time()
    assert len(load_workflow(path).steps) == 10_000
    assert time.process_time() - started < 3.0


def test_cycle_search_matches_on_a_long_chain() -> None:
    graph = {f"s{i}": frozenset({f"s{i + 1}"}) for i in range(5000)}
    graph["s5000"] = frozenset({"s0"})
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1] == "s0" and len(cycle) == 5002
    assert find_cycle({"a": frozenset({"b"}), "b": frozenset()}) is None


def test_retry_attempts_are_bounded() -> None:
    from podium._limits import Limits
    from podium.engine import workflow_from_mapping
    from podium.errors import WorkflowError

    doc = {"steps": {"a": {"uses": "model/m", "retry": {"attempts": 1_000_000}}}}
    with pytest.raises(
        WorkflowError, match=r"steps\.a\.retry\.attempts: .*PODIUM_LIMIT_RETRY_ATTEMPTS"
    ):
        workflow_from_mapping(doc)
    workflow_from_mapping(doc, limits=Limits(retry_attempts=1_000_000))
    jitter = {"steps": {"a": {"uses": "model/m", "retry": {"attempts": 2, "jitter": 3}}}}
    with pytest.raises(WorkflowError, match=r"retry\.jitter: must be a fraction"):
        workflow_from_mapping(jitter)
