"""Precision and recall of the PII detector on the labelled set, per kind, for the
tuning part, the held-out third and the whole set (span-level exact match), and the
detector's speed over the set. The same numbers gate tests/governance_pii/test_pii_eval.py.

    python benchmarks/pii_eval.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "governance_pii"))

import pii_score

from podium.governance.pii import PiiDetector


def main() -> None:
    detector = PiiDetector()
    rows = pii_score.load()
    scores = {
        "tuning": pii_score.score(pii_score.load("tuning"), detector),
        "held-out": pii_score.score(pii_score.load("held_out"), detector),
        "all": pii_score.score(rows, detector),
    }
    print(f"{len(rows)} texts ({sum(r['split'] == 'held_out' for r in rows)} held out)")
    print(pii_score.table(scores))
    for ident, what, text in scores["all"].misses:
        print(f"  {ident}: {what} {text!r}")
    started = time.perf_counter()
    chars = 0
    for _ in range(3):
        for row in rows:
            detector.find(row["text"])
            chars += len(row["text"])
    seconds = time.perf_counter() - started
    rate = 3 * len(rows) / seconds
    print(f"detector: {rate:,.0f} texts/s, {chars / seconds / 1e6:.2f} M chars/s")


if __name__ == "__main__":
    main()
