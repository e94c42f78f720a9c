"""The leader keeps cache_namespaces.LABEL on exactly the namespaces that hold an OrasCache.

Driven by two informers: every OrasCache (the webhook's) and the namespaces that carry the label
(a watch by label selector, so a label someone takes off shows as the namespace going, and is put
back). Each change wakes one loop that patches what differs; a failure is retried after a
back-off. Nothing is written before both informers have listed: an empty store would take the
label off every namespace (the leader starts this once the caches are listed; ``run`` waits for
the namespaces). A namespace keeps its label while no leader runs (the webhook stays
fail-closed there), and loses it when the leader sees its last cache gone.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from kubectl_oras.backoff import Backoff
from kubectl_oras.kube.api import NAMESPACES, Kube
from kubectl_oras.kube.errors import KubeError, ObjectNotFound
from kubectl_oras.kube.watch import InformerStore
from kubectl_oras.tasks import cancel_and_wait

from ..core.cache_namespaces import LABEL, label_changes, label_patch, refusal_notice
from .events import EventRecorder

log = logging.getLogger("kubectl_oras.controller")
SELECTOR = LABEL  # every namespace that carries the label, whatever its value
# 0.5 s doubling to a minute, each wait stretched by up to half again at random (never past the minute).
LABEL_BACKOFF = Backoff(base=0.5, cap=60.0, jitter=(1.0, 1.5))


class NamespaceLabels:
    def __init__(self, kube: Kube, *, caches: InformerStore, labelled: InformerStore, events: EventRecorder,
                 backoff: Backoff | None = None) -> None:
        self.kube, self.caches, self.labelled, self.events = kube, caches, labelled, events
        self.backoff = backoff or LABEL_BACKOFF
        self.wake = asyncio.Event()

    def changed(self, kind: str, obj: dict[str, Any]) -> None:
        """An informer's on_change: look again."""
        self.wake.set()

    async def run(self, stop: asyncio.Event, *, after: asyncio.Event | None = None) -> None:
        """Until ``stop``: make the labels right once ``after`` is set (the namespace informer has
        listed), then after every change. Waiting here, not before reconciling: a controller that
        may not list namespaces (its ClusterRole older than its image) still reconciles caches."""
        if after is not None:
            await after.wait()
        failures = 0
        while not stop.is_set():
            self.wake.clear()
            try:
                await self.sync()
                failures = 0
                delay = None
            except KubeError as e:
                failures += 1
                delay = self.backoff.delay(failures)
                log.warning("cannot label the namespaces that hold an OrasCache (again in %.1f s): %s", delay, e)
            waiting = {asyncio.ensure_future(stop.wait()), asyncio.ensure_future(self.wake.wait())}
            try:
                await asyncio.wait(waiting, timeout=delay, return_when=asyncio.FIRST_COMPLETED)
            finally:
                await cancel_and_wait(waiting)

    async def sync(self) -> None:
        holding = {ns for ns, _ in self.caches.store}
        labelled = {name for _, name in self.labelled.store}
        for namespace, on in label_changes(holding=holding, labelled=labelled).items():
            try:
                await self.kube.patch(NAMESPACES, namespace, label_patch(on), patch_type="merge")
            except ObjectNotFound:  # going with its caches
                continue
            if on:
                log.info("namespace %s: labelled %s (it holds an OrasCache)", namespace, LABEL)
                first = min((name for ns, name in self.caches.store if ns == namespace), default=None)
                cache = self.caches.store.get((namespace, first)) if first is not None else None
                if cache is not None:
                    await self.events.emit(cache, "Normal", "WebhookRequired", refusal_notice(namespace))
            else:
                log.info("namespace %s: label %s taken off (it holds no OrasCache)", namespace, LABEL)
