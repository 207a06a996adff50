"""Words: splitting a goal into phrases, tokens with a light stemmer, and BM25."""

from __future__ import annotations

import functools
import math
import re
from collections import Counter
from collections.abc import Sequence

_WORD = re.compile(r"[a-z0-9]+")
_CLAUSE = re.compile(
    r"\s*(?:[,;:.!?()]|\band then\b|\bthen\b|\band also\b|\balso\b|\bas well as\b|\bplus\b"
    r"|\band\b|\bafter that\b|\bbefore\b|\bafter\b|\bwhile\b)\s*",
    re.IGNORECASE,
)

_STOP = """a an the and or of to in on for from with by at as is are be been was were it its this
    that these those our my your their his her we you they i me us them please can could
    would should will shall do does did so if then than into about up out over all any each
    every some what which who whom how when where why also just get give make let want need
    needs using use via per one first new s t"""
STOPWORDS = frozenset(_STOP.split())

_SUFFIXES = (
    "ational",
    "ication",
    "ization",
    "fulness",
    "iveness",
    "ations",
    "ation",
    "ities",
    "ments",
    "ement",
    "ingly",
    "ment",
    "ness",
    "ings",
    "ion",
    "ity",
    "ied",
    "ing",
    "ers",
    "ed",
    "er",
    "es",
    "s",
    "y",
    "e",
)


def stem(word: str) -> str:
    """A light suffix-stripping stemmer (good enough to meet ``draft``/``drafts``)."""
    if word.endswith("ies") and len(word) > 4:
        word = word[:-3] + "y"
    for suffix in _SUFFIXES:
        if word.endswith(suffix) and len(word) - len(suffix) >= 3:
            return word[: -len(suffix)]
    return word


@functools.lru_cache(maxsize=65_536)
def variants(word: str) -> tuple[str, ...]:
    """The stems a word may meet its relatives under: its :func:`stem`, and for a noun in
    "-ion" the stem of its verb too ("translation" meets "translate", "summarization"
    "summarize", "caption" "captioning")."""
    first = stem(word)
    found = [first]
    if word.endswith(("ization", "isation")) and len(word) > 9:
        found.append(word[:-5])  # summarization -> summariz (summarize -> summariz)
    elif word.endswith("ation") and len(word) > 8:
        found.append(word[:-3])  # translation -> translat (translate -> translat)
    elif word.endswith("ion") and len(word) > 5:
        found.append(word)  # caption (captioning -> caption)
    return tuple(dict.fromkeys(found))


def tokens(text: str) -> list[str]:
    """Lower-cased, stemmed content words (each word's :func:`variants`)."""
    return [v for w in _WORD.findall(text.lower()) if w not in STOPWORDS for v in variants(w)]


def phrases(goal: str) -> list[str]:
    """The goal cut into phrases at punctuation and connectives ("and", "then", ...)."""
    parts = [p.strip() for p in _CLAUSE.split(goal)]
    return [p for p in parts if p and tokens(p)]


class BM25:
    """Okapi BM25 over a small fixed set of documents."""

    def __init__(self, documents: Sequence[Sequence[str]], k1: float = 1.2, b: float = 0.75):
        self.k1, self.b = k1, b
        self.docs = [Counter(d) for d in documents]
        self.lengths = [len(d) for d in documents]
        self.avg = (sum(self.lengths) / len(self.lengths)) if self.lengths else 1.0
        df: Counter[str] = Counter(w for d in documents for w in set(d))
        n = len(documents)
        self.idf = {w: math.log(1 + (n - c + 0.5) / (c + 0.5)) for w, c in df.items()}

    def scores(self, query: Sequence[str]) -> list[float]:
        found = [0.0] * len(self.docs)
        for w in set(query):
            idf = self.idf.get(w)
            if idf is None:
                continue
            for i, tf in enumerate(self.docs):
                count = tf.get(w)
                if count:
                    norm = self.k1 * (1 - self.b + self.b * self.lengths[i] / self.avg)
                    found[i] += idf * count * (self.k1 + 1) / (count + norm)
        return found


def cosine_tokens(a: Sequence[str], b: Sequence[str]) -> float:
    """Cosine similarity of two bags of tokens."""
    ca, cb = Counter(a), Counter(b)
    dot = sum(v * cb.get(w, 0) for w, v in ca.items())
    if not dot:
        return 0.0
    na = math.sqrt(sum(v * v for v in ca.values()))
    nb = math.sqrt(sum(v * v for v in cb.values()))
    return dot / (na * nb)
