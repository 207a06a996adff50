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
import re
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from podium.planner._cues import strip_polite
from podium.planner._graph import SignatureGraph
from podium.planner._match import Matcher
from podium.planner._parse import HEAD_WORDS, Clause, Parsed
from podium.planner._types import PlanError

# Logistic calibration per matcher: P(the operator chosen is one the request asks for) =
# sigmoid(b0 + b1 * score + b2 * (score - runner-up)), fitted by logistic regression on
# the 417 clauses that ask something in the tuning splits of both evaluations
# (benchmarks/planner_calibrate.py). Brier score 0.095 (lexical) and 0.045 (embedding),
# against 0.149 and 0.067 for a constant.
CALIBRATION: dict[str, tuple[float, float, float]] = {
    "lexical": (-0.822, 0.243, 0.758),
    "embedding": (-2.147, 5.857, 12.587),
}
HEAD_WEIGHT = 0.5
PENALTY = {"embedding": 0.2, "lexical": 0.5}
MEDIA = ("image", "audio", "video", "text")
ANY = "*"  # in a clause's sources: any one of them will do ("it")


@dataclass(frozen=True)
class SubTask:
    """A clause and the operator chosen for it (``op`` is ``None`` when none fits);
    ``scores``: the clause's score per operator; ``follow``: operators the clause asks for
    after its own, on its result (a translation "... in Spanish", a medium it asks to
    make that its tool does not)."""

    clause: Clause
    op: int | None
    score: float
    confidence: float
    candidates: tuple[tuple[int, float], ...]
    scores: tuple[float, ...] = ()
    follow: tuple[int, ...] = ()


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
    rows, asides, questions = _scores(clauses, graph, matcher)
    fit = _Fit(graph, matcher, type_of or {})
    found: list[SubTask] = []
    for clause in clauses:
        fit.see_named(clause)
        if clause.position not in rows:  # a context clause: its inputs stay, it asks nothing
            found.append(SubTask(clause, None, 0.0, 0.0, ()))
            continue
        sources, targets, plain = fit.resolve(clause)
        scores = rows[clause.position]
        if plain and clause.plain != clause.task:
            scores = _plain(clause, graph, matcher)
        asked = questions.get(clause.position)
        if asked is not None and max(scores) < matcher.threshold <= max(asked):
            scores = asked  # a question none of whose words names a tool: one to answer it
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])
        if usable is not None:
            kept = [i for i in ranked if i in usable]
            if kept and scores[kept[0]] >= matcher.threshold:
                ranked = kept
        top = scores[ranked[0]]
        runner_up = scores[ranked[1]] if len(ranked) > 1 else 0.0
        candidates = tuple((i, scores[i]) for i in ranked[:3])
        sure = confidence(matcher.kind, top, runner_up)
        if not _accepts(matcher, top, runner_up):
            found.append(SubTask(clause, None, top, sure, candidates))
            continue
        choice = fit.choose(sources, targets, ranked[:8], scores)
        fit.see_op(choice)
        follow = fit.follow(choice, targets, scores, asides.get(clause.position), matcher)
        for then in follow:
            fit.see_op(then)
        found.append(
            SubTask(clause, choice, scores[choice], sure, candidates, tuple(scores), follow)
        )
    return _merged(found)


def _scores(
    clauses: Sequence[Clause], graph: SignatureGraph, matcher: Matcher
) -> tuple[dict[int, list[float]], dict[int, list[float]], dict[int, list[float]]]:
    """Per clause that asks something (by position), one score per operator for its task
    (references read as "it"): the larger of the whole text's score and the mean of it
    and its first words' score; with what the user said just before ("I have a sore throat"),
    also the mean of the text's score and the score of both together. And the scores of
    each clause's aside ("translate it into Spanish") and of each question about an input
    it names, read as one to answer ("answer the question about the image: what is the
    man holding?"). One batch."""
    asking = [c for c in clauses if not c.context]
    if not asking:
        return {}, {}, {}
    texts = [c.task or c.words for c in asking]
    backed = [f"{c.task or c.words}. {c.background}" for c in asking if c.background]
    aside = [c.aside for c in asking if c.aside]
    asked = [c for c in asking if c.task.endswith("?") and c.sources]
    question = [f"answer the question about the {_about(c)}: {c.task}" for c in asked]
    n = len(texts)
    heads = [t[slice(*head_span(t))] for t in texts]
    scored = matcher.phrase_scores(graph, [*texts, *heads, *backed, *aside, *question])
    tail = scored[len(scored) - len(aside) - len(question) :]
    asides = dict(zip([c.position for c in asking if c.aside], tail, strict=False))
    questions = dict(zip([c.position for c in asked], tail[len(aside) :], strict=True))
    extra = iter(scored[2 * n :])
    rows: dict[int, list[float]] = {}
    for k, clause in enumerate(asking):
        row = _with_head(scored[k], scored[n + k])
        if clause.background:
            row = [max(r, (w + b) / 2) for r, w, b in zip(row, scored[k], next(extra), strict=True)]
        rows[clause.position] = row
    return rows, asides, questions


def _with_head(whole: Sequence[float], head: Sequence[float]) -> list[float]:
    """The larger of a text's score and the mean of it and its first words' score."""
    return [
        max(w, HEAD_WEIGHT * h + (1 - HEAD_WEIGHT) * w) for w, h in zip(whole, head, strict=True)
    ]


def _plain(clause: Clause, graph: SignatureGraph, matcher: Matcher) -> list[float]:
    """The clause's scores read with the nouns of the results it names ("download the
    image that the link points to"), when nothing earlier made such a result."""
    head = clause.plain[slice(*head_span(clause.plain))]
    whole, first = matcher.phrase_scores(graph, [clause.plain, head])
    return _with_head(whole, first)


