"""Layer 2: goal -> workflow.

Typed composition over the models' semantic signatures (:mod:`._search`), matching goal
text to capabilities (lexical BM25, or all-MiniLM-L6-v2 embeddings with
``podium[semantic]``), an optional LLM planner validated against the registry, learned
templates, and registered workflows as steps. The planner produces the engine's workflow
IR; the engine never imports the planner.
"""

from podium.planner._graph import Operator, SignatureGraph, WorkflowEntry
from podium.planner._llm import LLMConfig
from podium.planner._match import EmbeddingMatcher, LexicalMatcher, Matcher, embeddings_installed
from podium.planner._plan import Explanation, Plan, StepInfo
from podium.planner._planner import Planner
from podium.planner._request import PlanOptions
from podium.planner._templates import Template, Templates
from podium.planner._types import (
    CostWeights,
    Match,
    PlanConstraints,
    PlanError,
    PlanInputError,
    UnreachableError,
    parse_given,
)

__all__ = [
    "CostWeights",
    "EmbeddingMatcher",
    "Explanation",
    "LLMConfig",
    "LexicalMatcher",
    "Match",
    "Matcher",
    "Operator",
    "Plan",
    "PlanConstraints",
    "PlanError",
    "PlanInputError",
    "PlanOptions",
    "Planner",
    "SignatureGraph",
    "StepInfo",
    "Template",
    "Templates",
    "UnreachableError",
    "WorkflowEntry",
    "embeddings_installed",
    "parse_given",
]
