"""A cache's registry, opened from this machine: find the cache, check that it is Ready, read its
credentials from its auth Secret, and forward a local port to its registry pod (kube/portforward).

The transfer engine is then pointed at ``127.0.0.1:PORT`` with those credentials and never knows
it goes through a tunnel. Nothing here prints or logs the password.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TypeVar

from ..kube.portforward import PortForward
from .caches import CacheEndpoint, cache_endpoint

T = TypeVar("T")

DEFAULT_CACHE = "oras"


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


def run_coroutine(make: Callable[[], Awaitable[T]]) -> T:
    """Run a coroutine to its end from synchronous code, also when the calling thread already runs
    an event loop (a notebook): then in a thread of its own."""
    async def main() -> T:
        return await make()

    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(main())
    with concurrent.futures.ThreadPoolExecutor(1) as pool:
        return pool.submit(asyncio.run, main()).result()


async def find_endpoint(*, cache: str, namespace: str | None, kubeconfig: str | None,
                        context: str | None) -> CacheEndpoint:
    from ..kube.config import connect

    async with await connect(kubeconfig=kubeconfig, context=context, namespace=namespace) as kube:
        return await cache_endpoint(kube, kube.namespace, cache)


@contextmanager
def open_cache_registry(*, cache: str = DEFAULT_CACHE, namespace: str | None = None, kubeconfig: str | None = None,
                        context: str | None = None) -> Iterator[CacheRegistry]:
    """The cache's registry through a port-forward, for the ``with`` block; one clear error when
    there is no cluster, no such cache, it is not Ready, or the port-forward is refused."""
    endpoint = run_coroutine(lambda: find_endpoint(cache=cache, namespace=namespace, kubeconfig=kubeconfig,
                                                   context=context))
    with PortForward(namespace=endpoint.namespace, service=endpoint.service, port=endpoint.port,
                     kubeconfig=kubeconfig, context=context) as forward:
        yield CacheRegistry(endpoint, forward)
