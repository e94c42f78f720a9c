"""Tier 2: the controller process, with only its ServiceAccount's RBAC from manifests/, against a
real kube-apiserver (and controller manager: its garbage collector and StatefulSet controller).

No node here, so registry pods stay Pending: these tests are about objects, status, events,
put-back, restarts and leadership; tests/e2e/ runs the registries.
"""

from __future__ import annotations

import base64
import time
import uuid

import bcrypt
import pytest

from tests.cluster.apply import apply, new_namespace, wait_for
from tests.cluster.conftest import FAST
from tests.webhook.process import NS, start_replica, stop_replica

GROUP = "apis/cache.converged-computing.github.io/v1alpha1"


def orascache(ns, name, spec=None):
    return {"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache",
            "metadata": {"name": name, "namespace": ns}, "spec": spec or {}}


def cache_path(ns, name):
    return f"/{GROUP}/namespaces/{ns}/orascaches/{name}"


def condition(obj, kind):
    for c in (obj.get("status") or {}).get("conditions") or []:
        if c["type"] == kind:
            return c
    return {}


def settled(obj, reason="RegistryNotReady"):
    """The objects exist and the status says so for the current generation."""
    status = obj.get("status") or {}
    return status.get("observedGeneration") == obj["metadata"]["generation"] and condition(obj, "Ready").get("reason") == reason


def get(cp, path):
    r = cp.session().get(f"{cp.server}{path}")
    return r.json() if r.status_code == 200 else None


def events(cp, ns, name):
    items = cp.session().get(f"{cp.server}/api/v1/namespaces/{ns}/events").json()["items"]
    return [(e["type"], e["reason"], e["message"]) for e in items if e["involvedObject"]["name"] == name
            and e["involvedObject"]["kind"] == "OrasCache"]


@pytest.fixture
def ns(control_plane):
    return new_namespace(control_plane, "oc")


def test_a_cache_gets_its_registry_objects_secrets_and_status(control_plane, leader, ns):
    cp = control_plane
    apply(cp, orascache(ns, "oras"))
    cache = wait_for(cp, cache_path(ns, "oras"), settled, timeout=60)
    assert cache["status"]["endpoint"] == f"oras.{ns}.svc:5000"
    assert cache["status"]["authSecret"] == "oras-oras-auth" and cache["status"]["storage"] == "emptyDir"
    assert condition(cache, "Degraded")["status"] == "False" and condition(cache, "Progressing")["status"] == "True"
    uid = cache["metadata"]["uid"]
    sts = get(cp, f"/apis/apps/v1/namespaces/{ns}/statefulsets/oras")
    svc = get(cp, f"/api/v1/namespaces/{ns}/services/oras")
    auth = get(cp, f"/api/v1/namespaces/{ns}/secrets/oras-oras-auth")
    htpasswd = get(cp, f"/api/v1/namespaces/{ns}/secrets/oras-oras-registry")
    for obj in (sts, svc, auth, htpasswd):
        assert [r["uid"] for r in obj["metadata"]["ownerReferences"]] == [uid]
    assert svc["spec"]["ports"][0]["port"] == 5000 and svc["spec"]["type"] == "ClusterIP"
    password = base64.b64decode(auth["data"]["ORAS_PASS"])
    user, _, hashed = base64.b64decode(htpasswd["data"]["htpasswd"]).decode().strip().partition(":")
    assert user == base64.b64decode(auth["data"]["ORAS_USER"]).decode()
    assert bcrypt.checkpw(password, hashed.encode()) and len(password) >= 32
    reasons = {reason for _, reason, _ in events(cp, ns, "oras")}
    assert "Created" in reasons
    # The registry pod exists (the StatefulSet controller made it), Pending without a node.
    wait_for(cp, f"/api/v1/namespaces/{ns}/pods/oras-0", lambda pod: True, timeout=30)


