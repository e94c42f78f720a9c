"""Tier 2: a cache reported NameTaken, or whose objects lost their label, against a real
kube-apiserver and controller manager: once the other object is gone the cache gets its own; a
cache deleted and made again with the same name settles once the garbage collector is done; an
object of ours that lost its label keeps what it held."""

from __future__ import annotations

import base64
import time

import pytest

from tests.cluster.apply import apply, new_namespace, wait_for
from tests.cluster.test_orascache_controller import cache_path, condition, get, orascache, settled


@pytest.fixture
def ns(control_plane):
    return new_namespace(control_plane, "nt")


def name_taken(cache):
    return (cache.get("status") or {}).get("observedGeneration") == cache["metadata"]["generation"] and \
        condition(cache, "Degraded").get("reason") == "NameTaken"


def delete(cp, path, **body):
    r = cp.session().delete(f"{cp.server}{path}", json=body or None)
    assert r.status_code in (200, 202), r.text


def gone(cp, path, timeout=30):
    deadline = time.monotonic() + timeout
    while cp.session().get(f"{cp.server}{path}").status_code != 404:
        assert time.monotonic() < deadline, f"{path} still there after {timeout} s"
        time.sleep(0.2)


def owned_by(obj, uid):
    return any(r.get("uid") == uid for r in obj["metadata"].get("ownerReferences") or [])


def test_a_cache_gets_its_service_once_the_users_service_is_deleted(control_plane, leader, ns):
    cp = control_plane
    apply(cp, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
               "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}})
    apply(cp, orascache(ns, "web"))
    taken = wait_for(cp, cache_path(ns, "web"), name_taken, timeout=60)
    assert (condition(taken, "Progressing")["status"], condition(taken, "Progressing")["reason"]) == \
        ("False", "NameTaken")  # nothing is made until the name is free: not "Creating" for ever
    time.sleep(2)  # the reconcile its own status write queues is over
    delete(cp, f"/api/v1/namespaces/{ns}/services/web")
    wait_for(cp, cache_path(ns, "web"), settled, timeout=30)


def test_a_cache_made_again_after_an_orphaning_delete_settles_once_the_orphans_go(control_plane, leader, ns):
    cp = control_plane
    apply(cp, orascache(ns, "orph"))
    wait_for(cp, cache_path(ns, "orph"), settled, timeout=60)
    delete(cp, cache_path(ns, "orph"), propagationPolicy="Orphan")
    wait_for(cp, f"/api/v1/namespaces/{ns}/services/orph", lambda s: not s["metadata"].get("ownerReferences"),
             timeout=30)
    gone(cp, cache_path(ns, "orph"))  # its orphan finalizer done: an apply before would land on the old one
    apply(cp, orascache(ns, "orph"))
    wait_for(cp, cache_path(ns, "orph"), name_taken, timeout=60)
    time.sleep(2)
    for path in ("apis/apps/v1/namespaces/{ns}/statefulsets/orph", "api/v1/namespaces/{ns}/services/orph",
                 "api/v1/namespaces/{ns}/secrets/orph-oras-auth", "api/v1/namespaces/{ns}/secrets/orph-oras-registry"):
        delete(cp, "/" + path.format(ns=ns))
    wait_for(cp, cache_path(ns, "orph"), settled, timeout=30)


def test_a_cache_deleted_and_made_again_settles_once_the_old_objects_are_collected(control_plane, leader, ns):
    cp = control_plane
    apply(cp, orascache(ns, "again"))
    wait_for(cp, cache_path(ns, "again"), settled, timeout=60)
    old = get(cp, cache_path(ns, "again"))["metadata"]["uid"]
    delete(cp, cache_path(ns, "again"))  # background: the garbage collector deletes the objects afterwards
    apply(cp, orascache(ns, "again"))
    cache = wait_for(cp, cache_path(ns, "again"), lambda c: c["metadata"]["uid"] != old and settled(c), timeout=90)
    uid = cache["metadata"]["uid"]
    for path in (f"/apis/apps/v1/namespaces/{ns}/statefulsets/again", f"/api/v1/namespaces/{ns}/services/again",
                 f"/api/v1/namespaces/{ns}/secrets/again-oras-auth", f"/api/v1/namespaces/{ns}/secrets/again-oras-registry"):
        assert owned_by(wait_for(cp, path, lambda o: owned_by(o, uid), timeout=30), uid), path
    assert not condition(cache, "Degraded") or condition(cache, "Degraded").get("status") != "True"


def test_the_registry_secret_keeps_its_http_secret_when_its_label_is_removed(control_plane, leader, ns):
    cp = control_plane
    apply(cp, orascache(ns, "lbl"))
    wait_for(cp, cache_path(ns, "lbl"), settled, timeout=60)
    path = f"/api/v1/namespaces/{ns}/secrets/lbl-oras-registry"
    before = get(cp, path)["data"]["REGISTRY_HTTP_SECRET"]
    r = cp.session().patch(f"{cp.server}{path}", json={"metadata": {"labels": {"app.kubernetes.io/managed-by": None}}},
                           headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    after = wait_for(cp, path, lambda s: (s["metadata"].get("labels") or {}).get("app.kubernetes.io/managed-by"),
                     timeout=30)
    assert base64.b64decode(after["data"]["REGISTRY_HTTP_SECRET"]) == base64.b64decode(before)


def test_a_pvc_size_in_a_non_canonical_form_is_not_a_storage_change(control_plane, leader, ns):
    cp = control_plane
    apply(cp, orascache(ns, "canon", {"storage": {"pvc": {"size": "1024Mi"}}}))
    wait_for(cp, cache_path(ns, "canon"), lambda c: (c.get("status") or {}).get("observedGeneration") == 1, timeout=60)
    # Anything that queues the cache again compares the StatefulSet the apiserver stored: here the
    # default said (a new generation, whose status is written once that comparison is made).
    apply(cp, orascache(ns, "canon", {"storage": {"pvc": {"size": "1024Mi"}}, "deploy": True}))
    cache = wait_for(cp, cache_path(ns, "canon"), lambda c: (c.get("status") or {}).get("observedGeneration") == 2,
                     timeout=60)
    assert condition(cache, "Degraded").get("reason") != "StorageImmutable", condition(cache, "Degraded")
