"""The leader's retention loop: each cache with ``spec.retention`` is cleaned on its interval, and
at once when its ``run-retention`` annotation changes (docs/retention.md).

Reads only the informers (the cache, its Service for the registry's address, its auth Secret for
the password); the registry is reached at the Service's ClusterIP, so no DNS is needed, and with
the cache's own credentials. The registry work (kubectl_oras.retention.registry, blocking HTTP)
runs in a thread; the outcome goes to ``status.lastRetention`` (a merge patch on the status
subresource, like the reconciler's), an Event when it deleted something or failed, and metrics.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as _dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kubectl_oras.errors import OrasError
from kubectl_oras.kube.api import ORAS_CACHES, Kube
from kubectl_oras.kube.errors import KubeError
from kubectl_oras.kube.watch import Informer
from kubectl_oras.oci.auth import Credentials
from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.errors import Cancelled
from kubectl_oras.oci.transport import Timeouts
from kubectl_oras.pods.caches import REGISTRY_PORT, auth_secret_name
from kubectl_oras.retention.choice import bytes_freed, choose
from kubectl_oras.retention.registry import DELETED, FAILED, WOULD_DELETE, Outcome, delete_chosen, delete_mode, scan

from ..core.cache_auth import PASSWORD_KEY, USER_KEY
from ..core.cache_retention import (
    RetentionPlan,
    failed_record,
    first_seen_of,
    requested_run,
    retention_record,
    seconds_until_due,
)
from ..core.cache_spec import InvalidCache, cache_spec
from .events import EventRecorder

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    record: dict[str, Any]
    deleted: int
    bytes_freed: int
    failed: bool


def _secret_value(secret: dict[str, Any] | None, key: str) -> str:
    raw = ((secret or {}).get("data") or {}).get(key)
    if not isinstance(raw, str):
        return ""
    try:
        return base64.b64decode(raw).decode()
    except ValueError:
        return ""


def run_against_registry(host: str, credentials: Credentials | None, plan: RetentionPlan, cache: dict[str, Any],
                         now: _dt.datetime, *, concurrency: int = 8, stop: threading.Event | None = None) -> RunResult:
    """One retention run (blocking): read every tag, choose, delete; the status record of it."""
    started = time.monotonic()
    request = requested_run(cache)
    previous = ((cache.get("status") or {}).get("lastRetention"))
    first_seen = first_seen_of(cache)
    client = RegistryClient(host, plain_http=True, credentials=credentials, pool_size=concurrency,
                            timeouts=Timeouts(connect=5.0, read=30.0, total=None), retries=3)
    outcomes: list[Outcome] = []
    mode, stopped_by = "", ""
    try:
        found = scan(client, concurrency=concurrency, first_seen=first_seen)
        if stop is not None and stop.is_set():  # stepping down: leave the deletes to the next leader
            raise Cancelled("stopped before deleting: this replica is no longer the leader")
        verdicts = choose(found.tags, plan.policy, now)
        chosen = [v for v in verdicts if v.delete]
        if chosen:
            mode = delete_mode(client, chosen[0].repository)
            delete_chosen(client, verdicts, mode=mode, dry_run=plan.dry_run, concurrency=concurrency, done=outcomes)
    except OrasError as e:
        if not outcomes:
            return RunResult(failed_record(now=now, plan=plan, request=request, error=str(e),
                                           previous=previous if isinstance(previous, dict) else None), 0, 0, True)
        stopped_by = str(e)  # some deletes were done: they are recorded, with the error that stopped the rest
    finally:
        client.transport.session.close()
    gone = [o for o in outcomes if o.result in (DELETED, WOULD_DELETE)]
    failed = [o.reference for o in outcomes if o.result == FAILED]
    done = {(o.repository, o.tag) for o in gone}
    freed = bytes_freed([v for v in verdicts if (v.repository, v.tag) in done], found.tags)
    record = retention_record(now=now, plan=plan, request=request, tags=found.tags,
                              deleted=[o.reference for o in gone], failed=failed,
                              errors=[*([stopped_by] if stopped_by else []), *found.problems],
                              bytes_freed=freed, deleted_by=mode, previous_first_seen=first_seen,
                              seconds=time.monotonic() - started)
    return RunResult(record, 0 if plan.dry_run else len(gone), freed, bool(failed or found.problems or stopped_by))


def replacing(old: Any, new: dict[str, Any]) -> dict[str, Any]:
    """A merge patch that leaves exactly ``new`` where ``old`` was (a merge patch only adds keys
    unless told to drop them with null), one level into maps such as firstSeen."""
    if not isinstance(old, dict):
        return new
    patch: dict[str, Any] = {key: None for key in old if key not in new}
    for key, value in new.items():
        before = old.get(key)
        patch[key] = replacing(before, value) if isinstance(value, dict) and isinstance(before, dict) else value
    return patch


def registry_ready(cache: dict[str, Any]) -> bool:
    """The reconciler's Ready condition: a registry pod answers (before that, a run could only fail)."""
    conditions = (cache.get("status") or {}).get("conditions") or []
    return any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


