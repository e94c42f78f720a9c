"""Tier 2: `python -m controller webhook` as a process with only its ServiceAccount's RBAC:
it makes its certificate, publishes the CA, and the apiserver then calls it for marked pods."""

import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from controller.webhook_config import webhook_configuration
from kubectl_oras.annotations import PREFIX
from tests.cluster.apply import apply, apply_file, delete_configuration
from tests.support.net import free_port, wait_listening

REPO = Path(__file__).resolve().parents[2]
NS = "kubectl-oras-system"


@pytest.fixture(scope="module")
def webhook_process(control_plane, tmp_path_factory):
    apply(control_plane, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}})
    apply(control_plane, {"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "kubectl-oras", "namespace": NS}})
    for name in ("rbac-webhook.yaml", "rbac-certs.yaml"):
        apply_file(control_plane, REPO / "manifests" / name)
    port = free_port()
    # In a cluster the configuration names the Service; here the apiserver dials loopback.
    apply(control_plane, webhook_configuration(name="kubectl-oras", own_namespace=NS, ca_bundle="",
                                               url=f"https://127.0.0.1:{port}/mutate"))
    log = tmp_path_factory.mktemp("webhook") / "webhook.log"
    env = dict(os.environ, KUBECTL_ORAS_NAMESPACE=NS, KUBECTL_ORAS_IMAGE="kubectl-oras:test")
    proc = subprocess.Popen(
        [sys.executable, "-m", "controller", "webhook", "--listen", f"127.0.0.1:{port}", "--host", "127.0.0.1",
         "--kubeconfig", str(control_plane.kubeconfig_for_service_account(NS, "kubectl-oras"))],
        cwd=REPO, env=env, stdout=open(log, "wb"), stderr=subprocess.STDOUT)
    try:
        wait_listening("127.0.0.1", port, proc=proc, timeout=30)
        yield proc, log
    finally:
        proc.terminate()
        proc.wait(10)
        delete_configuration(control_plane, "kubectl-oras")


def test_the_webhook_process_serves_with_its_own_certificate_and_rbac(control_plane, webhook_process):
    proc, log = webhook_process
    session = control_plane.session()
    ns = f"t-{uuid.uuid4().hex[:8]}"
    apply(control_plane, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"annotations": {PREFIX + "output-uri": "m/o:v1",
                                                                           PREFIX + "output-path": "o"}},
           "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}
    injected = None
    for i in range(100):  # until the CA is published and the apiserver trusts us
        pod["metadata"]["name"] = f"p{i}"
        r = session.post(f"{control_plane.server}/api/v1/namespaces/{ns}/pods", json=pod)
        if r.status_code == 201 and r.json()["spec"].get("initContainers"):
            injected = r.json()
            break
        time.sleep(0.2)
    assert injected, f"never injected; last answer {r.status_code}: {r.text}\n{log.read_text()[-2000:]}"
    assert proc.poll() is None
    secret = session.get(f"{control_plane.server}/api/v1/namespaces/{NS}/secrets/kubectl-oras-webhook-tls").json()
    assert set(secret["data"]) == {"ca.crt", "tls.crt", "tls.key"}
    assert "Traceback" not in log.read_text()
