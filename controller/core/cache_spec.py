"""An OrasCache object (a plain dict, as the apiserver sends it) read into what the controller acts on.

The CRD's schema refuses most bad specs at the apiserver; this reads defensively anyway (a CRD
applied from an older manifest, or none at all, lets anything through) and raises InvalidCache
naming the field, which the controller reports in the cache's status instead of failing.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kubectl_oras.durations import min_age_duration, retention_duration
from kubectl_oras.errors import OrasError
from kubectl_oras.fields import FieldReader, shown
from kubectl_oras.orascache import (
    DEFAULT_REGISTRY_IMAGE,
    NAME_RULE,
    REGISTRY_CANNOT_START,
    auth_secret_name,
    is_cache_name,
    quantity,
    registry_host,
)
from kubectl_oras.pods.caches import CacheView
from kubectl_oras.retention.choice import Policy


class InvalidCache(OrasError):
    """An OrasCache the controller cannot act on; the message names the field."""


@dataclass(frozen=True)
class Storage:
    kind: str = "emptyDir"  # or "pvc"
    size: str | None = None  # emptyDir: its sizeLimit; pvc: the claim's size
    storage_class: str | None = None

    def describe(self) -> str:
        """For the status and the printer column: "emptyDir", "emptyDir 10Gi", "pvc 10Gi (fast)"."""
        words = [self.kind] + ([self.size] if self.size else []) + ([f"({self.storage_class})"] if self.storage_class else [])
        return " ".join(words)


@dataclass(frozen=True)
class RetentionPlan:
    policy: Policy
    interval: float
    dry_run: bool


@dataclass(frozen=True)
class CacheSpec:
    name: str
    namespace: str
    uid: str
    generation: int = 0
    image: str = DEFAULT_REGISTRY_IMAGE
    deploy: bool = True
    auth: bool = True
    registry_http_secret: str | None = None  # secrets.registryHttp: the registry's HTTP secret itself (the predecessor's)
    storage: Storage = Storage()
    resources: dict[str, Any] = field(default_factory=dict)
    retention: RetentionPlan | None = None  # None: no retention

    @property
    def endpoint(self) -> str:
        return registry_host(self.name, self.namespace)

    @property
    def auth_secret(self) -> str | None:
        return auth_secret_name(self.name) if self.auth else None


_FIELDS = FieldReader(InvalidCache)  # a spec's fields, refused naming them (kubectl_oras/fields.py)
_map, _string, _bool = _FIELDS.map, _FIELDS.string, _FIELDS.flag


def _quantity(value: Any, where: str) -> str | None:
    """A size as the CRD takes it (the contract's grammar, not negative), as written."""
    if value is None:
        return None
    number = quantity(value)
    if number is None or number < 0:
        raise InvalidCache(f"{where} must be a quantity such as 10Gi, not {shown(value)}")
    return str(value)


def _storage(spec: dict[str, Any]) -> Storage:
    storage = _map(spec.get("storage"), "spec.storage")
    if "emptyDir" in storage and "pvc" in storage:
        raise InvalidCache("spec.storage: give emptyDir or pvc, not both")
    if "pvc" in storage:
        pvc = _map(storage["pvc"], "spec.storage.pvc")
        size = _quantity(pvc.get("size"), "spec.storage.pvc.size")
        if size is None:
            raise InvalidCache("spec.storage.pvc.size is required (for example 10Gi)")
        return Storage("pvc", size, _string(pvc.get("storageClassName"), "spec.storage.pvc.storageClassName"))
    empty = _map(storage.get("emptyDir"), "spec.storage.emptyDir")
    return Storage("emptyDir", _quantity(empty.get("sizeLimit"), "spec.storage.emptyDir.sizeLimit"))


def _resources(spec: dict[str, Any]) -> dict[str, Any]:
    resources = _map(spec.get("resources"), "spec.resources")
    out: dict[str, Any] = {}
    for part in ("requests", "limits"):
        values = _map(resources.get(part), f"spec.resources.{part}")
        for key, value in values.items():
            _quantity(value, f"spec.resources.{part}[{key}]")
        if values:
            out[part] = dict(values)
    return out


DEFAULT_RETENTION_INTERVAL = 3600.0
# spec.retention.minAge when not given: a tag pushed within the hour is never deleted, so a step
# that reads what the one before it pushed gets it even under keepLast: 0 (docs/retention.md).
DEFAULT_MIN_AGE = 3600.0
MIN_RETENTION_INTERVAL = 10.0


def _duration(value: Any, field: str, read: Callable[[str], float] = retention_duration) -> float | None:
    """A retention duration (kubectl_oras/durations.py: the CRD's form, more than zero; ``read``
    says which: ``min_age_duration`` takes zero)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise InvalidCache(f"{field}: must be a duration such as 90s or 720h, not {value!r}")
    try:
        return read(str(value))
    except ValueError as e:
        raise InvalidCache(f"{field}: {e}") from None


def _retention(raw: dict[str, Any] | None) -> RetentionPlan | None:
    """``spec.retention``, or None when it has none (or one that deletes nothing by limit)."""
    if not raw:
        return None
    keep_last, keep_last_runs = raw.get("keepLast"), raw.get("keepLastRuns")
    for name, value in (("keepLast", keep_last), ("keepLastRuns", keep_last_runs)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 0):
            raise InvalidCache(f"spec.retention.{name}: must be a whole number, 0 or more, not {value!r}")
    keep = raw.get("keep") or []
    if not isinstance(keep, list) or not all(isinstance(p, str) and p for p in keep):
        raise InvalidCache("spec.retention.keep: must be a list of tag patterns such as final-*")
    dry_run = raw.get("dryRun", False)
    if not isinstance(dry_run, bool):
        raise InvalidCache(f"spec.retention.dryRun: must be true or false, not {dry_run!r}")
    interval = _duration(raw.get("interval"), "spec.retention.interval")
    if interval is not None:  # shorter would only load the registry: taken as the minimum, not refused
        interval = max(interval, MIN_RETENTION_INTERVAL)
    min_age = _duration(raw.get("minAge"), "spec.retention.minAge", min_age_duration)  # 0s: no minimum
    policy = Policy(keep_last=keep_last, max_age=_duration(raw.get("maxAge"), "spec.retention.maxAge"),
                    keep=tuple(keep), keep_last_runs=keep_last_runs,
                    min_age=DEFAULT_MIN_AGE if min_age is None else min_age)
    if not policy.deletes_anything:
        return None
    return RetentionPlan(policy, interval or DEFAULT_RETENTION_INTERVAL, dry_run)


def cache_spec(obj: dict[str, Any]) -> CacheSpec:
    """Read an OrasCache object; raises InvalidCache naming the first field it cannot use."""
    metadata = _map(obj.get("metadata"), "metadata")
    name, namespace = metadata.get("name"), metadata.get("namespace")
    if not isinstance(name, str) or not isinstance(namespace, str):
        raise InvalidCache("metadata.name and metadata.namespace must be strings")
    if not is_cache_name(name):
        raise InvalidCache(f"metadata.name {name!r} cannot name a cache: {NAME_RULE}")
    spec = _map(obj.get("spec"), "spec")
    secrets = _map(spec.get("secrets"), "spec.secrets")
    auth = _map(spec.get("auth"), "spec.auth")
    retention = spec.get("retention")
    return CacheSpec(
        name=name,
        namespace=namespace,
        uid=str(metadata.get("uid") or ""),
        generation=int(metadata.get("generation") or 0),
        image=_string(spec.get("image"), "spec.image") or DEFAULT_REGISTRY_IMAGE,
        deploy=_bool(spec.get("deploy"), "spec.deploy", default=True),
        auth=_bool(auth.get("enabled"), "spec.auth.enabled", default=True),
        registry_http_secret=_string(secrets.get("registryHttp"), "spec.secrets.registryHttp"),
        storage=_storage(spec),
        resources=_resources(spec),
        retention=_retention(_map(retention, "spec.retention")) if retention is not None else None,
    )


def cache_view(obj: dict[str, Any] | None, name: str) -> CacheView:
    """What the webhook needs of a cache object (None: there is none). Fields that cannot be read
    fall back to their defaults; a cache whose status says it cannot run its registry
    (cache_problem) has that as its ``problem``, and its pods are denied saying so."""
    if obj is None:
        return CacheView(name, exists=False)
    spec = obj.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    deploy = spec.get("deploy") is not False
    auth = spec.get("auth")
    enabled = not isinstance(auth, dict) or auth.get("enabled") is not False
    secrets = spec.get("secrets")
    found = secrets.get("orasEnv") if isinstance(secrets, dict) else None
    oras_env = found if isinstance(found, str) and found else None
    return CacheView(name, deploy=deploy, auth_secret=auth_secret_name(name) if enabled else None,
                     oras_env=oras_env, problem=cache_problem(obj))


# What the controller reports when a cache cannot run its registry at all: its pods would only
# wait for a Secret that is never made, or for a registry pod that cannot start.
BLOCKING = ("InvalidSpec", "NameTaken", "InvalidAuthSecret", REGISTRY_CANNOT_START)


def cache_problem(obj: dict[str, Any]) -> str | None:
    """The message of a Degraded condition that keeps the cache from running a registry, if any."""
    status = obj.get("status")
    conditions = status.get("conditions") if isinstance(status, dict) else None
    metadata = obj.get("metadata") if isinstance(obj.get("metadata"), dict) else {}
    generation = metadata.get("generation") if isinstance(metadata, dict) else None
    for condition in conditions if isinstance(conditions, list) else []:
        if isinstance(condition, dict) and condition.get("type") == "Degraded" and condition.get("status") == "True" \
                and condition.get("reason") in BLOCKING and condition.get("observedGeneration") == generation:
            return str(condition.get("message") or condition.get("reason"))
    return None
