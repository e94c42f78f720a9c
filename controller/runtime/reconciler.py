"""Reconcile OrasCaches: make the objects each one stands for exist as its spec says, and say how
it is in its status. Watch driven: informers keep every cache and every object we own in memory,
so a reconcile reads nothing from the apiserver and writes only what differs; in a steady state
the controller sends no request beyond its watches.

The decisions are pure (controller/core/: cache_spec, cache_objects, cache_status, cache_auth);
this module only moves plain dicts between them and the apiserver.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from kubectl_oras.errors import OrasError
from kubectl_oras.kube.api import ORAS_CACHES, SECRETS, SERVICES, STATEFUL_SETS, Kube, Resource
from kubectl_oras.kube.errors import Conflict, Invalid, KubeError, ObjectNotFound
from kubectl_oras.kube.watch import InformerStore
from kubectl_oras.oci.auth import Credentials
from kubectl_oras.orascache import REGISTRY_CANNOT_START, auth_secret_name, registry_secret_name
from kubectl_oras.tasks import cancel_and_wait
from kubectl_oras.times import now_rfc3339

from ..core import cache_objects as objects
from ..core.cache_auth import (
    HTTP_SECRET_KEY,
    InvalidCredentials,
    new_credentials,
    new_http_secret,
    registry_secret_current,
    registry_secret_data,
    secret_strings,
)
from ..core.cache_spec import CacheSpec, InvalidCache, cache_spec
from ..core.cache_status import ARTIFACTS_LOST, Note, cache_status, claim_name, same_status
from .events import CORE_EVENTS, EventRecorder
from .registry_access import holds_artifacts, registry_address
from .work_queue import WorkQueue

log = logging.getLogger("kubectl_oras.controller")
Key = tuple[str, str]  # (namespace, name) of a cache


class NoStore:
    """A store that holds nothing (a reconciler that is not shown registry pods or claims)."""

    @property
    def store(self) -> Mapping[Key, dict[str, Any]]:
        return {}

    def get(self, namespace: str, name: str) -> dict[str, Any] | None:
        return None


@dataclass
class Stores:
    caches: InformerStore
    statefulsets: InformerStore
    services: InformerStore
    secrets: InformerStore
    pods: InformerStore = field(default_factory=NoStore)  # the registry pods (why one cannot start)
    claims: InformerStore = field(default_factory=NoStore)  # their PersistentVolumeClaims


def _owned_by(obj: dict[str, Any] | None, uid: str) -> bool:
    """Whether the cache of ``uid`` controls ``obj``."""
    refs = ((obj or {}).get("metadata") or {}).get("ownerReferences") or []
    return any(isinstance(r, dict) and r.get("uid") == uid and r.get("controller") for r in refs)


def _version(obj: dict[str, Any]) -> str:
    """What changes when someone changes an object, but not when its status does: the generation
    (spec changes) with our metadata, for kinds that have one (a StatefulSet's status moves with
    every pod change, and re-applying it each time was most of the controller's requests);
    else the resourceVersion."""
    metadata = obj.get("metadata") or {}
    if metadata.get("generation"):
        mine = {k: metadata.get(k) for k in ("labels", "annotations", "ownerReferences")}
        return f"{metadata['generation']}:{objects.template_hash(mine)}"
    return str(metadata.get("resourceVersion") or "")


def _condition(status: dict[str, Any] | None, kind: str) -> dict[str, Any] | None:
    found = (status or {}).get("conditions")
    return next((c for c in found if isinstance(c, dict) and c.get("type") == kind), None) if isinstance(found, list) else None


RETENTION_KEYS = ("lastRetention",)  # written by the retention loop alone (retention.py)


def _status_patch(old: dict[str, Any] | None, new: dict[str, Any]) -> dict[str, Any]:
    """A merge patch taking ``old`` to ``new``: keys that went away are nulled. Retention's keys
    are never sent: the copy here may be older than what the retention loop has just written."""
    patch: dict[str, Any] = {key: value for key, value in new.items() if key not in RETENTION_KEYS}
    for key in old or {}:
        if key not in new and key not in RETENTION_KEYS:
            patch[key] = None
    return {"status": patch}


class NameTaken(Exception):
    """An object with one of the cache's names exists that this cache did not make: reported on
    the cache and left alone (never adopted: deleting the cache would delete it)."""


class LookAgain(Exception):
    """The cache was reported and waits on something the informers may never tell of (the
    deletion of a user's object): look again after the key's back-off (at most a minute)."""


def _taken(kind: str, name: str, namespace: str, obj: dict[str, Any] | None = None) -> NameTaken:
    earlier = obj is not None and objects.owner_of(obj) is not None
    why = ("it belongs to an earlier cache of this name and goes when the garbage collector deletes it"
           if earlier else "delete or rename it, or give the cache another name")
    return NameTaken(f"a {kind} named {name} exists in {namespace} that this cache did not make; {why}")


@dataclass
class Reconciler:
    kube: Kube
    stores: Stores
    events: EventRecorder
    on_reconcile: Callable[[str, float], None] | None = None  # told (result, seconds) of each reconcile: /metrics
    # Whether a registry (host, credentials) lists a repository of a user's: what ends ArtifactsLost.
    holds_artifacts: Callable[[str, Credentials | None], bool] = holds_artifacts
    build_mark: str = ""  # tests only: stands in for another build of the controller (cache_objects.statefulset)
    # (kind, namespace, name) -> (the object's _version after our last write, what we wrote): an
    # object still at that version needs no write.
    _applied: dict[tuple[str, str, str], tuple[str, str]] = field(default_factory=dict)

    # -- writes ---------------------------------------------------------------------------------

    async def _apply(self, resource: Resource, desired: dict[str, Any], observed: dict[str, Any] | None) -> dict[str, Any]:
        """Make ``desired`` exist as it is, with a server-side apply (field manager kubectl-oras),
        unless ``observed`` (ours, as _observed found it; None: there is none) is exactly what our
        last write left."""
        metadata = desired["metadata"]
        key = (resource.kind, metadata["namespace"], metadata["name"])
        fingerprint = objects.template_hash(desired)
        if observed is None:  # looked for (_observed): there is none of this name
            created = await self.kube.patch(resource, metadata["name"], desired, namespace=metadata["namespace"],
                                            patch_type="apply", field_manager=objects.MANAGER, force=True)
            self._applied[key] = (_version(created), fingerprint)
            return created
        seen = (_version(observed), fingerprint)
        if self._applied.get(key) == seen:
            return observed
        try:
            result: dict[str, Any] | None = await self.kube.patch(
                resource, metadata["name"], desired, namespace=metadata["namespace"], patch_type="apply",
                field_manager=objects.MANAGER, force=True)
        except Invalid:  # what another manager added to a list makes the merged object invalid
            result = None
        differs = None if result is None else objects.difference(result, desired)
        if result is None or differs:
            # Lists others added to (a hand-edited Service port) are replaced whole by a merge patch.
            log.info("%s %s/%s: putting back %s", resource.kind, metadata["namespace"], metadata["name"],
                     differs or "what the apply was refused for")
            put_back = {"metadata": {"labels": metadata["labels"]},
                        **{k: v for k, v in desired.items() if k not in ("apiVersion", "kind", "metadata")}}
            if "data" in put_back and result is not None:  # a merge patch removes a key only when told: null
                put_back["data"] = {**{k: None for k in result.get("data") or {}}, **put_back["data"]}
            result = await self.kube.patch(resource, metadata["name"], put_back, namespace=metadata["namespace"],
                                           patch_type="merge", field_manager=objects.MANAGER)
        self._applied[key] = (_version(result), fingerprint)
        return result

    async def _observed(self, store: InformerStore, resource: Resource, metadata: dict[str, Any]) -> dict[str, Any] | None:
        """The object of this name as the informer shows it; when it shows none, as the apiserver
        does: the informers see only what carries our label, and one of this name may be ours
        without it (a label removed) or someone else's (NameTaken: never taken over)."""
        found = store.get(metadata["namespace"], metadata["name"])
        return found if found is not None else await self._unseen(resource, metadata)

    async def _unseen(self, resource: Resource, metadata: dict[str, Any]) -> dict[str, Any] | None:
        """The object of this name the informer does not show: None when there is none, ours when
        the watch has not brought it yet; NameTaken when it is someone else's. Asked with a list
        of that one name (a field selector), which needs no right beyond the informer's: a get
        right on Secrets would read any Secret by name."""
        items = (await self.kube.list(resource, namespace=metadata["namespace"],
                                      field_selector=f"metadata.name={metadata['name']}")).get("items") or []
        if not items:
            return None
        found = items[0]
        if _owned_by(found, metadata["ownerReferences"][0]["uid"]):
            return found
        raise _taken(resource.kind, metadata["name"], metadata["namespace"], found)

    async def _write_status(self, cache: dict[str, Any], status: dict[str, Any]) -> None:
        old = cache.get("status")
        if same_status(old, status):
            return
        metadata = cache["metadata"]
        await self.kube.patch(ORAS_CACHES, metadata["name"], _status_patch(old, status), namespace=metadata["namespace"],
                              patch_type="merge", subresource="status")
        cache["status"] = status  # what we see until the watch brings it: no second write meanwhile

    # -- one cache --------------------------------------------------------------------------------

    async def reconcile(self, key: Key) -> None:
        started = time.monotonic()
        result = "error"
        try:
            await self._reconcile(key)
            result = "ok"
        finally:
            if self.on_reconcile:
                self.on_reconcile(result, time.monotonic() - started)

    async def _reconcile(self, key: Key) -> None:
        namespace, name = key
        cache = self.stores.caches.get(namespace, name)
        if cache is None or (cache.get("metadata") or {}).get("deletionTimestamp"):
            # Gone: the garbage collector deletes what it owned; we forget what we wrote.
            names = {name, auth_secret_name(name), registry_secret_name(name)}
            for written in [k for k in self._applied if k[1] == namespace and k[2] in names]:
                del self._applied[written]
            return
        cache = dict(cache)
        generation = int((cache.get("metadata") or {}).get("generation") or 0)
        try:
            spec = cache_spec(cache)
        except InvalidCache as e:
            await self.events.emit(cache, "Warning", "InvalidSpec", str(e))
            await self._write_status(cache, cache_status(None, generation=generation, previous=cache.get("status"),
                                                         now=now_rfc3339(), problem=Note("InvalidSpec", str(e))))
            return
        try:
            problem, progress, statefulset, service = await self._objects(cache, spec)
        except NameTaken as e:
            # The other object is not ours, so no watch tells of its deletion: look again later.
            await self.events.emit(cache, "Warning", "NameTaken", str(e))
            await self._write_status(cache, cache_status(spec, generation=generation, previous=cache.get("status"),
                                                         now=now_rfc3339(), problem=Note("NameTaken", str(e))))
            raise LookAgain(str(e)) from None
        except (KubeError, InvalidCredentials) as e:
            if isinstance(e, KubeError) and not await self._still_there(cache):
                # Deleted meanwhile, or with its namespace: a Warning now would land on nothing, or
                # (namespace re-created) on a new cache of this name: 'namespaces "x" not found'.
                log.info("%s/%s: gone while reconciled (%s)", namespace, name, e)
                return
            # A user's edit of the auth Secret that htpasswd cannot hold is theirs to fix: said on the
            # cache, not retried (the Secret's next change queues the cache again).
            reason = "InvalidAuthSecret" if isinstance(e, InvalidCredentials) else "ReconcileFailed"
            message = (f"Secret {spec.auth_secret}: {e}; fix it, or delete it and a new password is generated"
                       if isinstance(e, InvalidCredentials) else str(e))
            await self.events.emit(cache, "Warning", reason, message)
            status = cache_status(spec, generation=generation, previous=cache.get("status"), now=now_rfc3339(),
                                  statefulset=self.stores.statefulsets.get(namespace, name),
                                  service=self.stores.services.get(namespace, name),
                                  problem=Note(reason, message))
            try:
                await self._write_status(cache, status)
            except KubeError as status_error:
                log.warning("%s/%s: cannot write status: %s", namespace, name, status_error)
            if isinstance(e, KubeError):
                raise
            return
        pod, claim, claim_events = await self._registry_pod(spec, statefulset)
        status = cache_status(spec, generation=generation, previous=cache.get("status"), now=now_rfc3339(),
                              statefulset=statefulset, service=service, problem=problem, progress=progress,
                              pod=pod, claim=claim, claim_events=claim_events,
                              holds_artifacts=await self._holds_artifacts_again(cache, spec, statefulset))
        degraded = next(c for c in status["conditions"] if c["type"] == "Degraded")
        if degraded["reason"] == REGISTRY_CANNOT_START:
            await self.events.emit(cache, "Warning", REGISTRY_CANNOT_START, degraded["message"])
        lost = _condition(status, ARTIFACTS_LOST)
        if lost is not None and lost["message"] != (_condition(cache.get("status"), ARTIFACTS_LOST) or {}).get("message"):
            await self.events.emit(cache, "Warning", ARTIFACTS_LOST, lost["message"])
        await self._write_status(cache, status)
        if claim is not None and (claim.get("status") or {}).get("phase", "Pending") == "Pending" and \
                degraded["status"] == "False":
            # Why a claim stays Pending is only in its Events, and no watch of ours brings them:
            # look again after the key's back-off (at most a minute) until it binds or says why.
            raise LookAgain(f"claim {claim_name(spec)} is Pending")
        if lost is not None:
            # A push tells no watch of ours: the registry is asked again after the key's back-off
            # (at most a minute), until it holds artifacts again.
            raise LookAgain("its artifacts are lost until it holds some again")

    async def _holds_artifacts_again(self, cache: dict[str, Any], spec: CacheSpec, statefulset: dict[str, Any] | None
                                     ) -> bool:
        """While the cache says ArtifactsLost and its registry is ready: whether the registry lists
        a repository again (one short request; an error counts as no)."""
        ready = ((statefulset or {}).get("status") or {}).get("readyReplicas") or 0
        if _condition(cache.get("status"), ARTIFACTS_LOST) is None or ready < 1:
            return False
        ns = spec.namespace
        where = registry_address(self.stores.services.get(ns, spec.name), self.stores.secrets.get(ns, spec.auth_secret or ""),
                                 spec.name, spec.auth)
        if isinstance(where, str):
            log.debug("%s/%s: cannot look for artifacts yet: %s", ns, spec.name, where)
            return False
        try:
            return await asyncio.to_thread(self.holds_artifacts, *where)
        except OrasError as e:
            log.info("%s/%s: cannot list the registry's repositories: %s", ns, spec.name, e)
            return False

    async def _still_there(self, cache: dict[str, Any]) -> bool:
        """Whether the cache reconciled still exists (the same one, not a new one of its name)."""
        metadata = cache.get("metadata") or {}
        try:
            now = await self.kube.get(ORAS_CACHES, str(metadata.get("name")), namespace=metadata.get("namespace"))
        except ObjectNotFound:
            return False
        except KubeError:
            return True  # cannot tell: say what failed
        return (now.get("metadata") or {}).get("uid") == metadata.get("uid")

    async def _registry_pod(self, spec: CacheSpec, statefulset: dict[str, Any] | None
                            ) -> tuple[dict[str, Any] | None, dict[str, Any] | None, list[dict[str, Any]]]:
        """The registry pod, its claim, and the claim's events (read only while it is Pending and
        the registry is not ready: the volume controller says why there alone)."""
        if statefulset is None or not spec.deploy:
            return None, None, []
        pod = self.stores.pods.get(spec.namespace, f"{spec.name}-0")
        claim = self.stores.claims.get(spec.namespace, claim_name(spec)) if spec.storage.kind == "pvc" else None
        ready = ((statefulset.get("status") or {}).get("readyReplicas") or 0) >= 1
        if claim is None or ready or (claim.get("status") or {}).get("phase", "Pending") != "Pending":
            return pod, None if ready else claim, []
        uid = (claim.get("metadata") or {}).get("uid")
        try:
            listed = await self.kube.list(CORE_EVENTS, namespace=spec.namespace, field_selector=(
                f"involvedObject.kind=PersistentVolumeClaim,involvedObject.uid={uid}"))
        except KubeError as e:
            log.warning("%s/%s: cannot read the events of claim %s: %s", spec.namespace, spec.name, claim_name(spec), e)
            return pod, claim, []
        return pod, claim, [e for e in listed.get("items") or [] if isinstance(e, dict)]

    async def _objects(self, cache: dict[str, Any], spec: CacheSpec) -> tuple[Note | None, Note | None, Any, Any]:
        ns, name = spec.namespace, spec.name
        desired_service, desired = objects.service(spec), objects.statefulset(spec, build_mark=self.build_mark)
        for kind, obj in (("StatefulSet", self.stores.statefulsets.get(ns, name)),
                          ("Service", self.stores.services.get(ns, name))):
            if obj is not None and not _owned_by(obj, spec.uid):
                raise _taken(kind, name, ns, obj)
        if not spec.deploy:
            statefulset = self.stores.statefulsets.get(ns, name)
            service = self.stores.services.get(ns, name)
        else:
            statefulset = await self._observed(self.stores.statefulsets, STATEFUL_SETS, desired["metadata"])
            service = await self._observed(self.stores.services, SERVICES, desired_service["metadata"])
        if not spec.deploy:
            for resource, obj in ((STATEFUL_SETS, statefulset), (SERVICES, service)):
                if obj is not None:
                    await self._delete(resource, ns, name)
                    await self.events.emit(cache, "Normal", "Removed", f"deleted {resource.kind} {name}: deploy is false")
            return None, None, None, None
        made = await self._secrets(cache, spec)
        if service is None:
            made.append(f"Service {name} ({spec.endpoint})")
        service = await self._apply(SERVICES, desired_service, service)
        problem = progress = None
        if statefulset is not None:
            change = objects.storage_change(desired, statefulset)
            if change:
                await self._created(cache, made)
                await self.events.emit(cache, "Warning", "StorageImmutable", change)
                return Note("StorageImmutable", change), None, statefulset, service
            # A controller upgrade never replaces the registry pod: only a change of what of the
            # cache's spec shapes it does, and that is announced first.
            desired, replaces = objects.statefulset_update(desired, statefulset)
            if replaces:
                progress = await self._announce_restart(cache, spec, statefulset)
        else:
            made.append(f"StatefulSet {name} (one registry pod, {spec.image}, storage {spec.storage.describe()})")
        statefulset = await self._apply(STATEFUL_SETS, desired, statefulset)
        await self._created(cache, made)
        return problem, progress, statefulset, service

    async def _created(self, cache: dict[str, Any], made: list[str]) -> None:
        """One event for what a reconcile made (or put back)."""
        if made:
            await self.events.emit(cache, "Normal", "Created", "created " + ", ".join(made))

    async def _announce_restart(self, cache: dict[str, Any], spec: CacheSpec, observed: dict[str, Any]) -> Note:
        """Before a change that replaces the registry pod: say so (event and status) first; with
        emptyDir storage the pod's artifacts go with it."""
        if spec.storage.kind == "emptyDir":
            note = Note("RestartingRegistry",
                        f"the spec changed, so the registry pod {spec.name}-0 restarts; its storage is an emptyDir, "
                        f"so every artifact in this cache is lost (use spec.storage.pvc to keep them across restarts)")
            await self.events.emit(cache, "Warning", "ArtifactsLost", note.message)
        else:
            note = Note("RestartingRegistry", f"the spec changed, so the registry pod {spec.name}-0 restarts; "
                                              f"its artifacts are kept on its PVC")
            await self.events.emit(cache, "Normal", "RestartingRegistry", note.message)
        generation = int((cache.get("metadata") or {}).get("generation") or 0)
        status = cache_status(spec, generation=generation, previous=cache.get("status"), now=now_rfc3339(),
                              statefulset=observed, service=self.stores.services.get(spec.namespace, spec.name),
                              progress=note)
        await self._write_status(cache, status)  # said before it is done
        return note

    async def _secrets(self, cache: dict[str, Any], spec: CacheSpec) -> list[str]:
        """The auth Secret (made once, never rewritten) and the registry Secret made from it; what was made."""
        ns = spec.namespace
        made: list[str] = []
        credentials = None
        name = registry_secret_name(spec.name)
        for secret_name, obj in ((spec.auth_secret, self.stores.secrets.get(ns, spec.auth_secret or "")),
                                 (name, self.stores.secrets.get(ns, name))):
            if obj is not None and not _owned_by(obj, spec.uid):
                raise _taken("Secret", str(secret_name), ns, obj)
        desired_registry = objects.registry_secret(spec, {})
        observed = await self._observed(self.stores.secrets, SECRETS, desired_registry["metadata"])
        if spec.auth_secret:
            auth = self.stores.secrets.get(ns, spec.auth_secret)
            desired_auth = objects.auth_secret(spec, new_credentials())
            if auth is None:
                auth = await self._unseen(SECRETS, desired_auth["metadata"])
            if auth is None:  # looked for: there is none of this name
                # Made once, with a password of its own, and never rewritten (create, not apply).
                try:
                    await self.kube.create(SECRETS, desired_auth, namespace=ns)
                except Conflict:  # made a moment ago (by us, or someone): the next reconcile looks again
                    raise KubeError(f"Secret {spec.auth_secret} appeared while being made; retrying") from None
                credentials = desired_auth["stringData"]
                made.append(f"Secret {spec.auth_secret} (the registry's generated password)")
            else:
                credentials = secret_strings(auth)
        have = secret_strings(observed)
        http_secret = spec.registry_http_secret or have.get(HTTP_SECRET_KEY) or new_http_secret()
        if observed is not None and registry_secret_current(credentials, http_secret, have):
            labels = desired_registry["metadata"]["labels"]
            if not labels.items() <= ((observed.get("metadata") or {}).get("labels") or {}).items():
                # Ours, with its label removed: the label back (so the watch sees it), the data kept.
                await self.kube.patch(SECRETS, name, {"metadata": {"labels": labels}}, namespace=ns, patch_type="merge",
                                      field_manager=objects.MANAGER)
            return made
        await self._apply(SECRETS, objects.registry_secret(spec, registry_secret_data(credentials, http_secret)), observed)
        return made

    async def _delete(self, resource: Resource, namespace: str, name: str) -> None:
        try:
            await self.kube.delete(resource, name, namespace=namespace)
        except ObjectNotFound:
            pass


async def run_workers(reconciler: Reconciler, queue: WorkQueue[Key], stopping: asyncio.Event, *, workers: int = 4) -> None:
    """Take keys off ``queue`` until ``stopping``; a reconcile in flight then finishes before this returns."""

    async def worker() -> None:
        while not stopping.is_set():
            getter = asyncio.ensure_future(queue.get())
            stopper = asyncio.ensure_future(stopping.wait())
            done, _ = await asyncio.wait({getter, stopper}, return_when=asyncio.FIRST_COMPLETED)
            if getter not in done:
                await cancel_and_wait((getter, stopper))
                return
            await cancel_and_wait([stopper])
            key = getter.result()
            try:
                await reconciler.reconcile(key)
                queue.forget(key)
            except LookAgain as e:
                delay = queue.retry(key)
                log.debug("%s/%s: %s (looking again in %.1f s)", key[0], key[1], e, delay)
            except KubeError as e:
                delay = queue.retry(key)
                log.warning("%s/%s: %s (again in %.1f s)", key[0], key[1], e, delay)
            except Exception:
                delay = queue.retry(key)
                log.exception("%s/%s: reconcile failed (again in %.1f s)", key[0], key[1], delay)
            finally:
                queue.done(key)

    await asyncio.gather(*(worker() for _ in range(workers)))
