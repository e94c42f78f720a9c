"""The leader's retention loop: each cache with ``spec.retention`` is cleaned on its interval, and
at once when its ``run-retention`` annotation changes (docs/retention.md).

Reads only the informers (the cache, its Service for the registry's address, its auth Secret for
the password); the registry is reached at the Service's ClusterIP, so no DNS is needed, and with
the cache's own credentials. The registry work (kubectl_oras.retention.registry, blocking HTTP)
runs in a daemon thread of its own; the outcome goes to ``status.lastRetention`` (a JSON patch on
the status subresource that replaces the last record whole and tests the cache's uid; the
reconciler never writes it), an Event when it deleted something or failed, and metrics. After a
run that deleted something, a marker asks the registry's supervisor to reclaim the disk
(controller/core/registry_supervisor.py).
"""

from __future__ import annotations

import asyncio
import datetime as _dt
import functools
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from kubectl_oras.errors import OrasError
from kubectl_oras.kube.api import ORAS_CACHES, PODS, Kube
from kubectl_oras.kube.errors import KubeError
from kubectl_oras.kube.watch import Informer
from kubectl_oras.oci.auth import Credentials
from kubectl_oras.oci.client import RegistryClient, RetryPolicy
from kubectl_oras.oci.digests import sha256_digest
from kubectl_oras.oci.errors import Cancelled
from kubectl_oras.oci.manifest import EMPTY_CONFIG, EMPTY_CONFIG_BLOB, build_manifest, encode_manifest
from kubectl_oras.oci.transport import Timeouts
from kubectl_oras.orascache import auth_secret_name
from kubectl_oras.retention.choice import InputInUse, bytes_freed, choose, runs_cut_by_keep_last
from kubectl_oras.retention.registry import (
    DELETED,
    FAILED,
    WOULD_DELETE,
    Outcome,
    Scan,
    delete_chosen,
    delete_mode,
    scan,
)
from kubectl_oras.retention.text import clean
from kubectl_oras.tasks import cancel_and_wait

from ..core.cache_retention import (
    MAX_ERRORS,
    RetentionPlan,
    failed_record,
    first_seen_of,
    inputs_in_use,
    requested_run,
    retention_record,
    seconds_until_due,
)
from ..core.cache_spec import InvalidCache, cache_spec
from ..core.registry_supervisor import MARKER_ARTIFACT_TYPE, MARKER_REPOSITORY, MARKER_TAG
from .events import EventRecorder
from .registry_access import registry_address

log = logging.getLogger(__name__)


@dataclass
class RunResult:
    record: dict[str, Any]
    deleted: int
    bytes_freed: int
    failed: bool


def request_reclaim(client: RegistryClient, now: _dt.datetime) -> str:
    """Ask the registry's supervisor to reclaim disk (controller/core/registry_supervisor.py): push
    the marker artifact, a new manifest each time. Its digest."""
    before = client.resolve(MARKER_REPOSITORY, MARKER_TAG, what="read the reclamation marker")
    if not client.blob_exists(MARKER_REPOSITORY, EMPTY_CONFIG_BLOB.digest):
        client.upload_blob_bytes(MARKER_REPOSITORY, EMPTY_CONFIG, EMPTY_CONFIG_BLOB.digest)
    body = encode_manifest(build_manifest(layers=[], artifact_type=MARKER_ARTIFACT_TYPE, created=now,
                                          annotations={"io.kubectl-oras.reclaim.requested": now.isoformat()}))
    client.put_manifest(MARKER_REPOSITORY, MARKER_TAG, body)
    digest = sha256_digest(body)
    if before is not None and before != digest:  # the last marker, untagged now: gone with the next collection
        try:
            client.delete_manifest(MARKER_REPOSITORY, before)
        except OrasError as e:
            log.info("could not delete the previous reclamation marker %s: %s", before, e)
    return digest


