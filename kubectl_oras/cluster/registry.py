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
from ..pods.annotations import DEFAULT_CACHE
from .caches import CacheEndpoint, cache_endpoint


@dataclass(frozen=True)
class CacheRegistry:
    """An open way to one cache's registry: ``address`` is the local end of the port-forward."""

    endpoint: CacheEndpoint
    forward: PortForward

    @property
    def address(self) -> str:
        return self.forward.address

    @property
    def name(self) -> str:
        """How messages name it: ``cache lab/oras``."""
        return f"cache {self.endpoint.namespace}/{self.endpoint.name}"

    def explain(self, message: str) -> str:
        """``message`` about the local address, said about the cache (``metric/x:v1``, not
        ``127.0.0.1:PORT/metric/x:v1``), with what the tunnel saw."""
        said = message.replace(self.address + "/", "")
        text = said.replace(self.address, self.name)
        if text != message:
            text += "" if self.name in text else f" ({self.name})"
        failure = self.forward.last_error
        if failure and failure not in text:
            text += f" (port-forward: {failure})"
        return text


@contextmanager
def open_cache_registry(*, cache: str = DEFAULT_CACHE, namespace: str | None = None, kubeconfig: str | None = None,
                        context: str | None = None) -> Iterator[CacheRegistry]:
    """The cache's registry through a port-forward, for the ``with`` block; one clear error when
    there is no cluster, no such cache, it is not Ready, or the port-forward is refused. One
    connection to the cluster serves the lookup and the tunnel (in the tunnel's own thread, so
    this works from a thread that runs an event loop, as a notebook's does)."""
    from ..kube.config import connect

    found: list[CacheEndpoint] = []

    async def target(kube: Kube) -> ForwardTo:
        endpoint = await cache_endpoint(kube, kube.namespace, cache)
        found.append(endpoint)
        return ForwardTo(endpoint.namespace, endpoint.port, service=endpoint.service)

    with PortForward(connect=lambda: connect(kubeconfig=kubeconfig, context=context, namespace=namespace),
                     target=target) as forward:
        yield CacheRegistry(found[0], forward)
