"""Governance: who may do what (API keys, roles, tenants); audit, policies and budgets follow."""

from podium.governance._keys import ApiKey, KeyRing, Role

__all__ = ["ApiKey", "KeyRing", "Role"]
