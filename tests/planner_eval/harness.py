"""Load the evaluation catalogues, plan every case and score node and edge F1.

Shared by ``tests/integration/test_planner_eval*.py`` and ``benchmarks/planner_eval.py``.
Two suites: ``v1`` (this folder: three catalogues, 182 cases) and ``v2``
(``tests/planner_eval2``: three catalogues written independently after public tool lists,
200 cases in the styles of public task-automation benchmarks).
A catalogue's tools become models: a media tool's inputs are fields named after their
types (a second input of one type gets ``_2``: ``image``, ``image_2``), its output a field
named after its type; an API tool's parameters are its input fields (so its consumed types
are the parameter names) and its result one output field. Each case is planned from the
request text alone (no given inputs, no wanted types). Node F1 compares the set of tool
names in the plan with the expected set, edge F1 the set of (source tool, target tool)
pairs, where an edge is a step reading another step's output or ordered after it; both
are micro-averaged over cases (true positives, planned and expected summed first).
"""

from __future__ import annotations

import functools
import statistics
import time
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from podium.engine import check_models, workflow_from_mapping
from podium.errors import UserError
from podium.planner import Planner, PlanOptions
from podium.registry import ModelSpec, Registry
from podium.store import MemoryStore

HERE = Path(__file__).resolve().parent
EVAL2 = HERE.parent / "planner_eval2"
SUITES = {"v1": HERE, "v2": EVAL2}
CATALOGUES = {
    "media-ml": HERE / "media_ml.yaml",
    "media-edit": HERE / "media_edit.yaml",
    "daily-api": HERE / "daily_api.yaml",
    "hf-tasks": EVAL2 / "hf_tasks.yaml",
    "multimedia": EVAL2 / "multimedia.yaml",
    "daily-life": EVAL2 / "daily_life.yaml",
}
SPLITS = {"tuning": "cases_tuning.yaml", "held-out": "cases_holdout.yaml"}


def tool_specs(catalogue: str) -> list[ModelSpec]:
    """The catalogue's tools as model specs."""
    data = yaml.safe_load(CATALOGUES[catalogue].read_text())
    specs = []
    for tool in data["tools"]:
        capability = f"{data['domain']}.{tool['name'].replace('-', '_')}"
        extra: dict[str, Any] = {}
        if "params" in tool:
            inputs = dict.fromkeys(tool["params"], "string")
            outputs = {tool["returns"]: "string"}
        else:
            inputs, seen = {}, defaultdict(int)
            for t in tool["consumes"]:
                seen[t] += 1
                inputs[t if seen[t] == 1 else f"{t}_{seen[t]}"] = "string"
            outputs = dict.fromkeys(tool["produces"], "string")
            extra = {"consumes": list(tool["consumes"]), "produces": list(tool["produces"])}
        specs.append(
            ModelSpec(
                name=tool["name"],
                version="1.0.0",
                description=tool["description"],
                capabilities=[capability],
                input=inputs,
                output=outputs,
                cost={"per_call": 0.001},
                **extra,
            )
        )
    return specs


def planner_for(catalogue: str) -> Planner:
    store = MemoryStore()
    registry = Registry(store)
    for spec in tool_specs(catalogue):
        registry.register(spec)
    return Planner(registry, store)


def cases(split: str, suite: str = "v1") -> list[dict[str, Any]]:
    return list(yaml.safe_load((SUITES[suite] / SPLITS[split]).read_text())["cases"])


@dataclass
class Outcome:
    case: dict[str, Any]
    nodes: set[str]
    edges: set[tuple[str, str]]
    error: str | None
    valid: bool
    ms: float


def tool_graph(planner: Planner, plan: Any) -> tuple[set[str], set[tuple[str, str]]]:
    """The tool names a plan calls and the (source, target) pairs between its steps."""
    graph = planner.graph()
    name_of: dict[str, str] = {}
    for info in plan.why.steps:
        op = graph.operator_for(info.uses)
        name_of[info.id] = op.providers[0].name if op and op.providers else info.uses
    edges = {(name_of[d], name_of[i.id]) for i in plan.why.steps for d in i.after}
    return set(name_of.values()), edges


