"""OrasCaches as the plugin sees them: the object `create-cache` makes, the summary `status`
shows, and the access contract other commands build on (``find_cache``, ``require_ready``,
``cache_endpoint``). The facts every part agrees on about a cache (its name rule, port, Secret
keys, quantities) are ``kubectl_oras/orascache.py``'s.

Pure functions of plain dicts, and a few async calls through ``Kube``. Credentials read from a
cache's auth Secret are never printed or logged: ``CacheEndpoint``'s repr leaves the password out.
``CacheEndpoint`` is not ``pods/caches.py: CacheView``: that one is what a pod is given (Secret
names, never a password); this one what this machine needs to reach a Ready cache (the
credential values themselves).
"""

from __future__ import annotations

import base64
import binascii
import time
from dataclasses import dataclass, field
from typing import Any

from ..durations import min_age_duration, retention_duration
from ..errors import OrasError
from ..kube.api import ORAS_CACHES, SECRETS, Kube
from ..kube.errors import ObjectNotFound
from ..orascache import (
    API_VERSION,
    KIND,
    NAME_RULE,
    PASSWORD_KEY,
    REGISTRY_CANNOT_START,
    USER_KEY,
    endpoint_port,
    is_cache_name,
    quantity,
    registry_host,
)
from .polling import StatusLine, poll


class CacheError(OrasError):
    """A cache cannot be used as asked."""


class CacheNotFound(CacheError):
    """No OrasCache of that name; the message lists those in the namespace."""


class CacheNotReady(CacheError):
    """The cache is not Ready for its current spec; the message is its Ready condition's."""


class CacheExists(CacheError):
    """create-cache of a name that is taken."""


# -- the object create-cache makes ------------------------------------------------------------


def check_cache_name(name: str) -> None:
    """CacheError unless the controller can run a cache of this name."""
    if not is_cache_name(name):
        raise CacheError(f"{name!r} cannot name a cache: {NAME_RULE}")


def _check_size(storage: str) -> None:
    size = quantity(storage)  # a PVC's size: a quantity, as the CRD says, and more than zero
    if size is None or size <= 0:
        raise CacheError(f"--storage: {storage!r} is not a size; give one more than zero, such as 10Gi")


def cache_object(name: str, namespace: str, *, storage: str | None = None, storage_class: str | None = None,
                 auth: bool = True, keep_last: int | None = None, max_age: str | None = None,
                 keep_last_runs: int | None = None, min_age: str | None = None) -> dict[str, Any]:
    """The OrasCache for create-cache's options (pure). Options left out leave the controller's
    defaults (an emptyDir, auth on, no retention) out of the spec too, so they follow the
    controller. ``storage`` with or without ``storage_class`` asks for a PVC of that size;
    ``storage_class`` alone is refused (a PVC needs a size)."""
    check_cache_name(name)
    if storage is not None:
        _check_size(storage)
    if storage_class is not None and storage is None:
        raise CacheError("--storage-class needs --storage SIZE (the size of the cache's PersistentVolumeClaim)")
    if storage_class == "":
        raise CacheError("--storage-class: give a StorageClass's name (leave it out for the default one)")
    for flag, count in (("--keep-last", keep_last), ("--keep-last-runs", keep_last_runs)):
        if count is not None and count < 0:
            raise CacheError(f"{flag}: must be 0 or more, not {count}")
    for flag, text, read in (("--max-age", max_age, retention_duration), ("--min-age", min_age, min_age_duration)):
        try:
            if text is not None:
                read(text)
        except ValueError as e:
            raise CacheError(f"{flag}: {e}") from None
    spec: dict[str, Any] = {}
    if storage is not None:
        pvc: dict[str, Any] = {"size": storage}
        if storage_class:
            pvc["storageClassName"] = storage_class
        spec["storage"] = {"pvc": pvc}
    if not auth:
        spec["auth"] = {"enabled": False}
    retention: dict[str, Any] = {}
    if keep_last is not None:
        retention["keepLast"] = keep_last
    if keep_last_runs is not None:
        retention["keepLastRuns"] = keep_last_runs
    if max_age is not None:
        retention["maxAge"] = max_age
    if min_age is not None:
        retention["minAge"] = min_age
    if retention:
        spec["retention"] = retention
    return {"apiVersion": API_VERSION, "kind": KIND, "metadata": {"name": name, "namespace": namespace},
            "spec": spec}


