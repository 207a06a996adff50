"""What a request's ``model`` names, and which registered models can answer it.

``podium/auto``, ``podium/cheapest``, ``podium/fastest`` and ``podium/best`` route among
every chat (or embeddings) model under the balanced, cheapest, fastest or best policy;
``capability/<name>`` among a capability's models (best policy); ``<name>``,
``<name>@<version>`` or ``model/<name>...`` names one model; ``workflow/<name>`` a
registered workflow. The models the gateway calls are the ``openai`` kind (chat or
embeddings), pointing at OpenAI-compatible servers.

Targets are made once per registry revision and kept, so the router finds their tables by
identity; a request's own route options (the ``podium`` field of its body) are parsed once
per distinct value.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, replace
from typing import Any

import orjson

from podium.errors import ModelNotFoundError, NoCandidateError
from podium.registry import ModelRef, ModelSpec, OpenAIRuntime, Registry
from podium.routing import RouteDecision, RoutePolicy, Router, check_route, for_tenant
from podium.server.gateway._errors import GatewayError, bad_request, unknown_model

CHAT = "chat"
EMBEDDINGS = "embeddings"
#: the virtual models and the policy each routes with
VIRTUAL = {
    "podium/auto": "balanced",
    "podium/cheapest": "cheapest",
    "podium/fastest": "fastest",
    "podium/best": "best",
}
#: the chosen model and at most this many runner-ups are tried before a request fails
RUNNER_UPS = 2
_CACHE_MAX = 1024
_ROUTE_KEYS = frozenset(
    {"policy", "max_cost", "max_latency_ms", "min_quality", "require_tags", "forbid_tags"}
)
_STATIC_POLICIES = frozenset(VIRTUAL.values())
#: how a named model or a capability is routed (the engine's default)
DEFAULT_POLICY = RoutePolicy()


def kind_of(spec: ModelSpec) -> str | None:
    """``chat`` or ``embeddings`` for a model the gateway can call, else ``None``."""
    runtime = spec.runtime
    return runtime.mode if isinstance(runtime, OpenAIRuntime) else None


@dataclass(frozen=True, slots=True)
class Target:
    """What one ``model`` string asks for: references to route under a policy (one per
    capability for the virtual models), or a workflow."""

    name: str
    kind: str
    refs: tuple[ModelRef, ...] = ()
    policy: RoutePolicy = DEFAULT_POLICY
    workflow: str | None = None

    @property
    def capability(self) -> str | None:
        """The capability whose statistics the calls update (``None``: each model's first)."""
        if len(self.refs) == 1 and self.refs[0].kind == "capability":
            return self.refs[0].name
        return None


@dataclass(frozen=True, slots=True)
class Overrides:
    """A request's own routing: a policy with constraints and options, and fallbacks."""

    policy: RoutePolicy | None = None
    fallbacks: tuple[str, ...] = ()


NO_OVERRIDES = Overrides()


class Catalog:
    """Targets and candidate lists over one registry and router."""

    def __init__(self, registry: Registry, router: Router) -> None:
        self.registry = registry
        self.router = router
        self._revision = -1
        self._targets: dict[tuple[str, str], Target] = {}
        self._overrides: dict[bytes, Overrides] = {}
        self._capabilities: dict[str, tuple[str, ...]] = {}
        self.created = int(time.time())

    # targets -------------------------------------------------------------------------------
    def target(self, name: str, kind: str) -> Target:
        """The target ``name`` stands for on an endpoint of ``kind`` (404 if none)."""
        if self._revision != self.registry.revision:
            self._refresh()
        found = self._targets.get((name, kind))
        if found is None:
            found = self._make(name, kind)
            if len(self._targets) >= _CACHE_MAX:
                self._targets.clear()
            self._targets[(name, kind)] = found
        return found

    def _refresh(self) -> None:
        self._revision = self.registry.revision
        self._targets.clear()
        by_kind: dict[str, set[str]] = {CHAT: set(), EMBEDDINGS: set()}
        for spec in self.registry:
            kind = kind_of(spec)
            if kind is not None and spec.status == "active":
                by_kind[kind].update(spec.capabilities)
        self._capabilities = {kind: tuple(sorted(caps)) for kind, caps in by_kind.items()}

    def capabilities(self, kind: str) -> tuple[str, ...]:
        """The capabilities some active model of ``kind`` offers."""
        if self._revision != self.registry.revision:
            self._refresh()
        return self._capabilities.get(kind, ())

    def _make(self, name: str, kind: str) -> Target:
        policy = VIRTUAL.get(name)
        if policy is not None:
            caps = self._capabilities.get(kind, ())
            if not caps:
                raise unknown_model(name)
            refs = tuple(ModelRef("capability", cap) for cap in caps)
            return Target(name, kind, refs, RoutePolicy(policy))
        prefix, _, rest = name.partition("/")
        if prefix == "workflow" and rest:
            if kind != CHAT:
                raise unknown_model(name)
            return Target(name, kind, workflow=rest)
        if prefix == "capability" and rest:
            if rest not in self._capabilities.get(kind, ()):
                raise unknown_model(name)
            return Target(name, kind, (ModelRef("capability", rest),))
        try:
            ref = ModelRef.parse(name if prefix == "model" else f"model/{name}")
        except ModelNotFoundError:
            raise unknown_model(name) from None
        if ref.kind != "model" or not any(
            kind_of(s) == kind for s in self.registry.versions(ref.name)
        ):
            raise unknown_model(name)
        return Target(name, kind, (ref,))

    # a request's own route options ---------------------------------------------------------
    def overrides(self, raw: Any, target: Target) -> Overrides:
        """The ``podium`` field of a body: ``policy``, ``max_cost``, ``max_latency_ms``,
        ``min_quality``, ``require_tags``, ``forbid_tags``, ``hedge_after_ms``, ``failover``
        (policy options) and ``fallbacks`` (model names tried after the routed ones)."""
        if raw is None:
            return NO_OVERRIDES
        if not isinstance(raw, dict):
            raise bad_request("'podium' must be an object of routing options", "podium")
        key = orjson.dumps(raw, option=orjson.OPT_SORT_KEYS) + target.name.encode()
        found = self._overrides.get(key)
        if found is None:
            found = self._parse_overrides(raw, target)
            if len(self._overrides) >= _CACHE_MAX:
                self._overrides.clear()
            self._overrides[key] = found
        return found

    def _parse_overrides(self, raw: dict[str, Any], target: Target) -> Overrides:
        fallbacks = raw.get("fallbacks") or []
        if not isinstance(fallbacks, list) or not all(isinstance(f, str) for f in fallbacks):
            raise bad_request(
                "'podium.fallbacks' must be a list of model names", "podium.fallbacks"
            )
        route = {k: v for k, v in raw.items() if k != "fallbacks"}
        if not route:
            return Overrides(None, tuple(fallbacks))
        base = target.policy
        chosen = route.get("policy", base.policy)
        if chosen not in _STATIC_POLICIES:
            raise bad_request(
                f"'podium.policy' must be one of {', '.join(sorted(_STATIC_POLICIES))}",
                "podium.policy",
            )
        for field in ("max_cost", "max_latency_ms", "min_quality"):
            value = route.get(field)
            if value is not None and (
                isinstance(value, bool) or not isinstance(value, int | float)
            ):
                raise bad_request(f"'podium.{field}' must be a number", f"podium.{field}")
        tags: dict[str, tuple[str, ...]] = {}
        for field in ("require_tags", "forbid_tags"):
            value = route.get(field) or []
            if not isinstance(value, list) or not all(isinstance(t, str) for t in value):
                raise bad_request(f"'podium.{field}' must be a list of tags", f"podium.{field}")
            tags[field] = tuple(value)
        policy = replace(
            base,
            policy=chosen,
            max_cost=route.get("max_cost"),
            max_latency_ms=route.get("max_latency_ms"),
            min_quality=route.get("min_quality"),
            require_tags=tags["require_tags"],
            forbid_tags=tags["forbid_tags"],
            options={k: v for k, v in route.items() if k not in _ROUTE_KEYS},
        )
        problem = check_route(policy)
        if problem is not None:
            raise bad_request(f"'podium.{problem[0]}': {problem[1]}", f"podium.{problem[0]}")
        return Overrides(policy, tuple(fallbacks))

    # candidates ----------------------------------------------------------------------------
    def candidates(
        self, target: Target, tenant: str | None, overrides: Overrides, inputs: dict[str, Any]
    ) -> tuple[list[ModelSpec], RouteDecision]:
        """The models to try, best first, and the decision that chose the first.

        Each of the target's references is routed under its policy for ``tenant`` (so a
        tenant's key reaches only shared models and its own); the rankings are merged by
        score, and the models the gateway cannot call are left out.
        """
        policy = overrides.policy or target.policy
        if tenant is not None:
            policy = for_tenant(policy, tenant)
        kind = target.kind
        decisions: list[RouteDecision] = []
        for ref in target.refs:
            try:
                decisions.append(self.router.route(ref, policy, inputs))
            except ModelNotFoundError:
                continue  # nothing of this capability (or model) serves the tenant
            except NoCandidateError as exc:
                if len(target.refs) == 1:
                    raise GatewayError(400, str(exc), param="podium", code="no_candidate") from None
        if not decisions:
            raise unknown_model(target.name)
        if len(decisions) == 1:
            decision = decisions[0]
            models = [c.spec for c in decision.ranked if kind_of(c.spec) == kind]
        else:
            scored = sorted(
                ((c.score, i, c.spec) for i, d in enumerate(decisions) for c in d.ranked),
                key=lambda entry: -entry[0],
            )
            models, seen = [], set()
            for _, _, spec in scored:
                if kind_of(spec) == kind and spec.key not in seen:
                    seen.add(spec.key)
                    models.append(spec)
            first = models[0].key if models else None
            decision = next(
                (d for d in decisions if first and any(c.spec.key == first for c in d.ranked)),
                decisions[0],
            )
        if not models:
            raise unknown_model(target.name)
        del models[1 + RUNNER_UPS :]
        for name in overrides.fallbacks:
            spec = self._fallback(name, kind, tenant)
            if all(spec.key != m.key for m in models):
                models.append(spec)
        return models, decision

    def _fallback(self, name: str, kind: str, tenant: str | None) -> ModelSpec:
        try:
            ref = ModelRef.parse(name if name.startswith("model/") else f"model/{name}")
            spec = self.registry.resolve_model(ref, tenant=tenant)
        except ModelNotFoundError:
            raise unknown_model(name, "fallback model") from None
        if kind_of(spec) != kind:
            raise unknown_model(name, "fallback model")
        return spec

    # listing -------------------------------------------------------------------------------
    def listing(self, tenant: str | None, workflows: list[str]) -> list[dict[str, Any]]:
        """``/v1/models``: the virtual models, capabilities, models and workflows that
        ``tenant`` may call, in the OpenAI list shape."""
        created = self.created
        visible: dict[str, ModelSpec] = {}
        caps: set[str] = set()
        kinds: set[str] = set()
        for spec in self.registry.all():
            if spec.status != "active" or kind_of(spec) is None or not spec.serves(tenant):
                continue
            visible[spec.name] = spec  # newest version last
            caps.update(spec.capabilities)
            kinds.add(str(kind_of(spec)))
        ids = list(VIRTUAL) if kinds else []
        ids += [f"capability/{cap}" for cap in sorted(caps)]
        ids += sorted(visible)
        ids += [f"workflow/{name}" for name in sorted(workflows)]
        return [
            {"id": model_id, "object": "model", "created": created, "owned_by": "podium"}
            for model_id in ids
        ]
