"""Governance: who may do what (API keys, roles, tenants), the hash-chained audit log,
lineage, policies applied before every model call, budgets and usage."""

from podium.governance._keys import ApiKey, KeyRing, Role
from podium.governance._policy import DataGuard, Policy
from podium.governance._policy_gate import PolicyGate, record_activation
from podium.governance._policy_load import load_policy, policy_from_text

__all__ = [
    "ApiKey",
    "DataGuard",
    "KeyRing",
    "Policy",
    "PolicyGate",
    "Role",
    "load_policy",
    "policy_from_text",
    "record_activation",
]