def head_span(task: str) -> tuple[int, int]:
    """Where a task's first words after any politeness are (``HEAD_WORDS`` of them)."""
    rest = strip_polite(task)
    start = len(task) - len(rest) if rest and task.endswith(rest) else 0
    words = list(re.finditer(r"\S+", task[start:]))[:HEAD_WORDS]
    return (start, start + words[-1].end()) if words else (0, len(task))


def _about(clause: Clause) -> str:
    """The medium a question is about: its own or carried input, else "text"."""
    return next((k for k in clause.sources if k in ("image", "audio", "video")), "text")


class _Fit:
    """How well a tool's types fit what a clause reads and makes: a tool that reads none
    of the media kinds the clause names or refers to, that makes none of the kinds it asks
    for, or that needs a medium the request has not brought in, scores a little lower
    (``PENALTY`` per miss, on the score's scale), so the types decide only between tools
    the words put close together. Media catalogues only (a graph with image, audio or
    video types)."""

    def __init__(self, graph: SignatureGraph, matcher: Matcher, kinds: dict[str, str]):
        self.graph = graph
        self.step = PENALTY.get(matcher.kind, 0.1)
        self.relative = matcher.kind == "lexical"
        self.kind_of = {t: k for k, t in kinds.items() if k in MEDIA}
        self.media = any(k in kinds for k in ("image", "audio", "video"))
        self.recent: list[str] = []  # media kinds brought in so far, in order

    def kinds(self, types: Sequence[str]) -> set[str]:
        return {self.kind_of[t] for t in types if t in self.kind_of}

    def see_named(self, clause: Clause) -> None:
        for named in clause.named:
            kind = named.modality if named.kind in ("file", "quote") else "text"
            if kind in MEDIA:
                self.recent.append(kind)

    def see_op(self, op: int) -> None:
        self.recent.extend(sorted(self.kinds(self.graph.operators[op].produces)))

    def resolve(self, clause: Clause) -> tuple[set[str], set[str], int]:
        """What the clause reads and makes, and which reading of its words fits (0: its
        references as "it"; 1: with their nouns). A result it names ("the image") that
        nothing earlier brought in is what it asks to make ("download the image that the
        link points to"), not something it reads."""
        sources = {k for k in clause.sources if k in MEDIA}
        targets = {k for k in clause.targets if k in MEDIA}
        unresolved = [k for k in clause.back if k in MEDIA and k not in self.recent]
        sources |= {k for k in clause.back if k in MEDIA and k in self.recent}
        targets |= set(unresolved)
        if not sources and clause.refers:
            # "it", "they": something brought in already (a tool reading none is a miss)
            sources = {ANY, *self.recent} if self.recent else {"text"}
        return sources, targets, int(bool(unresolved))

    def misses(self, sources: set[str], targets: set[str], op: int) -> float:
        """1 for each of: reads none of ``sources`` (less for reading some of them), makes
        none of ``targets``, needs a medium the request has not brought in."""
        operator = self.graph.operators[op]
        reads, makes = self.kinds(operator.consumes), self.kinds(operator.produces)
        missed = 0.0
        if ANY in sources:
            missed += 0.0 if sources & reads else 1.0
        elif sources:
            missed += 1.0 - len(sources & reads) / len(sources)
        if targets and not targets & makes:
            missed += 1.0
        if any(k != "text" and k not in self.recent for k in reads):
            missed += 1.0
        return missed

    def follow(
        self,
        choice: int,
        targets: set[str],
        scores: Sequence[float],
        aside: Sequence[float] | None,
        matcher: Matcher,
    ) -> tuple[int, ...]:
        """Operators the clause asks for after ``choice``, on its result: the best match
        of its aside when that is another tool that reads what ``choice`` makes ("... in
        Spanish": a translation), then, when the clause asks for a medium its tools do not
        make ("I'd love to see a picture of what I describe in my recording"), the
        one-input converter to it that the clause's words favour."""
        found: list[int] = []
        ops = self.graph.operators
        made = self.kinds(ops[choice].produces)
        if aside is not None:
            best = max(range(len(aside)), key=lambda i: aside[i])
            if (
                best != choice
                and aside[best] >= matcher.threshold
                and self.kinds(ops[best].consumes) & made
            ):
                found.append(best)
                made = self.kinds(ops[best].produces)
        if self.media and targets and not targets & made:
            converters = [
                i
                for i, op in enumerate(ops)
                if len(set(op.consumes)) == 1
                and self.kinds(op.consumes) & made
                and self.kinds(op.produces) & targets
            ]
            if converters:
                found.append(max(converters, key=lambda i: scores[i]))
        return tuple(found)

    def choose(
        self, sources: set[str], targets: set[str], ranked: Sequence[int], scores: Sequence[float]
    ) -> int:
        """The operator with the best score less its misses (ties: the better score)."""
        if not self.media:
            return ranked[0]
        scale = self.step * (max(1.0, scores[ranked[0]]) if self.relative else 1.0)
        return max(
            ranked,
            key=lambda i: (scores[i] - scale * self.misses(sources, targets, i), scores[i]),
        )


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
            and not task.clause.refers
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
    asking = [t for t in tasks if not t.clause.context]
    if not asking:
        return PlanError(f"cannot tell what {goal!r} asks for: it names no task")
    parts = "; ".join(describe(graph, t) for t in asking)
    return PlanError(
        f"cannot tell what {goal!r} asks for: no tool scores high enough for {parts}; "
        "describe the capability in those words (describe_capability) or name the "
        "wanted types with --want"
    )
