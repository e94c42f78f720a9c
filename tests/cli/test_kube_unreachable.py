"""An apiserver that cannot be reached is said once, in ``Kube.unreachable``, for every kind of
request the project makes: a call, a watch, and a port-forward's websocket. Tier 1: a real
loopback port where nothing listens, so each path meets the connection refused for real.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
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



def a_kubeconfig(path, server: str):
    """A kubeconfig of one cluster at ``server``, and a user without credentials of its own."""
    import yaml

    path.write_text(yaml.safe_dump({
        "apiVersion": "v1", "kind": "Config", "current-context": "dev",
        "clusters": [{"name": "one", "cluster": {"server": server}}],
        "users": [{"name": "alice", "user": {}}],
        "contexts": [{"name": "dev", "context": {"cluster": "one", "user": "alice", "namespace": "lab"}}]}))
    return path


@pytest.mark.parametrize("given", ["--server", "kubeconfig", "--server, refused"])
def test_a_servers_user_and_password_appear_in_no_output(nowhere, tmp_path, given):
    # `--server https://u:secret@127.0.0.1:1` said the password in kube.unreachable's line
    with_secret = nowhere.replace("http://", "http://jane:s3cr3t@")
    server = {"--server": with_secret, "kubeconfig": nowhere, "--server, refused": "ftp://jane:s3cr3t@127.0.0.1:1"}[given]
    config = a_kubeconfig(tmp_path / "config", with_secret if given == "kubeconfig" else nowhere)
    flags = ["--server", server] if given != "kubeconfig" else []
    done = subprocess.run([sys.executable, "-m", "kubectl_oras", "-v", "6", *flags, "status"], capture_output=True,
                          text=True, timeout=60, env=dict(os.environ, KUBECONFIG=str(config)))
    said = done.stdout + done.stderr
    assert done.returncode == 1, said
    assert "s3cr3t" not in said and "jane" not in said, said
    if given == "--server, refused":
        assert said.strip() == "error: --server ftp://127.0.0.1:1: give an https:// (or http://) URL"
    else:
        assert f"cannot reach the Kubernetes API at {nowhere}: " in said, said
        assert f"GET {nowhere}/apis/" in said, said  # the -v 6 request log, said too