RUN_LIMIT = 30 * 60.0  # seconds a run may take; past it the loop records it failed and moves on
RUN_SLACK = 60.0  # past RUN_LIMIT, for the run's own deadline to end it first


def run_against_registry(host: str, credentials: Credentials | None, plan: RetentionPlan, cache: dict[str, Any],
                         now: _dt.datetime, *, concurrency: int = 8, stop: threading.Event | None = None,
                         still_wanted: Callable[[], str] | None = None,
                         in_use: Callable[[], list[InputInUse]] | None = None) -> RunResult:
    """One retention run (blocking): read every tag, choose, delete, ask for the disk to be
    reclaimed; the status record of it. Once ``stop`` is set no further delete starts; before the
    deletes, ``still_wanted()`` says why they must not happen ("" when they may: the cache's
    retention is still the one this run chose by). ``in_use()``, called once the tags are read,
    says which inputs the pods that have not finished name (they are spared); when it raises,
    nothing is deleted."""
    client = RegistryClient(host, plain_http=True, credentials=credentials, pool_size=concurrency,
                            timeouts=Timeouts(connect=5.0, read=30.0, total=RUN_LIMIT),
                            retry=RetryPolicy(attempts=4, refused_for=120.0))  # through a reclamation's stop
    try:
        return _run(client, plan, cache, now, concurrency=concurrency, stop=stop or threading.Event(),
                    still_wanted=still_wanted or (lambda: ""), in_use=in_use or (lambda: []))
    finally:
        client.transport.session.close()


def _run(client: RegistryClient, plan: RetentionPlan, cache: dict[str, Any], now: _dt.datetime, *,
         concurrency: int, stop: threading.Event, still_wanted: Callable[[], str],
         in_use: Callable[[], list[InputInUse]]) -> RunResult:
    started = time.monotonic()
    request = requested_run(cache)
    previous = ((cache.get("status") or {}).get("lastRetention"))
    first_seen = first_seen_of(cache)
    outcomes: list[Outcome] = []
    mode, stopped_by = "", ""
    found, verdicts = Scan(), []
    try:
        found = scan(client, concurrency=concurrency, first_seen=first_seen)
        # read after the tags: a pod created during the scan is seen (the window left is the deletes')
        verdicts = choose(found.tags, plan.policy, now, in_use=in_use())
        chosen = [v for v in verdicts if v.delete]
        if chosen:
            why_not = "stopped: this replica is no longer the leader" if stop.is_set() else still_wanted()
            if why_not:
                raise Cancelled(f"nothing deleted: {why_not}")
            mode = delete_mode(client, chosen[0].repository)
            delete_chosen(client, verdicts, mode=mode, dry_run=plan.dry_run, concurrency=concurrency, done=outcomes,
                          stop=stop)
    except Exception as e:  # noqa: BLE001 - whatever ends a run, it is recorded (and not run again at once)
        error = str(e) if isinstance(e, OrasError) else f"{type(e).__name__}: {e}"
        if not outcomes:
            return RunResult(failed_record(now=now, plan=plan, request=request, error=error,
                                           previous=previous if isinstance(previous, dict) else None), 0, 0, True)
        stopped_by = error  # some deletes were done: they are recorded, with the error that stopped the rest
    left = sum(1 for v in verdicts if v.delete) - len(outcomes)
    if stop.is_set() and not stopped_by and left > 0:
        stopped_by = f"stopped: this replica is no longer the leader; {left} chosen tags not deleted"
    gone = [o for o in outcomes if o.result in (DELETED, WOULD_DELETE)]
    failed = [o.reference for o in outcomes if o.result == FAILED]
    done = {(o.repository, o.tag) for o in gone}
    freed = bytes_freed([v for v in verdicts if (v.repository, v.tag) in done], found.tags)
    record = retention_record(now=now, plan=plan, request=request, tags=found.tags, ranked=found.repositories,
                              deleted=[o.reference for o in gone], failed=failed,
                              errors=[*([stopped_by] if stopped_by else []), *found.problems],
                              bytes_freed=freed, deleted_by=mode, previous_first_seen=first_seen,
                              seconds=time.monotonic() - started,
                              warnings=runs_cut_by_keep_last(found.tags, plan.policy))
    deleted = 0 if plan.dry_run else len(gone)
    if deleted:  # the disk is freed by the registry's garbage collector: ask its supervisor to run it
        try:
            record["reclaimRequested"] = request_reclaim(client, now)
        except OrasError as e:
            record["errors"] = [*record["errors"], clean(f"could not ask the registry to reclaim disk: {e}")][:MAX_ERRORS]
            stopped_by = stopped_by or str(e)
    return RunResult(record, deleted, freed, bool(failed or found.problems or stopped_by))