def test_a_deleted_or_hand_edited_object_is_put_back(control_plane, leader, ns):
    cp = control_plane
    apply(cp, orascache(ns, "oras"))
    wait_for(cp, cache_path(ns, "oras"), settled, timeout=60)
    svc = get(cp, f"/api/v1/namespaces/{ns}/services/oras")
    assert cp.session().delete(f"{cp.server}/api/v1/namespaces/{ns}/services/oras").status_code == 200
    back = wait_for(cp, f"/api/v1/namespaces/{ns}/services/oras",
                    lambda s: s["metadata"]["uid"] != svc["metadata"]["uid"], timeout=30)
    assert back["spec"]["ports"][0]["port"] == 5000
    r = cp.session().patch(f"{cp.server}/api/v1/namespaces/{ns}/services/oras",
                           json=[{"op": "replace", "path": "/spec/ports/0/port", "value": 6000}],
                           headers={"Content-Type": "application/json-patch+json"})
    assert r.status_code == 200, r.text
    wait_for(cp, f"/api/v1/namespaces/{ns}/services/oras",
             lambda s: [p["port"] for p in s["spec"]["ports"]] == [5000], timeout=30)
    assert cp.session().delete(f"{cp.server}/api/v1/namespaces/{ns}/secrets/oras-oras-registry").status_code == 200
    wait_for(cp, f"/api/v1/namespaces/{ns}/secrets/oras-oras-registry", lambda s: True, timeout=30)


def test_deploy_false_deploys_nothing_and_a_bad_name_is_reported(control_plane, leader, ns):
    cp = control_plane
    apply(cp, orascache(ns, "remote", {"deploy": False}))
    cache = wait_for(cp, cache_path(ns, "remote"), lambda c: settled(c, "NotDeployed"), timeout=60)
    assert condition(cache, "Ready")["status"] == "True"
    apply(cp, orascache(ns, "9lives"))  # a DNS subdomain the apiserver takes, but no Service can be named so
    bad = wait_for(cp, cache_path(ns, "9lives"), lambda c: settled(c, "InvalidSpec"), timeout=60)
    assert "metadata.name" in condition(bad, "Ready")["message"]
    assert any(reason == "InvalidSpec" for _, reason, _ in events(cp, ns, "9lives"))
    time.sleep(1)
    for path in ("apis/apps/v1/namespaces/{ns}/statefulsets", "api/v1/namespaces/{ns}/services"):
        assert cp.session().get(f"{cp.server}/{path.format(ns=ns)}").json()["items"] == []


def test_a_spec_change_on_emptydir_is_announced_before_the_registry_restarts(control_plane, leader, ns):
    cp = control_plane
    apply(cp, orascache(ns, "oras"))
    wait_for(cp, cache_path(ns, "oras"), settled, timeout=60)
    apply(cp, orascache(ns, "oras", {"resources": {"limits": {"memory": "1Gi"}}}))
    # No node here: the roll itself never finishes; the announcement and the new spec are what count.
    wait_for(cp, cache_path(ns, "oras"), lambda c: (c.get("status") or {}).get("observedGeneration") == 2, timeout=60)
    lost = [(kind, m) for kind, reason, m in events(cp, ns, "oras") if reason == "ArtifactsLost"]
    assert lost and lost[0][0] == "Warning" and "emptyDir" in lost[0][1]
    # The announcement (status, with observedGeneration 2) is written before the StatefulSet is
    # changed, by design: so the new spec is waited for, not read at once (a CI flake read it early).
    wait_for(cp, f"/apis/apps/v1/namespaces/{ns}/statefulsets/oras",
             lambda sts: sts["spec"]["template"]["spec"]["containers"][0]["resources"] == {"limits": {"memory": "1Gi"}},
             timeout=60)


