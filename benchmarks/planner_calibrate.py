"""Fit the planner's confidence calibration on the evaluation's tuning split.

For every clause that asks something, of every tuning request of both evaluations
(tests/planner_eval*/cases_tuning.yaml), the best operator's score and its margin over
the runner-up are paired with whether the operator chosen (or, for a clause left without
one, its best) is one the case expects; a logistic regression of that outcome on (score,
margin) gives ``podium.planner._decompose.CALIBRATION``. Prints the coefficients, the
Brier score beside that of a constant, and a reliability table (mean predicted vs
observed, per quarter).

    python benchmarks/planner_calibrate.py
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests" / "planner_eval"))
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import harness

from podium.planner import Planner
from podium.planner._decompose import decompose
from podium.planner._flow import type_map
from podium.planner._parse import parse


def clauses(kind: str) -> tuple[np.ndarray, np.ndarray]:
    features, labels = [], []
    planners: dict[str, Planner] = {}
    every = [c for suite in harness.SUITES for c in harness.cases("tuning", suite)]
    for case in every:
        name = case["catalogue"]
        planner = planners.get(name) or planners.setdefault(name, harness.planner_for(name))
        graph = planner.graph()
        for task in decompose(
            parse(case["request"]), graph, planner.matcher(kind), None, type_map(graph)
        ):
            if not task.candidates:  # a clause that asks nothing
                continue
            top = task.candidates[0][1]
            runner_up = task.candidates[1][1] if len(task.candidates) > 1 else 0.0
            chosen = task.op if task.op is not None else task.candidates[0][0]
            tool = graph.operators[chosen].providers[0].name
            features.append([top, top - runner_up])
            labels.append(1.0 if tool in case["nodes"] else 0.0)
    return np.array(features), np.array(labels)


def fit(x: np.ndarray, y: np.ndarray, steps: int = 5000) -> tuple[float, float, float]:
    mu, sd = x.mean(0), x.std(0)
    a = np.hstack([np.ones((len(x), 1)), (x - mu) / sd])
    w = np.zeros(3)
    for _ in range(steps):
        p = 1 / (1 + np.exp(-a @ w))
        w -= 0.5 * (a.T @ (p - y) / len(y) + 1e-3 * np.r_[0, w[1:]])
    b1, b2 = w[1] / sd[0], w[2] / sd[1]
    return float(w[0] - b1 * mu[0] - b2 * mu[1]), float(b1), float(b2)


def main() -> None:
    for kind in ("lexical", "embedding"):
        x, y = clauses(kind)
        b0, b1, b2 = fit(x, y)
        p = 1 / (1 + np.exp(-(b0 + b1 * x[:, 0] + b2 * x[:, 1])))
        brier, constant = float(((p - y) ** 2).mean()), float(((y.mean() - y) ** 2).mean())
        print(
            f"{kind}: ({b0:.3f}, {b1:.3f}, {b2:.3f}) on {len(y)} clauses; "
            f"Brier {brier:.3f} (constant {constant:.3f})"
        )
        for lo in (0.0, 0.25, 0.5, 0.75):
            inside = (p >= lo) & (p < lo + 0.25 + (lo == 0.75))
            if inside.any():
                print(
                    f"  predicted {p[inside].mean():.2f}  observed {y[inside].mean():.2f}  "
                    f"({int(inside.sum())} clauses)"
                )


if __name__ == "__main__":
    main()