T = TypeVar("T")


def in_daemon_thread(work: Callable[[], T], *, name: str = "retention-run") -> asyncio.Future[T]:
    """``work()`` in a thread of its own that never holds up the process's exit (asyncio.to_thread's
    pool is joined at exit: a run stuck on a registry would keep a stopped controller alive), nor
    other work: the pool's few threads, each held by a registry that drips its answers, would
    stop every other read queued behind them (the webhook's image lookups use it too)."""
    loop = asyncio.get_running_loop()
    future: asyncio.Future[T] = loop.create_future()

    def settle(result: T | None, error: BaseException | None) -> None:
        if future.done():
            return
        if error is not None:
            future.set_exception(error)
        else:
            future.set_result(result)  # type: ignore[arg-type]

    def target() -> None:
        try:
            outcome: tuple[T | None, BaseException | None] = (work(), None)
        except BaseException as e:  # noqa: BLE001 - handed to the awaiting task
            outcome = (None, e)
        try:
            loop.call_soon_threadsafe(settle, *outcome)
        except RuntimeError:  # the loop is closed: the run was given up, and so is its result
            log.info("a %s given up earlier has ended", name)

    threading.Thread(target=target, name=name, daemon=True).start()
    return future


def registry_ready(cache: dict[str, Any]) -> bool:
    """The reconciler's Ready condition: a registry pod answers (before that, a run could only fail)."""
    conditions = (cache.get("status") or {}).get("conditions") or []
    return any(isinstance(c, dict) and c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


PODS_LIST_LIMIT = 60.0  # seconds a run waits for the list of its namespace's pods
STOP_WAIT = 10.0  # seconds a stepping-down leader waits for its runs to record what they did


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
        self._stop = threading.Event()  # set when the loop stops
        self._run_stops: dict[tuple[str, str], threading.Event] = {}  # one per run: seen by its thread
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
            # No delete starts once stepping down; the runs record what they did, for a while.
            self._stop.set()
            for run_stop in self._run_stops.values():
                run_stop.set()
            running = list(self._running.values())
            if running:
                _, late = await asyncio.wait(running, timeout=STOP_WAIT)
                await cancel_and_wait(late)  # a run's failure is logged when it ends (_forget)

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
        return registry_address(self.services.get(namespace, name), self.secrets.get(namespace, auth_secret_name(name)),
                                name, auth)

    def _plan_now(self, namespace: str, name: str, plan: RetentionPlan, uid: str) -> str:
        """Why the deletes of a run chosen by ``plan`` must not happen now ("" when they may):
        read from the informer's store, which the event loop keeps current."""
        cache = self.caches.get(namespace, name)
        if cache is None or (cache.get("metadata") or {}).get("uid") != uid:
            return "the cache is gone"
        try:
            spec = cache_spec(cache)
        except InvalidCache as e:
            return f"the cache's spec is not valid now: {e}"
        if not spec.deploy:
            return "the cache no longer deploys a registry"
        if spec.retention != plan:
            return "the cache's retention changed during the run; the next run follows it"
        return ""

    def _inputs_now(self, loop: asyncio.AbstractEventLoop, namespace: str, name: str) -> list[InputInUse]:
        """From a run's thread: the inputs the namespace's unfinished pods name (one list of its
        pods, through the event loop). A list that fails raises: the run then deletes nothing."""
        listed = asyncio.run_coroutine_threadsafe(self.kube.list(PODS, namespace=namespace), loop)
        try:
            pods = listed.result(timeout=PODS_LIST_LIMIT)
        except TimeoutError:
            listed.cancel()
            raise Cancelled(f"nothing deleted: the pods of namespace {namespace} could not be listed within "
                            f"{PODS_LIST_LIMIT:g} s (their inputs are spared)") from None
        except KubeError as e:
            raise Cancelled(f"nothing deleted: cannot list the pods of namespace {namespace} "
                            f"(their inputs are spared): {e}") from None
        items = pods.get("items")
        return inputs_in_use(items if isinstance(items, list) else [], name, namespace)

    async def _run_one(self, key: tuple[str, str], _plan: RetentionPlan) -> None:
        namespace, name = key
        async with self._slots:
            cache = self.caches.get(namespace, name)
            if cache is None or self._stop.is_set():
                return
            try:  # the spec as it is now, not as it was when the run was queued
                spec = cache_spec(cache)
            except InvalidCache:
                return
            plan = spec.retention
            if plan is None or not spec.deploy or not registry_ready(cache):
                return
            now = self.clock()
            uid = str((cache.get("metadata") or {}).get("uid") or "")
            where = self._registry_of(namespace, name, spec.auth)
            if isinstance(where, str):
                previous = (cache.get("status") or {}).get("lastRetention")
                last = previous if isinstance(previous, dict) else {}
                # not run: the request stays unanswered, so it is tried again at the next interval or request
                result = RunResult(failed_record(now=now, plan=plan, request=str(last.get("request") or ""),
                                                 error=f"not run: {where}", previous=last or None), 0, 0, True)
            else:
                host, credentials = where
                stop = self._run_stops[key] = threading.Event()
                work = functools.partial(run_against_registry, host, credentials, plan, cache, now, stop=stop,
                                         still_wanted=functools.partial(self._plan_now, namespace, name, plan, uid),
                                         in_use=functools.partial(self._inputs_now, asyncio.get_running_loop(),
                                                                  namespace, name))
                try:
                    result = await asyncio.wait_for(asyncio.shield(in_daemon_thread(work)), RUN_LIMIT + RUN_SLACK)
                except TimeoutError:
                    stop.set()  # the thread, stuck on the registry, starts no delete from now on
                    result = RunResult(failed_record(now=now, plan=plan, request=requested_run(cache),
                                                     error=f"the run took over {RUN_LIMIT / 60:g} min; given up",
                                                     previous=(cache.get("status") or {}).get("lastRetention")),
                                       0, 0, True)
                finally:
                    self._run_stops.pop(key, None)
            await self._record(cache, plan, result)

    async def _record(self, cache: dict[str, Any], plan: RetentionPlan, result: RunResult) -> None:
        metadata = cache["metadata"]
        record = result.record
        # A JSON patch: the record replaces the last one whole, whatever this replica's copy of it
        # is (a merge patch computed from a stale copy would merge two firstSeen maps), and only
        # on this cache, not one of the same name made since (the uid test).
        ops: list[dict[str, Any]] = [{"op": "test", "path": "/metadata/uid", "value": metadata.get("uid")}]
        if not isinstance(cache.get("status"), dict):
            ops.append({"op": "add", "path": "/status", "value": {}})
        ops.append({"op": "add", "path": "/status/lastRetention", "value": record})
        try:
            await self.kube.patch(ORAS_CACHES, metadata["name"], ops, namespace=metadata["namespace"], patch_type="json",
                                  subresource="status")
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