def retention_warnings(retention: Any) -> list[str]:
    """What a cache's ``spec.retention`` may delete that its user likely means to keep (pure): a
    ``keepLast`` without ``keepLastRuns`` counts tags, and a run writing more tags than that to one
    repository (the shards of an Indexed Job) would lose some of its newest run. The exact check,
    against the tags there are, is the controller's (``status.lastRetention.warnings``)."""
    if not isinstance(retention, dict) or not isinstance(retention.get("keepLast"), int) \
            or "keepLastRuns" in retention:
        return []
    n = retention["keepLast"]
    return [f"spec.retention.keepLast {n} counts tags, not runs: a run that writes more than {n} tags to one "
            f"repository (an Indexed Job's shards) loses some of them; keepLastRuns (--keep-last-runs) counts runs"]


# -- reading a cache's status -----------------------------------------------------------------


def condition(cache: dict[str, Any], kind: str) -> dict[str, Any] | None:
    conditions = ((cache.get("status") or {}).get("conditions")) or []
    return next((c for c in conditions if isinstance(c, dict) and c.get("type") == kind), None)


NO_STATUS = "NoStatus"  # the reason of a cache the controller has not written a status on yet
NOT_REPORTED = "the controller has not reported on this cache yet"
# A wait says "is it installed?" only once the controller has been silent this long on a new cache:
# a running one writes its first status within a second or so.
NO_STATUS_PATIENCE = 10.0


def readiness(cache: dict[str, Any]) -> tuple[bool, str, str]:
    """(ready for the current generation, reason, message) from the Ready condition.

    A Ready condition written for an older generation speaks of an older spec: not ready, and
    the message says the controller has not caught up yet.
    """
    ready = condition(cache, "Ready")
    generation = (cache.get("metadata") or {}).get("generation")
    if ready is None:
        return False, NO_STATUS, f"{NOT_REPORTED} (is it installed? kubectl oras install)"
    seen = ready.get("observedGeneration", (cache.get("status") or {}).get("observedGeneration"))
    reason, message = str(ready.get("reason") or ""), str(ready.get("message") or "")
    if generation is not None and seen is not None and seen < generation:
        return False, "Outdated", f"the controller has not caught up with the latest spec yet (last said: {message})"
    return ready.get("status") == "True", reason, message


# What keeps a cache from ever becoming Ready until someone changes something: a wait gives up
# at once saying it (controller/core/cache_spec.py's BLOCKING but NameTaken, which an earlier
# cache of the name being deleted also causes, for a moment).
HOPELESS = (REGISTRY_CANNOT_START, "InvalidSpec", "InvalidAuthSecret")


def hopeless(cache: dict[str, Any]) -> str | None:
    """``(reason): message`` of a Degraded condition, for the current spec, that keeps the cache
    from becoming Ready (HOPELESS); None when it may still become Ready by itself."""
    degraded = condition(cache, "Degraded")
    generation = (cache.get("metadata") or {}).get("generation")
    if not degraded or degraded.get("status") != "True" or degraded.get("reason") not in HOPELESS or \
            (generation is not None and degraded.get("observedGeneration") != generation):
        return None
    return f"({degraded.get('reason')}): {degraded.get('message') or ''}".rstrip(": ")


def summary(cache: dict[str, Any]) -> dict[str, Any]:
    """What `status` shows of one cache (pure): readiness and why, endpoint, storage, auth,
    retention's last run; the other conditions when they say something is wrong or under way."""
    metadata = cache.get("metadata") or {}
    spec = cache.get("spec") or {}
    status = cache.get("status") or {}
    ready, reason, message = readiness(cache)
    out: dict[str, Any] = {
        "name": metadata.get("name"), "namespace": metadata.get("namespace"),
        "ready": ready, "reason": reason, "message": message,
        "endpoint": status.get("endpoint"), "storage": status.get("storage"),
        "auth": (spec.get("auth") or {}).get("enabled", True) is not False,
        "authSecret": status.get("authSecret"),
    }
    if spec.get("deploy") is False:
        out["deploy"] = False
    for kind, unusual in (("Degraded", "True"), ("Progressing", "True")):
        found = condition(cache, kind)
        if found and found.get("status") == unusual:
            out[kind.lower()] = {"reason": found.get("reason"), "message": found.get("message")}
    lost = condition(cache, "ArtifactsLost")  # the controller's: until the cache holds artifacts again
    if lost and lost.get("status") == "True":
        out["artifactsLost"] = {"since": lost.get("lastTransitionTime"), "message": lost.get("message")}
    if isinstance(spec.get("retention"), dict):
        out["retention"] = spec["retention"]
    last = status.get("lastRetention")
    ran = last.get("warnings") if isinstance(last, dict) else None  # the last run's, against the tags there were
    warnings = [*retention_warnings(spec.get("retention")), *(str(w) for w in (ran if isinstance(ran, list) else []))]
    if warnings:
        out["warnings"] = warnings
    if isinstance(last, dict):
        # firstSeen: bookkeeping, long; it holds only the tags with no `created` time, so it is no
        # listing of the registry (`kubectl oras ls` and `tags` read that).
        out["lastRetention"] = {k: v for k, v in last.items() if k != "firstSeen"}
    return out