def test_a_storage_change_is_refused_without_touching_the_claim(control_plane, leader, ns):
    cp = control_plane
    apply(cp, orascache(ns, "kept", {"storage": {"pvc": {"size": "1Gi"}}}))
    wait_for(cp, cache_path(ns, "kept"), settled, timeout=60)
    apply(cp, orascache(ns, "kept", {"storage": {"pvc": {"size": "2Gi"}}}))
    cache = wait_for(cp, cache_path(ns, "kept"), lambda c: condition(c, "Degraded").get("reason") == "StorageImmutable",
                     timeout=60)
    assert "delete the OrasCache and create it again" in condition(cache, "Degraded")["message"]
    sts = get(cp, f"/apis/apps/v1/namespaces/{ns}/statefulsets/kept")
    assert sts["spec"]["volumeClaimTemplates"][0]["spec"]["resources"]["requests"]["storage"] == "1Gi"


def test_a_controller_killed_mid_reconcile_converges_when_it_comes_back(control_plane, kubeconfig, leader, ns,
                                                                          tmp_path):
    cp = control_plane
    stop_replica(leader, kill=True)  # the module's leader: a new one takes its place below
    names = [f"c{i}" for i in range(12)]
    for name in names:
        apply(cp, orascache(ns, name))
    again = start_replica(kubeconfig, tmp_path / "b.log", agent_image="kubectl-oras:test", identity="replica-b",
                          extra=FAST)
    try:
        time.sleep(0.3)  # into its first reconciles (or its wait for the old Lease to expire)
        stop_replica(again, kill=True)
        third = start_replica(kubeconfig, tmp_path / "c.log", agent_image="kubectl-oras:test", identity="replica-a",
                              extra=FAST)
        leader.proc = third.proc
        leader.health = third.health
        for name in names:
            wait_for(cp, cache_path(ns, name), settled, timeout=90)
        secrets = cp.session().get(f"{cp.server}/api/v1/namespaces/{ns}/secrets").json()["items"]
        assert sorted(s["metadata"]["name"] for s in secrets) == sorted(
            [f"{n}-oras-auth" for n in names] + [f"{n}-oras-registry" for n in names])
    finally:
        stop_replica(again, kill=True)


def test_of_two_replicas_only_the_leader_acts_and_the_other_takes_over(control_plane, kubeconfig, leader, ns, tmp_path):
    cp = control_plane
    lease_path = f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/kubectl-oras-controller"
    second = start_replica(kubeconfig, tmp_path / "second.log", agent_image="kubectl-oras:test",
                           identity=f"replica-{uuid.uuid4().hex[:4]}", extra=FAST)
    try:
        apply(cp, orascache(ns, "first"))
        wait_for(cp, cache_path(ns, "first"), settled, timeout=60)
        assert leader.metric("kubectl_oras_leader") == 1 and second.metric("kubectl_oras_leader") == 0
        assert second.metric("kubectl_oras_reconciles_total") == 0
        killed = time.monotonic()
        stop_replica(leader, kill=True)
        wait_for(cp, lease_path, lambda lease: lease["spec"].get("holderIdentity") == second.identity, timeout=30)
        took = time.monotonic() - killed
        apply(cp, orascache(ns, "second"))
        wait_for(cp, cache_path(ns, "second"), settled, timeout=60)
        assert second.metric("kubectl_oras_leader") == 1
        print(f"takeover after a kill: {took:.1f} s (lease 4 s, retry 0.5 s)")
        assert took < 4 + 0.5 + 10  # the lease's duration, one retry, and the poll's slack
        # A graceful stop gives the Lease up: the next replica leads without waiting it out.
        third = start_replica(kubeconfig, tmp_path / "third.log", agent_image="kubectl-oras:test",
                              identity="replica-a", extra=FAST)
        leader.proc, leader.health = third.proc, third.health
        stopped = time.monotonic()
        assert stop_replica(second) == 0
        wait_for(cp, lease_path, lambda lease: lease["spec"].get("holderIdentity") == "replica-a", timeout=30)
        print(f"takeover after SIGTERM: {time.monotonic() - stopped:.1f} s")
    finally:
        stop_replica(second, kill=True)
