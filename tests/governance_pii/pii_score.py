"""Scores the PII detector on the labelled set: precision and recall per kind.

A finding counts as found when a labelled span has exactly its start, end and kind
(span-level exact match); anything else it reports is a false positive of its kind,
and a labelled span without its exact finding is a false negative of the labelled kind.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from podium.governance.pii import PiiDetector

SET = Path(__file__).resolve().parent / "pii_set.jsonl"
KINDS = ("email", "phone", "card", "iban", "national_id")


@dataclass
class Tally:
    tp: int = 0
    fp: int = 0
    fn: int = 0

    @property
    def precision(self) -> float:
        return self.tp / (self.tp + self.fp) if self.tp + self.fp else 1.0

    @property
    def recall(self) -> float:
        return self.tp / (self.tp + self.fn) if self.tp + self.fn else 1.0


@dataclass
class Score:
    kinds: dict[str, Tally] = field(default_factory=lambda: {k: Tally() for k in KINDS})
    misses: list[tuple[str, str, str]] = field(default_factory=list)  # (id, "fp"/"fn", text)

    @property
    def overall(self) -> Tally:
        total = Tally()
        for tally in self.kinds.values():
            total.tp += tally.tp
            total.fp += tally.fp
            total.fn += tally.fn
        return total


def load(split: str | None = None) -> list[dict[str, Any]]:
    rows = [json.loads(line) for line in SET.read_text(encoding="utf-8").splitlines()]
    return [r for r in rows if split is None or r["split"] == split]


def score(rows: Iterable[dict[str, Any]], detector: PiiDetector | None = None) -> Score:
    detector = detector or PiiDetector()
    result = Score()
    for row in rows:
        text = row["text"]
        gold = {(s["start"], s["end"], s["kind"]) for s in row["spans"]}
        found = {(f.start, f.end, f.kind.value) for f in detector.find(text)}
        for _, _, kind in found & gold:
            result.kinds[kind].tp += 1
        for start, end, kind in found - gold:
            result.kinds[kind].fp += 1
            result.misses.append((row["id"], f"fp {kind}", text[start:end]))
        for start, end, kind in gold - found:
            result.kinds[kind].fn += 1
            result.misses.append((row["id"], f"fn {kind}", text[start:end]))
    return result


def table(scores: dict[str, Score]) -> str:
    """A Markdown table: per kind, precision / recall (and counts) for each split."""
    names = list(scores)
    lines = [
        "| kind | " + " | ".join(f"{n} precision | {n} recall" for n in names) + " |",
        "|---|" + "---:|---:|" * len(names),
    ]
    for kind in (*KINDS, "overall"):
        cells = []
        for name in names:
            tally = scores[name].overall if kind == "overall" else scores[name].kinds[kind]
            cells.append(
                f"{tally.precision:.3f} | {tally.recall:.3f} ({tally.tp}/{tally.tp + tally.fn})"
            )
        lines.append(f"| {kind} | " + " | ".join(cells) + " |")
    return "\n".join(lines)