def _last_retention_line(last: dict[str, Any]) -> str:
    """``status.lastRetention`` (controller/core/cache_retention.py) in one line."""
    parts = [f"at {last.get('time', '?')}"]
    if last.get("dryRun"):
        parts.append("dry run")
    if isinstance(last.get("tagsSeen"), int):
        parts.append(f"{last['tagsSeen']} tags seen")
    if last.get("dryRun") and isinstance(last.get("tagsWouldDelete"), int):
        parts.append(f"{last['tagsWouldDelete']} would be deleted")
    elif isinstance(last.get("tagsDeleted"), int):
        parts.append(f"{last['tagsDeleted']} deleted")
    errors = last.get("errors")
    if isinstance(errors, list) and errors:
        parts.append(f"{len(errors)} error(s), first: {errors[0]}")
    return ", ".join(parts)


def summary_text(item: dict[str, Any]) -> str:
    """One cache's summary as lines for people."""
    state = "Ready" if item["ready"] else "not ready"
    lines = [f"{item['namespace']}/{item['name']}: {state} ({item['reason']}: {item['message']})"]
    if item.get("deploy") is False:
        lines.append("  deploy: false (no registry; pods name theirs in the registry annotation)")
    if item.get("endpoint"):
        lines.append(f"  endpoint: {item['endpoint']}")
    if item.get("storage"):
        lines.append(f"  storage: {item['storage']}")
    auth = f"on (Secret {item['authSecret']})" if item.get("authSecret") else ("on" if item.get("auth") else "off")
    lines.append(f"  auth: {auth}")
    for kind in ("degraded", "progressing"):
        if kind in item:
            lines.append(f"  {kind}: {item[kind]['reason']}: {item[kind]['message']}")
    if "artifactsLost" in item:
        lines.append(f"  artifacts lost at {item['artifactsLost']['since']}: {item['artifactsLost']['message']}")
    if "retention" in item:
        policy = ", ".join(f"{k}={v}" for k, v in item["retention"].items())
        lines.append(f"  retention: {policy or 'on'}")
    if "lastRetention" in item:
        lines.append(f"  last retention run: {_last_retention_line(item['lastRetention'])}")
    lines += [f"  warning: {w}" for w in item.get("warnings") or []]
    return "\n".join(lines)


def require_ready(cache: dict[str, Any]) -> None:
    """CacheNotReady with the Ready condition's message (and reason) unless the cache is Ready
    for its current generation."""
    ready, reason, message = readiness(cache)
    if not ready:
        metadata = cache.get("metadata") or {}
        raise CacheNotReady(f"cache {metadata.get('name')!r} in namespace {metadata.get('namespace')} is not ready "
                            f"({reason}): {message}")


# -- the access contract ----------------------------------------------------------------------


def not_found_message(name: str, namespace: str, existing: list[str]) -> str:
    here = f"caches here: {', '.join(sorted(existing))}" if existing else \
        "there are none: kubectl oras create-cache"
    return f"no cache {name!r} in namespace {namespace}; {here}"


async def cache_names(kube: Kube, namespace: str) -> list[str]:
    listed = await kube.list(ORAS_CACHES, namespace=namespace)
    return sorted(str((item.get("metadata") or {}).get("name")) for item in listed.get("items") or [])


async def find_cache(kube: Kube, namespace: str, name: str) -> dict[str, Any]:
    """The OrasCache, or CacheNotFound listing the caches in the namespace."""
    try:
        return await kube.get(ORAS_CACHES, name, namespace=namespace)
    except ObjectNotFound:
        existing = await cache_names(kube, namespace)
        raise CacheNotFound(not_found_message(name, namespace, existing)) from None


@dataclass(frozen=True)
class CacheEndpoint:
    """Where a Ready cache's registry answers: its Service ``service`` in ``namespace``, on
    ``port``; with auth on, the user and password from its auth Secret (never shown in a repr)."""

    namespace: str
    name: str
    service: str
    port: int
    username: str | None
    password: str | None = field(repr=False)

    @property
    def host(self) -> str:
        """The registry's address inside the cluster: NAME.NAMESPACE.svc:PORT."""
        return registry_host(self.service, self.namespace, self.port)


