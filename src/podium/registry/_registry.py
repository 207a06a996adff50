"""The registry: every known model version, indexed by name and by capability."""

from __future__ import annotations

import math
import re
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable, Iterator
from importlib.metadata import entry_points
from pathlib import Path
from typing import Any

from podium._limits import DEFAULT_LIMITS, Limits
from podium.errors import ManifestError, ModelNotFoundError
from podium.registry._checks import check_runnable
from podium.registry._manifest import read_manifests, spec_from_mapping
from podium.registry._schema import Schema, contract_breaks
from podium.registry._spec import ModelSpec
from podium.registry._versions import ModelRef
from podium.store import ModelRecord, Store

ENTRY_POINT_GROUP = "podium.models"
ANY_TENANT = "*"
"""The ``tenant`` of a lookup that ignores which tenants a model serves (listings,
validation); no tenant is named ``*``."""
_WORD = re.compile(r"[a-z0-9]+")


class Registry:
    """Model versions side by side, a capability index, and callables registered from code.

    Lookups by capability and by name are dictionary reads, so their cost does not grow
    with the number of registered models.
    """

    def __init__(self, store: Store) -> None:
        self._store = store
        self._by_name: dict[str, dict[str, ModelSpec]] = {}
        self._by_capability: dict[str, dict[str, ModelSpec]] = defaultdict(dict)
        self._contracts: dict[str, dict[str, Any]] = store.contracts()
        self._callables: dict[str, Callable[..., Any]] = {}
        self._scoped: set[str] = set()  # keys of the versions marked for some tenants only
        self.revision = 0
        for record in store.models():
            self._index(ModelSpec.model_validate(record.spec))

    # registration ------------------------------------------------------------------------
    def register(
        self, spec: ModelSpec, *, implementation: Callable[..., Any] | None = None
    ) -> ModelSpec:
        """Add (or replace) ``spec``; refuse it if it breaks a capability's contract."""
        for capability in spec.capabilities:
            self._check_contract(spec, capability)
        if implementation is not None:
            self._callables[spec.key] = implementation
        self._store.put_model(
            ModelRecord(spec.name, spec.version, spec.model_dump(mode="json"), time.time())
        )
        self._index(spec)
        return spec

    def register_path(
        self, path: str | Path, *, thorough: bool = True, limits: Limits = DEFAULT_LIMITS
    ) -> list[ModelSpec]:
        """Register every manifest in a file or folder; nothing is registered if any is bad.

        Each model is first checked to be runnable (:func:`check_runnable`): with
        ``thorough`` that imports python targets and reads skops files' type lists;
        without it only files and URLs are checked (what discovery at start-up does).
        """
        manifests = read_manifests(path, limits=limits)
        for manifest in manifests:
            check_runnable(manifest.spec, manifest.data, thorough=thorough)
        specs = [manifest.spec for manifest in manifests]
        batch: dict[str, list[ModelSpec]] = defaultdict(list)
        for spec in specs:
            for capability in spec.capabilities:
                first = batch[capability][0] if batch[capability] else None
                reasons = self._contract_reasons(spec, capability, first)
                if reasons:
                    raise ManifestError(reasons, file=spec.source, field="capabilities")
                batch[capability].append(spec)
        return [self.register(spec) for spec in specs]

    def _contract_reasons(
        self, spec: ModelSpec, capability: str, batch_first: ModelSpec | None
    ) -> str | None:
        """Why ``spec`` breaks the contract of ``capability`` (from the registry, or from the
        first spec of the same batch when the capability is new), or ``None``."""
        others = [k for k in self._by_capability.get(capability, {}) if k != spec.key]
        contract = self._contracts.get(capability) if others else None
        if contract is None and batch_first is not None and batch_first.key != spec.key:
            contract = {
                "input": batch_first.input_schema.to_json(),
                "output": batch_first.output_schema.to_json(),
                "model": batch_first.key,
            }
        if contract is None:
            return None
        reasons = contract_breaks(
            Schema.parse(contract["input"]), spec.input_schema, direction="input"
        )
        reasons += contract_breaks(
            Schema.parse(contract["output"]), spec.output_schema, direction="output"
        )
        if not reasons:
            return None
        return (
            f"{spec.key} breaks the contract of capability '{capability}' "
            f"(set by {contract['model']}): " + "; ".join(reasons)
        )

    def discover(self) -> list[ModelSpec]:
        """Register the models that installed packages offer in the ``podium.models`` group.

        This runs at every start, so only the cheap checks run (files exist, URLs are
        well formed); python targets are imported when a model is first called.
        """
        found: list[ModelSpec] = []
        for ep in entry_points(group=ENTRY_POINT_GROUP):
            try:
                obj = ep.load()
            except Exception as exc:
                raise ManifestError(f"entry point '{ep.name}' failed to load: {exc}") from None
            for item in _expand(obj() if callable(obj) and not isinstance(obj, type) else obj):
                if isinstance(item, ModelSpec):
                    check_runnable(item, thorough=False)
                    found.append(self.register(item))
                elif isinstance(item, str | Path):
                    found.extend(self.register_path(item, thorough=False))
                elif isinstance(item, dict):
                    spec = spec_from_mapping(item, source=f"entry point {ep.name}")
                    check_runnable(spec, thorough=False)
                    found.append(self.register(spec))
                else:
                    raise ManifestError(
                        f"entry point '{ep.name}' gave {type(item).__name__}; expected a manifest"
                    )
        return found

    def _check_contract(self, spec: ModelSpec, capability: str) -> None:
        reasons = self._contract_reasons(spec, capability, None)
        if reasons:
            raise ManifestError(reasons, field="capabilities")
        others = [k for k in self._by_capability.get(capability, {}) if k != spec.key]
        if not others or capability not in self._contracts:
            contract = {
                "input": spec.input_schema.to_json(),
                "output": spec.output_schema.to_json(),
                "model": spec.key,
            }
            self._contracts[capability] = contract
            self._store.put_contract(capability, contract)

    def _index(self, spec: ModelSpec) -> None:
        self.revision += 1
        old = self._by_name.get(spec.name, {}).get(spec.version)
        if old is not None:
            for cap in old.capabilities:
                self._by_capability[cap].pop(old.key, None)
        if spec.tenants is None:
            self._scoped.discard(spec.key)
        else:
            self._scoped.add(spec.key)
        self._by_name.setdefault(spec.name, {})[spec.version] = spec
        for cap in spec.capabilities:
            self._by_capability[cap][spec.key] = spec

    # lookups -----------------------------------------------------------------------------
    def __len__(self) -> int:
        return sum(len(v) for v in self._by_name.values())

    def __iter__(self) -> Iterator[ModelSpec]:
        for versions in self._by_name.values():
            yield from versions.values()

    def all(self) -> list[ModelSpec]:
        """Every registered version, sorted by name then version."""
        return sorted(self, key=lambda s: (s.name, s.semver))

    @property
    def scoped(self) -> bool:
        """Whether any version is marked for some tenants only (``tenants`` in its manifest)."""
        return bool(self._scoped)

    def names(self) -> list[str]:
        return sorted(self._by_name)

    def capabilities(self) -> list[str]:
        return sorted(c for c, models in self._by_capability.items() if models)

    def provides(self, capability: str) -> list[ModelSpec]:
        """Every model version offering ``capability``: one dictionary read."""
        return list(self._by_capability.get(capability, {}).values())

    def versions(self, name: str) -> list[ModelSpec]:
        return sorted(self._by_name.get(name, {}).values(), key=lambda s: s.semver)

    def get(
        self, name: str, spec: str | None = None, *, tenant: str | None = ANY_TENANT
    ) -> ModelSpec:
        """The newest version of ``name`` matching the range ``spec``."""
        ref = ModelRef.parse(f"model/{name}" + (f"@{spec}" if spec else ""))
        return self.resolve_model(ref, tenant=tenant)

    def resolve_model(self, ref: ModelRef, *, tenant: str | None = ANY_TENANT) -> ModelSpec:
        """The newest active version that ``model/NAME@SPEC`` admits (among those that
        serve runs of ``tenant``, unless it is :data:`ANY_TENANT`)."""
        versions = self._by_name.get(ref.name)
        if versions and tenant != ANY_TENANT and self._scoped:
            versions = {v: s for v, s in versions.items() if s.serves(tenant)}
            if not versions:
                raise ModelNotFoundError(f"no version of '{ref.name}' serves {_runs_of(tenant)}")
        if not versions:
            hint = _closest(ref.name, self._by_name)
            raise ModelNotFoundError(
                f"no model named '{ref.name}'" + (f"; did you mean '{hint}'?" if hint else "")
            )
        usable = {s.semver: s for s in versions.values() if s.status != "disabled"}
        wants_pre = ref.spec is not None and "-" in ref.spec.text
        if not wants_pre and any(not v.prerelease for v in usable):
            usable = {v: s for v, s in usable.items() if not v.prerelease}
        chosen = ref.spec.select(usable) if ref.spec else (max(usable) if usable else None)
        if chosen is None:
            have = ", ".join(sorted(versions))
            raise ModelNotFoundError(
                f"no version of '{ref.name}' matches '{ref.spec.text if ref.spec else '*'}' "
                f"(registered: {have})"
            )
        return usable[chosen]

    def resolve(self, text: str | ModelRef, *, tenant: str | None = ANY_TENANT) -> list[ModelSpec]:
        """Candidates for a reference: one model, or every active provider of a capability.

        With ``tenant`` (the tenant of a run; ``None``: a run of no tenant), only the
        versions that serve its runs: a version marked with ``tenants`` serves only theirs.
        """
        ref = text if isinstance(text, ModelRef) else ModelRef.parse(text)
        if ref.kind == "model":
            return [self.resolve_model(ref, tenant=tenant)]
        models = [s for s in self.provides(ref.name) if s.status == "active"]
        if models and tenant != ANY_TENANT and self._scoped:
            models = [s for s in models if s.serves(tenant)]
            if not models:
                raise ModelNotFoundError(
                    f"no model that serves {_runs_of(tenant)} provides capability '{ref.name}'"
                )
        if not models:
            hint = _closest(ref.name, self._by_capability)
            raise ModelNotFoundError(
                f"no model provides capability '{ref.name}'"
                + (f"; did you mean '{hint}'?" if hint else "")
            )
        return models

    def implementation(self, spec: ModelSpec) -> Callable[..., Any] | None:
        """The callable registered from code for ``spec``, if any."""
        return self._callables.get(spec.key)

    def contract(self, capability: str) -> dict[str, Any] | None:
        return self._contracts.get(capability)

    def search(self, text: str, limit: int = 10) -> list[tuple[ModelSpec, float]]:
        """Lexical (BM25) search over names, descriptions, capabilities and tags."""
        query = _words(text)
        if not query:
            return []
        docs = [(spec, _words(_document(spec))) for spec in self.all()]
        if not docs:
            return []
        avg = sum(len(d) for _, d in docs) / len(docs)
        df: Counter[str] = Counter(w for _, d in docs for w in set(d))
        scored = []
        for spec, words in docs:
            tf = Counter(words)
            score = 0.0
            for w in query:
                if not tf[w]:
                    continue
                idf = math.log(1 + (len(docs) - df[w] + 0.5) / (df[w] + 0.5))
                score += idf * tf[w] * 2.2 / (tf[w] + 1.2 * (0.25 + 0.75 * len(words) / avg))
            if score > 0:
                scored.append((spec, round(score, 4)))
        scored.sort(key=lambda p: (-p[1], p[0].name))
        return scored[:limit]


def _runs_of(tenant: str | None) -> str:
    return f"runs of tenant '{tenant}'" if tenant is not None else "runs without a tenant"


def _expand(obj: Any) -> list[Any]:
    return list(obj) if isinstance(obj, list | tuple) else [obj]


def _words(text: str) -> list[str]:
    return _WORD.findall(text.lower())


def _document(spec: ModelSpec) -> str:
    return " ".join(
        [
            spec.name.replace("-", " "),
            spec.description,
            *spec.capabilities,
            *(c.replace(".", " ") for c in spec.capabilities),
            *spec.tags,
        ]
    )


def _closest(name: str, options: Iterable[str]) -> str | None:
    import difflib

    matches = difflib.get_close_matches(name, list(options), n=1, cutoff=0.6)
    return matches[0] if matches else None
