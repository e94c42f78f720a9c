"""`python -m controller`: one process that serves the webhook on every replica and reconciles
OrasCaches on the one replica that holds the Lease.

    every replica: OrasCache informer ─▶ webhook lookups      /healthz /readyz /metrics
                   webhook (HTTPS)
    the leader:    StatefulSet, Service, Secret informers (ours only, by label) ─┐
                   registry pod and claim informers (by label) ───────────────┤
                   OrasCache changes ──────────────────────────────▶ work queue ─▶ reconcile workers
                   OrasCache changes, labelled Namespace informer ─▶ the namespace label
                   (namespace_labels.py: where the webhook fails closed for owned pods)
                   step pod informer (by the injection's label) ─▶ Events on them (step_events.py)

SIGTERM: the leader stops taking work, finishes the reconciles in flight and gives the Lease up
(the other replica leads at once); the webhook reports not ready, keeps serving for a moment
while the Service drops this replica, then stops.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from dataclasses import dataclass, field
from typing import Any

from kubectl_oras.kube.api import NAMESPACES, ORAS_CACHES, PERSISTENT_VOLUME_CLAIMS, PODS, SECRETS, SERVICES, STATEFUL_SETS, Kube
from kubectl_oras.kube.config import connect
from kubectl_oras.kube.lease import LeaderElection
from kubectl_oras.kube.watch import Informer
from kubectl_oras.pods.injection import STEP_LABEL
from kubectl_oras.tasks import cancel_and_wait

from ..core.cache_objects import MANAGED_SELECTOR, REGISTRY_SELECTOR, owner_of, registry_of
from .cache_directory import CacheDirectory
from .events import EventRecorder
from .health import make_health_app, start_health_server
from .metrics import Metrics
from .namespace_labels import SELECTOR as LABELLED_NAMESPACES
from .namespace_labels import NamespaceLabels
from .reconciler import Reconciler, Stores, run_workers
from .retention import RetentionLoop
from .step_events import StepEvents
from .webhook_process import WebhookSettings, serve_webhook
from .work_queue import WorkQueue

log = logging.getLogger("kubectl_oras.controller")


async def _listed_or_refused(informer: Informer, refused: asyncio.Event) -> None:
    """Until ``informer`` has listed, or was forbidden to (``refused``)."""
    waiting = {asyncio.ensure_future(informer.synced.wait()), asyncio.ensure_future(refused.wait())}
    try:
        await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
    finally:
        await cancel_and_wait(waiting)


@dataclass(frozen=True)
class ControllerSettings:
    webhook: WebhookSettings
    health_host: str = "0.0.0.0"
    health_port: int = 8080
    lease: str = "kubectl-oras-controller"
    identity: str | None = None
    lease_seconds: float = 15
    renew_seconds: float = 10
    retry_seconds: float = 2
    watch_seconds: int = 300
    workers: int = 4
    drain_seconds: float = 3  # after SIGTERM, the webhook keeps serving while endpoints drop us
    reconcile: bool = True
    build_mark: str = ""  # tests only: stands in for another build (cache_objects.statefulset); --build-mark


@dataclass
class Controller:
    """The running parts, for the process and for tests that drive it in one event loop."""

    kube: Kube
    settings: ControllerSettings
    metrics: Metrics = field(default_factory=Metrics)
    queue: WorkQueue[tuple[str, str]] | None = None
    serving: asyncio.Event = field(default_factory=asyncio.Event)
    stopping: bool = False

    def __post_init__(self) -> None:
        s = self.settings
        self.kube.on_request = self.metrics.api_request
        self.caches = Informer(self.kube, ORAS_CACHES, on_change=self._cache_changed, watch_seconds=s.watch_seconds,
                               name=ORAS_CACHES.plural,
                               on_restart=lambda why: self.metrics.watch_restarted(ORAS_CACHES.plural, why))
        self.directory = CacheDirectory(self.caches, self.kube)
        self.election = LeaderElection(self.kube, namespace=s.webhook.namespace, name=s.lease, identity=s.identity,
                                       lease_seconds=s.lease_seconds, renew_seconds=s.renew_seconds,
                                       retry_seconds=s.retry_seconds)
        self.events = EventRecorder(self.kube, instance=self.election.identity)
        self.owned: list[Informer] = []
        self.labels: NamespaceLabels | None = None

    # -- changes ----------------------------------------------------------------------------------

    def _cache_changed(self, kind: str, obj: dict[str, Any]) -> None:
        metadata = obj.get("metadata") or {}
        if self.labels is not None:
            self.labels.changed(kind, obj)
        if self.queue is not None:
            self.queue.add((str(metadata.get("namespace") or ""), str(metadata.get("name"))))
            self.metrics.set_queue_depth(len(self.queue))

    def _owned_changed(self, kind: str, obj: dict[str, Any]) -> None:
        owner = owner_of(obj) or registry_of(obj)
        if owner is not None and self.queue is not None:
            self.queue.add(owner)
            self.metrics.set_queue_depth(len(self.queue))

    def _status_informer_restarted(self, plural: str, refused: asyncio.Event, reason: str) -> None:
        self.metrics.watch_restarted(plural, reason)
        if reason == "forbidden":
            refused.set()

    def _labelled_changed(self, kind: str, obj: dict[str, Any]) -> None:
        if self.labels is not None:
            self.labels.changed(kind, obj)

    def ready(self) -> bool:
        return self.serving.is_set() and not self.stopping

    # -- the leader's work ------------------------------------------------------------------------

    async def lead(self, stepping_down: asyncio.Event) -> None:
        s = self.settings
        self.metrics.set_leader(True)
        queue: WorkQueue[tuple[str, str]] = WorkQueue()
        stop_owned = asyncio.Event()
        self.owned = [Informer(self.kube, resource, label_selector=MANAGED_SELECTOR, on_change=self._owned_changed,
                               watch_seconds=s.watch_seconds, name=resource.plural,
                               on_restart=functools.partial(self.metrics.watch_restarted, resource.plural))
                      for resource in (STATEFUL_SETS, SERVICES, SECRETS)]
        # The registry pods and their claims, for why a registry cannot start (the StatefulSet owns them).
        # A ClusterRole older than the image may not list them: then the status goes without them
        # rather than no cache being reconciled (refused: the list was forbidden).
        refused = {resource.plural: asyncio.Event() for resource in (PODS, PERSISTENT_VOLUME_CLAIMS)}
        self.owned += [Informer(self.kube, resource, label_selector=REGISTRY_SELECTOR, on_change=self._owned_changed,
                                watch_seconds=s.watch_seconds, name=resource.plural,
                                on_restart=functools.partial(self._status_informer_restarted, resource.plural,
                                                             refused[resource.plural]))
                       for resource in (PODS, PERSISTENT_VOLUME_CLAIMS)]
        labelled = Informer(self.kube, NAMESPACES, label_selector=LABELLED_NAMESPACES, on_change=self._labelled_changed,
                            watch_seconds=s.watch_seconds, name=NAMESPACES.plural,
                            on_restart=functools.partial(self.metrics.watch_restarted, NAMESPACES.plural))
        labels = NamespaceLabels(self.kube, caches=self.caches, labelled=labelled, events=self.events)
        step_events = StepEvents(self.events)
        steps = Informer(self.kube, PODS, label_selector=STEP_LABEL, on_change=step_events.changed,
                         watch_seconds=s.watch_seconds, name="step pods",
                         on_restart=functools.partial(self.metrics.watch_restarted, "step-pods"))
        tasks = [asyncio.create_task(informer.run(stop_owned)) for informer in (*self.owned, labelled, steps)]
        reconciler = Reconciler(self.kube, Stores(self.caches, *self.owned), self.events,
                                on_reconcile=self.metrics.reconciled, build_mark=s.build_mark)
        try:
            synced: asyncio.Future[Any] = asyncio.gather(
                self.caches.synced.wait(), *(i.synced.wait() for i in self.owned[:3]),
                *(_listed_or_refused(i, refused[i.resource.plural]) for i in self.owned[3:]))
            stopped: asyncio.Future[Any] = asyncio.ensure_future(stepping_down.wait())
            await asyncio.wait({synced, stopped}, return_when=asyncio.FIRST_COMPLETED)
            await cancel_and_wait([stopped])
            if stepping_down.is_set():
                await cancel_and_wait([synced])
                return
            log.info("leading: %d caches to reconcile", len(self.caches.store))
            self.queue = queue
            for namespace, name in list(self.caches.store):
                queue.add((namespace, name))
            self.metrics.set_queue_depth(len(queue))
            retention = RetentionLoop(self.kube, self.caches, self.owned[1], self.owned[2], self.events,
                                      on_run=self.metrics.retention_ran)
            self.labels = labels
            loops = [asyncio.create_task(retention.run(stepping_down)),
                     asyncio.create_task(labels.run(stepping_down, after=labelled.synced)),
                     asyncio.create_task(step_events.run(stepping_down))]
            try:
                await run_workers(reconciler, queue, stepping_down, workers=s.workers)
            finally:
                await cancel_and_wait(loops)
        finally:
            self.labels = None
            self.queue = None
            queue.close()
            stop_owned.set()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.metrics.set_leader(False)
            self.metrics.set_queue_depth(0)

    # -- the process ------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event) -> None:
        s = self.settings
        health = await start_health_server(make_health_app(
            metrics=self.metrics, ready={"webhook": self.serving.is_set, "running": lambda: not self.stopping}),
                                           host=s.health_host, port=s.health_port)
        stop_caches, stop_webhook = asyncio.Event(), asyncio.Event()
        caches = asyncio.create_task(self.caches.run(stop_caches))
        webhook = asyncio.create_task(serve_webhook(self.kube, s.webhook, stop=stop_webhook,
                                                    lookup_cache=self.directory.lookup,
                                                    holds_cache=self.directory.holds_cache,
                                                    observe=self.metrics.webhook_answered, serving=self.serving))
        election = asyncio.create_task(self.election.run(self.lead, stop)) if s.reconcile else None
        try:
            watched = {asyncio.ensure_future(stop.wait()), webhook} | ({election} if election else set())
            done, _ = await asyncio.wait(watched, return_when=asyncio.FIRST_COMPLETED)
            for task in done:
                if task is not webhook and task is not election:
                    continue
                if task.exception() is not None:
                    raise task.exception()  # type: ignore[misc]
            self.stopping = True  # /readyz fails from here: the Service stops sending us reviews
            if election is not None:
                await election  # the reconciles in flight finish, the Lease is given up
            await asyncio.sleep(s.drain_seconds if not webhook.done() else 0)
        finally:
            self.stopping = True
            stop_webhook.set()
            stop_caches.set()
            for task in (webhook, caches):
                try:
                    await asyncio.wait_for(task, 10)
                except Exception as e:  # already reported, or cut short
                    log.debug("stopping: %s", e)
            if election is not None:
                # already raised above, or cut short; a leader's work that ignores the cancel holds
                # the exit up no longer than the webhook's and the caches' stop
                for error in await cancel_and_wait([election], timeout=10):
                    log.debug("stopping: %s", error)
            await health.cleanup()


async def serve(settings: ControllerSettings, *, stop: asyncio.Event, kubeconfig: str | None = None) -> None:
    async with await connect(kubeconfig=kubeconfig) as kube:
        await Controller(kube, settings).run(stop)
