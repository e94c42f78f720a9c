"""Run `python -m controller webhook` as a process with only its ServiceAccount's RBAC, registered
in the test apiserver by URL (in a cluster the configuration names the Service instead)."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from controller.core.webhook_configuration import webhook_configuration
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