def run_case(planner: Planner, case: dict[str, Any], options: PlanOptions) -> Outcome:
    started = time.perf_counter()
    try:
        plan = planner.plan(case["request"], options=options)
    except UserError as exc:
        return Outcome(case, set(), set(), str(exc), True, (time.perf_counter() - started) * 1e3)
    ms = (time.perf_counter() - started) * 1e3
    nodes, edges = tool_graph(planner, plan)
    try:
        check_models(workflow_from_mapping(plan.document, source="<plan>"), planner.registry)
        valid = True
    except UserError:
        valid = False
    return Outcome(case, nodes, edges, None, valid, ms)


def run(
    matcher: str,
    splits: Sequence[str] = ("tuning", "held-out"),
    *,
    llm: bool = False,
    suite: str = "v1",
) -> list[Outcome]:
    """Every case of ``suite``'s ``splits`` planned with ``matcher`` (one planner per
    catalogue); ``llm`` plans with the LLM at ``PODIUM_LLM_BASE_URL`` (validated, as
    always)."""
    options = PlanOptions(matcher=matcher, templates=False, llm=llm)
    planners: dict[str, Planner] = {}
    found = []
    for split in splits:
        for case in cases(split, suite):
            planner = planners.get(case["catalogue"])
            if planner is None:
                planner = planners[case["catalogue"]] = planner_for(case["catalogue"])
                # load the model and encode the catalogue once, as a running server would
                planner.matcher(matcher).phrase_scores(planner.graph(), ["warm up"])
            outcome = run_case(planner, {**case, "split": split}, options)
            found.append(outcome)
    return found


@dataclass
class Score:
    cases: int = 0
    node_tp: int = 0
    node_planned: int = 0
    node_expected: int = 0
    edge_tp: int = 0
    edge_planned: int = 0
    edge_expected: int = 0
    exact: int = 0
    refused: int = 0
    invalid: int = 0
    ms: list[float] = field(default_factory=list)

    def add(self, o: Outcome) -> None:
        want_nodes = set(o.case["nodes"])
        want_edges = {(a, b) for a, b in o.case["edges"]}
        self.cases += 1
        self.node_tp += len(o.nodes & want_nodes)
        self.node_planned += len(o.nodes)
        self.node_expected += len(want_nodes)
        self.edge_tp += len(o.edges & want_edges)
        self.edge_planned += len(o.edges)
        self.edge_expected += len(want_edges)
        self.exact += o.nodes == want_nodes and o.edges == want_edges
        self.refused += o.error is not None
        self.invalid += not o.valid
        self.ms.append(o.ms)

    @staticmethod
    def _f1(tp: int, planned: int, expected: int) -> float:
        return 2 * tp / (planned + expected) if planned + expected else 1.0

    @property
    def node_f1(self) -> float:
        return self._f1(self.node_tp, self.node_planned, self.node_expected)

    @property
    def edge_f1(self) -> float:
        return self._f1(self.edge_tp, self.edge_planned, self.edge_expected)

    def row(self) -> dict[str, Any]:
        return {
            "cases": self.cases,
            "node_f1": round(self.node_f1, 3),
            "edge_f1": round(self.edge_f1, 3),
            "exact": round(self.exact / self.cases, 3) if self.cases else 0.0,
            "refused": self.refused,
            "invalid": self.invalid,
            "p50_ms": round(statistics.median(self.ms), 2) if self.ms else 0.0,
        }


def score(outcomes: Iterable[Outcome], *keys: str) -> dict[tuple[str, ...], Score]:
    """Scores grouped by the case fields ``keys`` (e.g. ``catalogue``, ``type``)."""
    found: dict[tuple[str, ...], Score] = defaultdict(Score)
    for o in outcomes:
        found[tuple(str(o.case[k]) for k in keys)].add(o)
    return dict(sorted(found.items()))


@functools.cache
def domain(catalogue: str) -> str:
    """``media`` or ``api``, as the catalogue says."""
    return str(yaml.safe_load(CATALOGUES[catalogue].read_text())["domain"])
