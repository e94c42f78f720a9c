"""The port-forward tunnel (kubectl_oras/kube/portforward.py) against a double of the apiserver and
kubelet on loopback (tests/support/kubelet_double.py), for faults a real cluster cannot be made to
do on cue. Tier 1, beside the CLI's tests: the tunnel is how the CLI reaches a cache's registry, and
the round trip here goes to a real registry process with the engine. tests/e2e/test_portforward.py
is the evidence against the real apiserver, kubelet and containerd.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
from kubernetes_asyncio.client import ApiClient, Configuration

from kubectl_oras.kube import portforward
from kubectl_oras.kube.api import Kube
from kubectl_oras.kube.errors import Forbidden, NoReadyPod, ObjectNotFound, PortForwardError
from kubectl_oras.kube.portforward import PortForward
from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from tests.support.kubelet_double import KubeletDouble, TcpBackend, pod, running, service
from tests.support.net import free_port


@pytest.fixture
def double():
    with running(KubeletDouble(services={"oras": service()}, pods={"oras-0": pod("oras-0")})) as d:
        yield d


def forward(double: KubeletDouble, **kw) -> PortForward:
    tokens = iter(range(1000))

    async def connect() -> Kube:
        configuration = Configuration(host=double.url)
        configuration.api_key = {"BearerToken": "t"}
        configuration.api_key_prefix = {"BearerToken": "Bearer"}

        def refresh(c: Configuration) -> None:  # as kubernetes-asyncio's exec-plugin loader sets one
            c.api_key["BearerToken"] = f"t{next(tokens)}"

        configuration.refresh_api_key_hook = refresh
        return Kube(ApiClient(configuration), namespace="lab")

    kw.setdefault("service", "oras")
    return PortForward(namespace="lab", port=kw.pop("port", 5000), connect=connect, **kw)


def connect_to(pf: PortForward) -> socket.socket:
    host, port = pf.address.split(":")
    return socket.create_connection((host, int(port)), timeout=10)


def echo(pf: PortForward, data: bytes) -> bytes:
    with connect_to(pf) as s:
        got = bytearray()
        sender = threading.Thread(target=s.sendall, args=(data,))
        sender.start()
        while len(got) < len(data):
            chunk = s.recv(1 << 20)
            if not chunk:
                break
            got += chunk
        sender.join()
        return bytes(got)


def test_an_artifact_round_trips_through_the_tunnel_to_a_real_registry(double, any_registry, tmp_path):
    double.backends["oras-0"] = tuple(any_registry.host.rsplit(":", 1)[0:1]) + (int(any_registry.host.rsplit(":", 1)[1]),)
    data = os.urandom(5 << 20)
    (tmp_path / "blob.bin").write_bytes(data)
    with forward(double) as pf:
        assert pf.address.startswith("127.0.0.1:")
        client = RegistryClient(pf.address, plain_http=True, retries=2)
        ref = Reference(pf.address, "pf/round-trip", "v1")
        push_artifact(client, ref, [str(tmp_path / "blob.bin")])
        pull_artifact(client, ref, str(tmp_path / "out"))
        assert pf.last_error is None
    assert hashlib.sha256((tmp_path / "out" / "blob.bin").read_bytes()).digest() == hashlib.sha256(data).digest()
    assert all(u.protocols == "v4.channel.k8s.io" and u.port == 5000 and u.pod == "oras-0" for u in double.upgrades)
    tokens = [u.authorization for u in double.upgrades]
    assert tokens[0].startswith("Bearer t") and len(set(tokens)) == len(tokens), "the refresh hook runs per upgrade"


def test_rbac_refusal_of_the_upgrade_is_one_line_naming_verb_resource_and_namespace(double):
    double.forbid = True
    with pytest.raises(Forbidden) as caught:
        forward(double).start()
    line = str(caught.value)
    assert "\n" not in line
    assert line.startswith("port-forward to pod lab/oras-0 port 5000: you cannot create pods/portforward in namespace lab")
    assert 'User "alice" cannot create resource "pods/portforward"' in line


def test_a_refused_port_is_reported_at_start_with_the_kubelets_words(double):
    double.backends["oras-0"] = ("127.0.0.1", free_port())  # nothing listens there
    with pytest.raises(PortForwardError, match=r"an error occurred forwarding 5000 -> 5000: .*connect"):
        forward(double).start()


def test_an_error_channel_message_is_the_error(double):
    double.error_text = "an error occurred forwarding 5000 -> 5000: failed to find sandbox"
    with pytest.raises(PortForwardError, match="port-forward to pod lab/oras-0 port 5000: an error occurred "
                                               "forwarding 5000 -> 5000: failed to find sandbox$"):
        forward(double).start()


def test_a_kubelet_that_never_sends_the_port_header_fails_the_probe(double, monkeypatch):
    monkeypatch.setattr(portforward, "PROBE_TIMEOUT", 0.5)
    double.no_header = True
    with pytest.raises(PortForwardError, match="sent nothing for 0.5 s before the port header"):
        forward(double).start()


def test_no_ready_pod_says_what_each_pod_is_doing(double):
    double.pods = {"oras-0": pod("oras-0", phase="Pending", ready=False), "oras-1": pod("oras-1", ready=False)}
    with pytest.raises(NoReadyPod, match=r"no ready pod behind service lab/oras: oras-0 Pending, oras-1 Running not ready"):
        forward(double, wait_ready=0.3).start()


def test_a_missing_service_and_a_missing_pod_are_named(double):
    with pytest.raises(ObjectNotFound, match='services "nowhere" not found'):
        forward(double, service="nowhere").start()
    with pytest.raises(ObjectNotFound, match='pods "gone" not found'):
        forward(double, service=None, pod="gone").start()


def test_bytes_pass_both_ways_on_many_connections_at_once(double):
    backend = TcpBackend("echo")
    double.backends["oras-0"] = backend.address
    blobs = [os.urandom((1 << 20) + i) for i in range(40)]
    with forward(double) as pf, ThreadPoolExecutor(40) as pool:
        results = list(pool.map(lambda b: echo(pf, b), blobs))
        assert pf.tunnel is not None and pf.tunnel.connections == 40
    assert all(r == b for r, b in zip(results, blobs, strict=True))


def test_a_slow_reader_holds_the_pod_back(double):
    """Backpressure: the tunnel reads the websocket only as fast as the local side takes it."""
    backend = TcpBackend("source", size=1 << 30)
    double.backends["oras-0"] = backend.address
    with forward(double) as pf, connect_to(pf) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
        got = 0
        while got < 1 << 20:
            got += len(s.recv(1 << 16))
        time.sleep(2)
        held = backend.sent
        time.sleep(1)
        # it stops: what left the pod is what the sockets' buffers on the way hold (the kernel's
        # autotuning makes those tens of MiB on loopback), not the 1 GiB on offer
        assert backend.sent == held, "the pod kept sending to a reader that does not read"
        assert held - got < 256 << 20, f"{(held - got) >> 20} MiB in flight"
        got += len(s.recv(1 << 16))  # and it still flows
    backend.close()


def test_a_stream_dropped_mid_transfer_fails_that_connection_only_and_the_engine_resumes(double, any_registry, tmp_path):
    host, port = any_registry.host.rsplit(":", 1)
    double.backends["oras-0"] = (host, int(port))
    data = os.urandom(8 << 20)
    (tmp_path / "blob.bin").write_bytes(data)
    with forward(double) as pf:
        client = RegistryClient(pf.address, plain_http=True, retries=4)
        ref = Reference(pf.address, "pf/dropped", "v1")
        push_artifact(client, ref, [str(tmp_path / "blob.bin")])
        double.drop_after, double.drops = 2 << 20, 1
        pull_artifact(client, ref, str(tmp_path / "out"))
        assert double.drops == 0, "the drop happened"
        assert pf.last_error and "port-forward to pod lab/oras-0" in pf.last_error
    assert (tmp_path / "out" / "blob.bin").read_bytes() == data


def test_a_pod_gone_is_replaced_by_the_services_new_ready_pod(double):
    backend = TcpBackend("echo")
    double.backends.update({"oras-0": backend.address, "oras-1": backend.address})
    with forward(double, wait_ready=5) as pf:
        assert echo(pf, b"before") == b"before"
        del double.pods["oras-0"]
        double.pods["oras-1"] = pod("oras-1", created="2026-01-02T00:00:00Z")
        assert echo(pf, b"after") == b"after"
        assert pf.tunnel is not None and pf.tunnel.target == ("oras-1", 5000) and pf.tunnel.reconnects >= 1
        assert 'pods "oras-0" not found' in (pf.last_error or "")
    assert [u.pod for u in double.upgrades][-1] == "oras-1"
