"""Tier 2: the controller after a forced watch expiry. Its process is frozen (SIGSTOP) while a
Service it made is deleted and a cache is created, and the apiserver restarts meanwhile: its
watch cache then holds nothing as old as the controller's resourceVersions, so every watch the
controller starts again is answered 410 Gone, as a real long partition would be. It must list
again and act on what it missed."""

from __future__ import annotations

import os
import signal

import pytest

from tests.cluster.apply import apply, wait_for
from tests.cluster.controlplane import ControlPlane
from tests.cluster.test_orascache_controller import FAST, cache_path, orascache, settled
from tests.webhook.process import NS, install_controller, start_replica, stop_replica


@pytest.fixture(scope="module")
def own_control_plane():
    """etcd + kube-apiserver (+ controller manager) of this module's own: its apiserver is restarted."""
    cp = ControlPlane.start()
    yield cp
    cp.stop()


def test_after_a_410_the_controller_lists_again_and_acts_on_what_it_missed(own_control_plane, tmp_path):
    cp = own_control_plane
    kubeconfig = install_controller(cp)
    apply(cp, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "lab"}})
    replica = start_replica(kubeconfig, tmp_path / "controller.log", agent_image="kubectl-oras:test",
                            identity="replica-a", extra=(*FAST, "--watch-seconds", "30"))
    try:
        wait_for(cp, f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/kubectl-oras-controller",
                 lambda lease: lease["spec"].get("holderIdentity") == "replica-a", timeout=30)
        apply(cp, orascache("lab", "first"))
        wait_for(cp, cache_path("lab", "first"), settled, timeout=60)
        service = cp.session().get(f"{cp.server}/api/v1/namespaces/lab/services/first").json()

        os.kill(replica.proc.pid, signal.SIGSTOP)
        try:
            assert cp.session().delete(f"{cp.server}/api/v1/namespaces/lab/services/first").status_code == 200
            apply(cp, orascache("lab", "second"))
            index, argv = cp.stop_apiserver()
            cp.start_apiserver(index, argv)
        finally:
            os.kill(replica.proc.pid, signal.SIGCONT)

        wait_for(cp, cache_path("lab", "second"), settled, timeout=90)
        back = wait_for(cp, "/api/v1/namespaces/lab/services/first",
                        lambda s: s["metadata"]["uid"] != service["metadata"]["uid"], timeout=60)
        assert back["spec"]["ports"][0]["port"] == 5000
        expired = sum(1 for line in replica.metrics().splitlines()
                      if line.startswith("kubectl_oras_watch_restarts_total") and 'reason="expired"' in line
                      and not line.endswith(" 0.0"))
        assert expired >= 1, replica.metrics()
    finally:
        stop_replica(replica)
