"""Tier 2: `python -m controller webhook` as a process with only its ServiceAccount's RBAC:
it makes its certificate, publishes the CA, and the apiserver then calls it for marked pods."""

import time

import pytest

from kubectl_oras.pods.annotations import PREFIX
from tests.cluster.apply import new_namespace
from tests.webhook.process import NS, webhook_process


@pytest.fixture(scope="module")
def webhook(control_plane, tmp_path_factory):
    log = tmp_path_factory.mktemp("webhook") / "webhook.log"
    with webhook_process(control_plane, log, agent_image="kubectl-oras:test") as proc:
        yield proc, log


def test_the_webhook_process_serves_with_its_own_certificate_and_rbac(control_plane, webhook):
    proc, log = webhook
    session = control_plane.session()
    ns = new_namespace(control_plane, "t")
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
