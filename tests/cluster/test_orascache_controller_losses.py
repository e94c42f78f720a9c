"""Tier 2: a registry pod replaced on an emptyDir is a loss the cache says out loud (an
ArtifactsLost Warning and condition, its `kubectl get` column and `kubectl oras status`); the
first pod of a cache, a controller that restarts and a PVC cache say nothing.

No kubelet: the StatefulSet controller makes the registry pod, Pending for ever; deleting it (on
no node, it goes at once) makes it make another, of a new uid, as a node's loss or a `kubectl
delete pod` would.
"""

from __future__ import annotations

import subprocess
import sys
import time

import pytest

from tests.cluster.apply import apply, new_namespace, wait_for
from tests.cluster.conftest import FAST
from tests.cluster.test_orascache_controller import cache_path, condition, events, get, orascache
from tests.cluster.test_orascache_registry_cannot_start import printed
from tests.webhook.process import start_replica, stop_replica


@pytest.fixture
def ns(control_plane):
    return new_namespace(control_plane, "lost")


def pod_path(ns, name):
    return f"/api/v1/namespaces/{ns}/pods/{name}-0"


def seen_pod(cp, ns, name):
    """The registry pod's uid, once the cache's status remembers it."""
    uid = wait_for(cp, pod_path(ns, name), lambda pod: True, timeout=60)["metadata"]["uid"]
    wait_for(cp, cache_path(ns, name), lambda c: (c.get("status") or {}).get("registryPodUID") == uid, timeout=60)
    return uid


def replace_pod(cp, ns, name, uid):
    r = cp.session().delete(f"{cp.server}{pod_path(ns, name)}", json={"gracePeriodSeconds": 0})
    assert r.status_code == 200, r.text
    return wait_for(cp, pod_path(ns, name), lambda pod: pod["metadata"]["uid"] != uid, timeout=60)["metadata"]["uid"]


def lost_events(cp, ns, name):
    return [(kind, message) for kind, reason, message in events(cp, ns, name) if reason == "ArtifactsLost"]


def test_a_replaced_emptydir_registry_pod_is_said_lost_and_a_restarted_controller_sees_no_loss(
        control_plane, kubeconfig, leader, ns, tmp_path):
    cp = control_plane
    apply(cp, orascache(ns, "oras"))
    first = seen_pod(cp, ns, "oras")
    # A controller that restarts remembers the pod it saw (in the status): no loss.
    assert stop_replica(leader) == 0
    again = start_replica(kubeconfig, tmp_path / "again.log", agent_image="kubectl-oras:test", identity="replica-a",
                          extra=FAST)
    leader.proc, leader.health = again.proc, again.health
    wait_for(cp, cache_path(ns, "oras"), lambda c: True, timeout=5)
    deadline = time.monotonic() + 60
    while leader.metric("kubectl_oras_reconciles_total") < 1 and time.monotonic() < deadline:
        time.sleep(0.5)
    assert leader.metric("kubectl_oras_reconciles_total") >= 1
    cache = get(cp, cache_path(ns, "oras"))
    assert condition(cache, "ArtifactsLost") == {} and lost_events(cp, ns, "oras") == []  # nor the first pod

    second = replace_pod(cp, ns, "oras", first)
    cache = wait_for(cp, cache_path(ns, "oras"), lambda c: condition(c, "ArtifactsLost").get("status") == "True",
                     timeout=60)
    lost = condition(cache, "ArtifactsLost")
    assert lost["reason"] == "RegistryPodReplaced" and lost["lastTransitionTime"]
    assert f"the registry pod oras-0 was replaced (pod uid {first}, now {second})" in lost["message"]
    assert cache["status"]["registryPodUID"] == second
    assert lost_events(cp, ns, "oras") == [("Warning", lost["message"])]
    assert printed(cp, ns, "oras")["Lost"] == "RegistryPodReplaced"
    shown = subprocess.run([sys.executable, "-m", "kubectl_oras", "status", "oras", "-n", ns, "--kubeconfig",
                            str(cp.kubeconfig)], capture_output=True, text=True, timeout=60)
    assert f"  artifacts lost at {lost['lastTransitionTime']}: the registry pod oras-0 was replaced" in shown.stdout, \
        shown.stdout + shown.stderr

    # A pod replaced while no controller runs is seen when one comes back (the status remembers).
    assert stop_replica(leader) == 0
    third = replace_pod(cp, ns, "oras", second)
    back = start_replica(kubeconfig, tmp_path / "back.log", agent_image="kubectl-oras:test", identity="replica-a",
                         extra=FAST)
    leader.proc, leader.health = back.proc, back.health
    cache = wait_for(cp, cache_path(ns, "oras"), lambda c: c["status"].get("registryPodUID") == third, timeout=60)
    assert f"(pod uid {second}, now {third})" in condition(cache, "ArtifactsLost")["message"]


def test_a_pvc_cache_keeps_its_artifacts_when_its_registry_pod_is_replaced(control_plane, leader, ns):
    cp = control_plane
    apply(cp, orascache(ns, "kept", {"storage": {"pvc": {"size": "1Gi"}}}))
    first = seen_pod(cp, ns, "kept")
    second = replace_pod(cp, ns, "kept", first)
    cache = wait_for(cp, cache_path(ns, "kept"), lambda c: c["status"].get("registryPodUID") == second, timeout=60)
    assert condition(cache, "ArtifactsLost") == {} and lost_events(cp, ns, "kept") == []
    assert printed(cp, ns, "kept")["Lost"] in ("", None)