def _secret_value(secret: dict[str, Any], key: str) -> str | None:
    value = (secret.get("data") or {}).get(key)
    if not isinstance(value, str):
        return None
    try:
        return base64.b64decode(value, validate=True).decode()
    except (binascii.Error, ValueError):  # UnicodeDecodeError is a ValueError
        return None


async def cache_endpoint(kube: Kube, namespace: str, name: str) -> CacheEndpoint:
    """find_cache + require_ready + the credentials of its auth Secret when auth is on."""
    cache = await find_cache(kube, namespace, name)
    if (cache.get("spec") or {}).get("deploy") is False:
        raise CacheError(f"cache {name!r} in namespace {namespace} runs no registry (deploy: false)")
    require_ready(cache)
    status = cache.get("status") or {}
    username = password = None
    secret_name = status.get("authSecret")
    if isinstance(secret_name, str) and secret_name:
        secret = await kube.get(SECRETS, secret_name, namespace=namespace)
        username, password = _secret_value(secret, USER_KEY), _secret_value(secret, PASSWORD_KEY)
        if not username or not password:
            raise CacheError(f"cache {name!r}: its auth Secret {secret_name} holds no {USER_KEY} and {PASSWORD_KEY}")
    return CacheEndpoint(namespace=namespace, name=name, service=name, port=endpoint_port(status.get("endpoint")),
                         username=username, password=password)


# -- create, delete ---------------------------------------------------------------------------


async def create_cache(kube: Kube, cache: dict[str, Any]) -> dict[str, Any]:
    """Create the cache; CacheExists (naming its state) when the name is taken."""
    from ..kube.errors import Conflict

    metadata = cache["metadata"]
    try:
        return await kube.create(ORAS_CACHES, cache, namespace=metadata["namespace"])
    except Conflict:
        raise CacheExists(f"cache {metadata['name']!r} exists in namespace {metadata['namespace']} already "
                          f"(kubectl oras status {metadata['name']} -n {metadata['namespace']}; delete it first to "
                          f"re-create it: kubectl oras delete-cache {metadata['name']} -n {metadata['namespace']})") from None


def what_deleting_loses(cache: dict[str, Any]) -> str:
    """What goes with a cache (docs/orascache.md): its registry, its Secrets, and its artifacts,
    a PVC's included (the StatefulSet's claim retention policy deletes the claim with it)."""
    storage = ((cache.get("spec") or {}).get("storage")) or {}
    if (cache.get("spec") or {}).get("deploy") is False:
        return "it runs no registry (deploy: false): nothing else goes with it"
    if "pvc" in storage:
        return ("its registry, Secrets and PersistentVolumeClaim go with it: the artifacts on the claim are deleted "
                "(whether the volume's data is kept is up to its StorageClass's reclaim policy)")
    return "its registry and Secrets go with it, and every artifact it held (they were in an emptyDir)"


async def delete_cache(kube: Kube, namespace: str, name: str) -> str:
    """Delete the cache; what went with it, for the user. CacheNotFound listing the others."""
    cache = await find_cache(kube, namespace, name)
    await kube.delete(ORAS_CACHES, name, namespace=namespace)
    return what_deleting_loses(cache)


async def wait_ready(kube: Kube, namespace: str, name: str, progress: StatusLine, *, timeout: float,
                     interval: float = 1.0, patience: float = NO_STATUS_PATIENCE) -> dict[str, Any]:
    """Until the cache is Ready for its current spec; a progress line when its condition changes;
    CacheNotReady with the condition's last message after ``timeout`` seconds, and at once when
    the cache is Degraded in a way that keeps it from becoming Ready (``hopeless``: a registry
    pod that cannot start, a spec the controller cannot act on). Whether the controller is
    installed is asked only after ``patience`` seconds without a status."""
    found: dict[str, Any] = {}
    started = time.monotonic()

    async def look() -> str | None:
        found["cache"] = await find_cache(kube, namespace, name)
        ready, reason, message = readiness(found["cache"])
        found["why"] = f"({reason}): {message}"  # the whole of it when the wait gives up, however soon
        if reason == NO_STATUS and time.monotonic() - started < patience:
            message = NOT_REPORTED
        stuck = None if ready else hopeless(found["cache"])
        if stuck is not None:
            raise CacheNotReady(f"cache {name!r} in namespace {namespace} cannot become ready {stuck} "
                                f"(kubectl describe orascache {name} -n {namespace})")
        return None if ready else f"cache {name!r} {reason}: {message}"

    if await poll(look, progress, timeout=timeout, interval=interval) is not None:
        raise CacheNotReady(f"cache {name!r} in namespace {namespace} is not ready after {timeout:g}s {found['why']}")
    return found["cache"]
