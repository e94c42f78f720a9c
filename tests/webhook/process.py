"""Run `python -m controller` (or its `webhook` part alone) as a process with only its
ServiceAccount's RBAC, registered in the test apiserver by URL (in a cluster the configuration
names the Service instead)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from controller.core.webhook_configuration import webhook_configuration
from localcluster.processes import die_with_parent
from tests.cluster.apply import apply, apply_file, delete_configuration
from tests.support.net import free_port, wait_listening

REPO = Path(__file__).resolve().parents[2]
NS = "kubectl-oras-system"


def install_identity(control_plane, *rbac_files: str) -> Path:
    """Our namespace and ServiceAccount with the RBAC from manifests/; a kubeconfig for it."""
    apply(control_plane, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    apply(control_plane, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "kubectl-oras", "namespace": NS}})
    for name in rbac_files:
        apply_file(control_plane, REPO / "manifests" / name)
    return control_plane.kubeconfig_for_service_account(NS, "kubectl-oras")


@contextmanager
def webhook_process(control_plane, log: Path, *, agent_image: str) -> Iterator[subprocess.Popen]:
    kubeconfig = install_identity(control_plane, "rbac-webhook.yaml", "rbac-certs.yaml")
    port = free_port()
    delete_configuration(control_plane, "kubectl-oras")  # one an install left (service, not url) would merge with ours
    apply(control_plane, webhook_configuration(name="kubectl-oras", own_namespace=NS, ca_bundle="",
                                               url=f"https://127.0.0.1:{port}/mutate"))
    env = dict(os.environ, KUBECTL_ORAS_NAMESPACE=NS, KUBECTL_ORAS_IMAGE=agent_image)
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller", "webhook", "--listen", f"127.0.0.1:{port}", "--host", "127.0.0.1",
         "--kubeconfig", str(kubeconfig)],
        cwd=REPO, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        wait_listening("127.0.0.1", port, proc=proc, timeout=30)
        yield proc
    finally:
        proc.terminate()
        proc.wait(10)
        delete_configuration(control_plane, "kubectl-oras")


CONTROLLER_RBAC = ("rbac-webhook.yaml", "rbac-certs.yaml", "rbac-controller.yaml")


def install_controller(control_plane) -> Path:
    """The CRD and the controller's identity with every Role in manifests/; its kubeconfig."""
    apply_file(control_plane, REPO / "manifests" / "crd-orascache.yaml")
    return install_identity(control_plane, *CONTROLLER_RBAC)


@dataclass
class Replica:
    """One controller process: its webhook at ``webhook_port``, its /metrics at ``health``."""

    proc: subprocess.Popen
    identity: str
    webhook_port: int
    health: str
    log: Path

    def metrics(self) -> str:
        import requests

        return requests.get(f"{self.health}/metrics", timeout=5).text

    def metric(self, name: str) -> float:
        from prometheus_client.parser import text_string_to_metric_families

        total = 0.0
        for family in text_string_to_metric_families(self.metrics()):
            for sample in family.samples:
                if sample.name == name:
                    total += sample.value
        return total


def start_replica(kubeconfig: Path, log: Path, *, agent_image: str, identity: str, webhook_port: int | None = None,
                  extra: tuple[str, ...] = ()) -> Replica:
    port, health = webhook_port or free_port(), free_port()
    env = dict(os.environ, KUBECTL_ORAS_NAMESPACE=NS, KUBECTL_ORAS_IMAGE=agent_image)
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller", "run", "--listen", f"127.0.0.1:{port}", "--host", "127.0.0.1",
         "--health", f"127.0.0.1:{health}", "--kubeconfig", str(kubeconfig), "--drain-seconds", "0",
         "--identity", identity, *extra],
        cwd=REPO, env=env, stdout=open(log, "ab"), stderr=subprocess.STDOUT, preexec_fn=die_with_parent)
    wait_listening("127.0.0.1", health, proc=proc, timeout=30)
    return Replica(proc, identity, port, f"http://127.0.0.1:{health}", log)


def leading_replica(control_plane, kubeconfig: Path, log: Path, *, identity: str = "replica-a",
                    extra: tuple[str, ...] = ()) -> Replica:
    """A controller process, once it holds the Lease (the first one does at once)."""
    from tests.cluster.apply import wait_for

    replica = start_replica(kubeconfig, log, agent_image="kubectl-oras:test", identity=identity, extra=extra)
    wait_for(control_plane, f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/kubectl-oras-controller",
             lambda lease: lease["spec"].get("holderIdentity") == identity, timeout=30)
    return replica


def stop_replica(replica: Replica, *, kill: bool = False) -> int:
    if replica.proc.poll() is None:
        (replica.proc.kill if kill else replica.proc.terminate)()
    return replica.proc.wait(30)


@contextmanager
def controller_process(control_plane, log: Path, *, agent_image: str, identity: str = "replica-a",
                       extra: tuple[str, ...] = ()) -> Iterator[Replica]:
    """The whole controller (webhook + reconciler), called by the apiserver for annotated pods."""
    kubeconfig = install_controller(control_plane)
    port = free_port()
    delete_configuration(control_plane, "kubectl-oras")  # one an install left (service, not url) would merge with ours
    apply(control_plane, webhook_configuration(name="kubectl-oras", own_namespace=NS, ca_bundle="",
                                               url=f"https://127.0.0.1:{port}/mutate"))
    replica = start_replica(kubeconfig, log, agent_image=agent_image, identity=identity, webhook_port=port, extra=extra)
    try:
        wait_listening("127.0.0.1", port, proc=replica.proc, timeout=30)
        yield replica
    finally:
        stop_replica(replica)
        delete_configuration(control_plane, "kubectl-oras")