class RetentionLoop:
    """Runs each cache's retention when due, a few caches at once, until ``stop``."""

    def __init__(self, kube: Kube, caches: Informer, services: Informer, secrets: Informer, events: EventRecorder, *,
                 on_run: Callable[[str, int, int, float], None] | None = None, tick: float = 2.0,
                 at_once: int = 2, clock: Callable[[], _dt.datetime] = lambda: _dt.datetime.now(_dt.UTC)) -> None:
        self.kube, self.caches, self.services, self.secrets, self.events = kube, caches, services, secrets, events
        self.on_run = on_run
        self.tick = tick
        self.clock = clock
        self._slots = asyncio.Semaphore(at_once)
        self._stop = threading.Event()  # seen by the runs' threads, which a task cancel cannot reach
        self._running: dict[tuple[str, str], asyncio.Task[None]] = {}

    async def run(self, stop: asyncio.Event) -> None:
        try:
            while not stop.is_set():
                self._start_due()
                try:
                    await asyncio.wait_for(stop.wait(), self.tick)
                except TimeoutError:
                    pass
        finally:
            self._stop.set()
            for task in self._running.values():
                task.cancel()
            await asyncio.gather(*self._running.values(), return_exceptions=True)

    def _start_due(self) -> None:
        now = self.clock()
        for key, cache in list(self.caches.store.items()):
            if key in self._running:
                continue
            try:
                spec = cache_spec(cache)
                plan = spec.retention
            except InvalidCache:
                continue  # the reconciler reports it in the status
            if plan is None or not spec.deploy or not registry_ready(cache) or seconds_until_due(cache, plan, now) > 0:
                continue
            task = asyncio.create_task(self._run_one(key, plan))
            self._running[key] = task
            task.add_done_callback(self._forget(key))

    def _forget(self, key: tuple[str, str]) -> Callable[[asyncio.Task[None]], None]:
        def done(task: asyncio.Task[None]) -> None:
            self._running.pop(key, None)
            if not task.cancelled() and task.exception() is not None:
                log.error("%s/%s: retention run failed: %r", *key, task.exception())
        return done

    def _registry_of(self, namespace: str, name: str, auth: bool) -> tuple[str, Credentials | None] | str:
        service = self.services.get(namespace, name)
        address = ((service or {}).get("spec") or {}).get("clusterIP")
        if not address or address == "None":
            return "its registry's Service has no cluster IP yet"
        credentials = None
        if auth:
            secret = self.secrets.get(namespace, auth_secret_name(name))
            user, password = _secret_value(secret, USER_KEY), _secret_value(secret, PASSWORD_KEY)
            if not user or not password:
                return f"its auth Secret {auth_secret_name(name)} has no {USER_KEY} and {PASSWORD_KEY} yet"
            credentials = Credentials(user, password)
        host = f"[{address}]:{REGISTRY_PORT}" if ":" in address else f"{address}:{REGISTRY_PORT}"
        return host, credentials

    async def _run_one(self, key: tuple[str, str], plan: RetentionPlan) -> None:
        namespace, name = key
        async with self._slots:
            cache = self.caches.get(namespace, name)
            if cache is None:
                return
            now = self.clock()
            spec = cache_spec(cache)
            where = self._registry_of(namespace, name, spec.auth)
            if isinstance(where, str):
                previous = (cache.get("status") or {}).get("lastRetention")
                result = RunResult(failed_record(now=now, plan=plan, request=requested_run(cache),
                                                 error=f"not run: {where}",
                                                 previous=previous if isinstance(previous, dict) else None), 0, 0, True)
            else:
                host, credentials = where
                result = await asyncio.to_thread(run_against_registry, host, credentials, plan, cache, now, stop=self._stop)
            await self._record(cache, plan, result)

    async def _record(self, cache: dict[str, Any], plan: RetentionPlan, result: RunResult) -> None:
        metadata = cache["metadata"]
        record = result.record
        previous = (cache.get("status") or {}).get("lastRetention")
        try:
            await self.kube.patch(ORAS_CACHES, metadata["name"], {"status": {"lastRetention": replacing(previous, record)}},
                                  namespace=metadata["namespace"], patch_type="merge", subresource="status")
        except KubeError as e:
            log.warning("%s/%s: cannot record the retention run: %s", metadata["namespace"], metadata["name"], e)
        status = cache.setdefault("status", {})
        status["lastRetention"] = record  # seen until the watch brings it: no second run meanwhile
        if self.on_run is not None:
            self.on_run("failed" if result.failed else "ok", result.deleted, result.bytes_freed,
                        float(record.get("durationSeconds") or 0.0))
        if result.failed:
            errors = record.get("errors") or ["unknown error"]
            await self.events.emit(cache, "Warning", "RetentionFailed", f"retention: {errors[0]}"[:1000])
        elif result.deleted or (plan.dry_run and record.get("tagsWouldDelete")):
            verb = "would delete" if plan.dry_run else "deleted"
            count = record.get("tagsWouldDelete") if plan.dry_run else result.deleted
            shown = ", ".join(record.get("tags") or [])
            await self.events.emit(cache, "Normal", "RetentionDryRun" if plan.dry_run else "RetentionDeleted",
                                   f"retention {verb} {count} tags ({result.bytes_freed} bytes of blobs to free): "
                                   f"{shown}"[:1000])
