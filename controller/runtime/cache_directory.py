"""The webhook's way to a pod's OrasCache: the informer's copy when it has one, else one GET (a
cache created a moment before the pod may not have reached the watch yet)."""

from __future__ import annotations

from kubectl_oras.kube.api import ORAS_CACHES, Kube
from kubectl_oras.kube.errors import ObjectNotFound
from kubectl_oras.kube.watch import InformerStore
from kubectl_oras.pods.caches import CacheView

from ..core.cache_spec import cache_view

LOOKUP_TIMEOUT = 3.0  # the apiserver waits 10 s at most for the whole review


class CacheDirectory:
    def __init__(self, store: InformerStore, kube: Kube, *, timeout: float = LOOKUP_TIMEOUT) -> None:
        self.store, self.kube, self.timeout = store, kube, timeout
        self.gets = 0  # lookups the informer could not answer

    async def lookup(self, namespace: str, name: str) -> CacheView:
        obj = self.store.get(namespace, name)
        if obj is None:
            self.gets += 1
            try:
                obj = await self.kube.get(ORAS_CACHES, name, namespace=namespace, timeout=self.timeout)
            except ObjectNotFound:
                obj = None
        return cache_view(obj, name)

    def holds_cache(self, namespace: str) -> bool:
        """Whether the informer has an OrasCache in ``namespace`` (where the webhook fails closed)."""
        return any(ns == namespace for ns, _ in self.store.store)
