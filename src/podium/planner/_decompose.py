"""Sub-tasks: which tool each clause of a request asks for, by what its words mean.

Each clause of :func:`podium.planner._parse.parse` is scored against every operator with
the matcher (BM25, or MiniLM embeddings fused with BM25). A clause asks for its best
operator when the score clears the matcher's threshold, or a lower floor with a clear
margin over the runner-up; the types an operator consumes play no part in choosing it
(they wire and check the graph afterwards), except to break a near tie towards an
operator that takes what the clause names ("caption photo.jpg": a tool that reads an
image). ``confidence`` turns the score and the margin into a probability that the choice
is right (a logistic regression fitted on the evaluation's tuning split).
Clauses that ask for nothing ("Hi!", "I have a photo") give no sub-task but their named
inputs stay in the request.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from podium.planner._graph import SignatureGraph
from podium.planner._match import Matcher
from podium.planner._parse import Clause, Parsed
from podium.planner._types import PlanError

# Logistic calibration per matcher: P(the best operator is one the request asks for) =
# sigmoid(b0 + b1 * score + b2 * (score - runner-up)), fitted by logistic regression on
# the 224 clauses of the evaluation's tuning split (benchmarks/planner_eval.py). Brier
# score 0.093 (lexical) and 0.070 (embedding), against 0.173 and 0.116 for a constant.
CALIBRATION: dict[str, tuple[float, float, float]] = {
    "lexical": (-1.346, 0.326, 0.958),
    "embedding": (-1.777, 3.089, 15.209),
}
HEAD_WEIGHT = 0.5
TIE = {"embedding": 0.1, "lexical": 0.25}


@dataclass(frozen=True)
class SubTask:
    """A clause and the operator chosen for it (``op`` is ``None`` when none fits)."""

    clause: Clause
    op: int | None
    score: float
    confidence: float
    candidates: tuple[tuple[int, float], ...]


def confidence(kind: str, top: float, runner_up: float) -> float:
    """Calibrated probability that the best-scoring operator is the one asked for."""
    b0, b1, b2 = CALIBRATION.get(kind, CALIBRATION["lexical"])
    x = b0 + b1 * top + b2 * (top - runner_up)
    return 1.0 / (1.0 + math.exp(-max(-40.0, min(40.0, x))))


def _accepts(matcher: Matcher, top: float, runner_up: float) -> bool:
    if top >= matcher.threshold:
        return True
    return top >= matcher.floor and top - runner_up >= matcher.margin


def decompose(
    parsed: Parsed,
    graph: SignatureGraph,
    matcher: Matcher,
    usable: Collection[int] | None = None,
    type_of: dict[str, str] | None = None,
) -> list[SubTask]:
    """One sub-task per clause, in the order the clauses run. ``usable`` (operators that
    can run on what the caller has) wins over the best overall when one clears the
    threshold. ``type_of`` maps a media kind (image, audio, ...) to the graph's type."""
    clauses = parsed.clauses
    if not clauses or not len(graph):
        return []
    texts = [c.words for c in clauses]
    heads = [c.head for c in clauses]
    both = matcher.phrase_scores(graph, [*texts, *heads])
    rows = [
        [max(w, HEAD_WEIGHT * h + (1 - HEAD_WEIGHT) * w) for w, h in zip(whole, head, strict=True)]
        for whole, head in zip(both[: len(texts)], both[len(texts) :], strict=True)
    ]
    tie = TIE.get(matcher.kind, 0.05)
    kinds = type_of or {}
    available: set[str] = {kinds.get("text", "text")}
    found: list[SubTask] = []
    for clause, scores in zip(clauses, rows, strict=True):
        available.update(kinds.get(n.modality or "", "") for n in clause.named)
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])
        if usable is not None:
            kept = [i for i in ranked if i in usable]
            if kept and scores[kept[0]] >= matcher.threshold:
                ranked = kept
        top = scores[ranked[0]]
        runner_up = scores[ranked[1]] if len(ranked) > 1 else 0.0
        candidates = tuple((i, scores[i]) for i in ranked[:3])
        if not _accepts(matcher, top, runner_up):
            found.append(
                SubTask(clause, None, top, confidence(matcher.kind, top, runner_up), candidates)
            )
            continue
        choice = ranked[0]
        near = [i for i in ranked[:5] if scores[i] >= top - tie * max(1.0, abs(top))]
        if len(near) > 1:
            fits = {i: _fit(graph.operators[i].consumes, available, kinds) for i in near}
            best_fit = max(fits.values())
            if fits[choice] < best_fit:
                choice = next(i for i in near if fits[i] == best_fit)
        available.update(graph.operators[choice].produces)
        found.append(
            SubTask(
                clause,
                choice,
                scores[choice],
                confidence(matcher.kind, top, runner_up),
                candidates,
            )
        )
    return _merged(found)


def _fit(consumes: Sequence[str], available: set[str], kinds: dict[str, str]) -> int:
    """1 when every media input of a tool (image, audio, video, text) is at hand: named
    by the request so far or produced by an earlier sub-task; else 0."""
    media = {kinds[k] for k in ("image", "audio", "video", "text") if k in kinds}
    return int(all(t in available for t in consumes if t in media))


def _merged(tasks: list[SubTask]) -> list[SubTask]:
    """A clause that repeats the tool of the clause just before, joined by "and", is part
    of that clause ("find the people, places and organisations"; "stitch a.jpg and
    b.jpg into a panorama": one step, with the inputs of both)."""
    out: list[SubTask] = []
    for task in tasks:
        prev = out[-1] if out else None
        if (
            prev is not None
            and task.op is not None
            and task.op == prev.op
            and task.clause.link in ("and", "par")
        ):
            clause = dataclasses.replace(
                prev.clause,
                text=f"{prev.clause.text} and {task.clause.text}",
                named=prev.clause.named + task.clause.named,
            )
            out[-1] = dataclasses.replace(prev, clause=clause)
            continue
        out.append(task)
    return out


def describe(graph: SignatureGraph, task: SubTask) -> str:
    """``"the clause" (closest: a 0.31, b 0.22)``."""
    close = ", ".join(f"{graph.operators[i].ref} {s:.2f}" for i, s in task.candidates)
    return f'"{task.clause.text}"' + (f" (closest: {close})" if close else "")


def no_tool(graph: SignatureGraph, tasks: Sequence[SubTask], goal: str) -> PlanError:
    """The error for a request none of whose clauses has a tool."""
    if not tasks:
        return PlanError(f"cannot tell what {goal!r} asks for: it names no task")
    parts = "; ".join(describe(graph, t) for t in tasks)
    return PlanError(
        f"cannot tell what {goal!r} asks for: no tool scores high enough for {parts}; "
        "describe the capability in those words (describe_capability) or name the "
        "wanted types with --want"
    )
