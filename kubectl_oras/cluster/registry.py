"""A cache's registry, opened from this machine: find the cache, check that it is Ready, read its
credentials from its auth Secret, and forward a local port to its registry pod (kube/portforward).

The transfer engine is then pointed at ``127.0.0.1:PORT`` with those credentials and never knows
it goes through a tunnel. Nothing here prints or logs the password.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

from ..kube.api import Kube
from ..kube.portforward import ForwardTo, PortForward
from ..orascache import DEFAULT_CACHE
from .caches import CacheEndpoint, cache_endpoint


@dataclass(frozen=True)
class CacheRegistry:
    """An open way to one cache's registry: ``address`` is the local end of the port-forward, where
    the engine connects; ``name`` is how every message says it."""

    endpoint: CacheEndpoint
    forward: PortForward[CacheEndpoint]

    @property
    def address(self) -> str:
        return self.forward.address

    @property
    def name(self) -> str:
        """How messages name it: ``cache lab/oras``."""
        return f"cache {self.endpoint.namespace}/{self.endpoint.name}"

    @property
    def tunnel_failure(self) -> str | None:
        """What the port-forward last saw go wrong (the kubelet's error, a pod gone), if anything."""
        return self.forward.last_error


@contextmanager
def open_cache_registry(*, cache: str = DEFAULT_CACHE, namespace: str | None = None, kubeconfig: str | None = None,
                        context: str | None = None) -> Iterator[CacheRegistry]:
    """The cache's registry through a port-forward, for the ``with`` block; one clear error when
    there is no cluster, no such cache, it is not Ready, or the port-forward is refused. One
    connection to the cluster serves the lookup and the tunnel (in the tunnel's own thread, so
    this works from a thread that runs an event loop, as a notebook's does)."""
    from ..kube.config import connect

    async def target(kube: Kube) -> tuple[ForwardTo, CacheEndpoint]:
        endpoint = await cache_endpoint(kube, kube.namespace, cache)
        return ForwardTo(endpoint.namespace, endpoint.port, service=endpoint.service), endpoint

    forward: PortForward[CacheEndpoint] = PortForward(
        connect=lambda: connect(kubeconfig=kubeconfig, context=context, namespace=namespace), target=target)
    with forward:
        assert forward.found is not None
        yield CacheRegistry(forward.found, forward)
