"""An apiserver that cannot be reached is said once, in ``Kube.unreachable``, for every kind of
request the project makes: a call, a watch, and a port-forward's websocket. Tier 1: a real
loopback port where nothing listens, so each path meets the connection refused for real.
"""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration

from kubectl_oras.kube.api import PODS, Kube
from kubectl_oras.kube.errors import ClusterUnreachable
from kubectl_oras.kube.portforward import ForwardTo, Tunnel
from kubectl_oras.kube.watch import watch


@pytest.fixture
def nowhere() -> str:
    """A loopback URL where nothing listens (the port is bound, never listened on: refused)."""
    with socket.socket() as held:
        held.bind(("127.0.0.1", 0))
        yield f"http://127.0.0.1:{held.getsockname()[1]}"


class SaysWhichPath(Kube):
    """A Kube whose one mapping marks its errors, so a path that maps on its own shows."""

    def unreachable(self, what: str, error: BaseException) -> ClusterUnreachable:
        return ClusterUnreachable(f"through the one mapping: {what}")


async def a_call(kube: Kube) -> None:
    await kube.get(PODS, "oras-0", namespace="lab")


async def a_watch(kube: Kube) -> None:
    events: AsyncIterator[object] = watch(kube, PODS, namespace="lab", resource_version="1", timeout_seconds=5)
    async for _ in events:
        pass


async def a_websocket(kube: Kube) -> None:
    await Tunnel(kube, ForwardTo("lab", 5000, pod="oras-0")).open("oras-0", 5000)


PATHS = {"get pods lab/oras-0": a_call, "watch pods in lab": a_watch, "port-forward to pod lab/oras-0": a_websocket}


@pytest.mark.parametrize("what", PATHS)
async def test_an_unreachable_apiserver_is_one_line_naming_it_for_a_call_a_watch_and_a_websocket(nowhere, what):
    async with Kube(ApiClient(Configuration(host=nowhere))) as kube:
        with pytest.raises(ClusterUnreachable) as caught:
            await PATHS[what](kube)
    line = str(caught.value)
    assert line.startswith(f"{what}: cannot reach the Kubernetes API at {nowhere}: "), line
    assert "\n" not in line


@pytest.mark.parametrize("what", PATHS)
async def test_every_path_says_it_through_the_one_mapping(nowhere, what):
    async with SaysWhichPath(ApiClient(Configuration(host=nowhere))) as kube:
        with pytest.raises(ClusterUnreachable) as caught:
            await PATHS[what](kube)
    assert str(caught.value) == f"through the one mapping: {what}"
