"""Tier 2: objects a user made with the names a cache's objects take, and a cache whose auth is
turned off, against a real kube-apiserver: the controller sees only the objects it made, so one
of the same name that a user made is reported (NameTaken), never taken over."""

from __future__ import annotations

import pytest

from tests.cluster.apply import apply, new_namespace, wait_for
from tests.cluster.test_orascache_controller import cache_path, condition, get, orascache, settled


@pytest.fixture
def ns(control_plane):
    return new_namespace(control_plane, "oh")


def name_taken(kind, name):
    """The controller has seen the user's object and refused it: each reconcile checks a same-named
    object's owner before it writes anything, and says NameTaken (event, then status) after."""
    def said(cache):
        degraded = condition(cache, "Degraded")
        return degraded.get("reason") == "NameTaken" and f"a {kind} named {name} exists" in degraded.get("message", "")
    return said


def api_requests(replica, operation, resource):
    return sum(float(line.rsplit(" ", 1)[1]) for line in replica.metrics().splitlines()
               if line.startswith("kubectl_oras_api_requests_total{") and f'operation="{operation}"' in line
               and f'resource="{resource}"' in line)


def test_a_users_service_with_the_caches_name_is_name_taken_and_left_alone(control_plane, leader, ns):
    cp = control_plane
    apply(cp, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": ns},
               "spec": {"selector": {"app": "web"}, "ports": [{"name": "http", "port": 80}]}})
    apply(cp, orascache(ns, "web"))
    wait_for(cp, cache_path(ns, "web"), name_taken("Service", "web"), timeout=60)
    svc = get(cp, f"/api/v1/namespaces/{ns}/services/web")
    assert svc["spec"]["selector"] == {"app": "web"} and not svc["metadata"].get("ownerReferences")


def test_a_users_secret_with_the_registry_secrets_name_is_left_alone(control_plane, leader, ns):
    cp = control_plane
    apply(cp, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "reg-oras-registry", "namespace": ns},
               "stringData": {"tls.key": "theirs"}})
    apply(cp, orascache(ns, "reg"))
    wait_for(cp, cache_path(ns, "reg"), name_taken("Secret", "reg-oras-registry"), timeout=60)
    secret = get(cp, f"/api/v1/namespaces/{ns}/secrets/reg-oras-registry")
    assert sorted(secret["data"]) == ["tls.key"] and not secret["metadata"].get("ownerReferences")


def test_a_users_secret_with_the_auth_secrets_name_is_reported_as_name_taken(control_plane, leader, ns):
    cp = control_plane
    apply(cp, {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "held-oras-auth", "namespace": ns},
               "stringData": {"ORAS_USER": "me", "ORAS_PASS": "mine"}})
    apply(cp, orascache(ns, "held"))
    cache = wait_for(cp, cache_path(ns, "held"), lambda c: (c.get("status") or {}).get("observedGeneration") == 1,
                     timeout=60)
    assert condition(cache, "Degraded").get("reason") == "NameTaken", condition(cache, "Degraded")


def test_auth_turned_off_settles_the_registry_secret(control_plane, leader, ns):
    cp = control_plane
    apply(cp, orascache(ns, "flip"))
    wait_for(cp, cache_path(ns, "flip"), settled, timeout=60)
    apply(cp, orascache(ns, "flip", {"auth": {"enabled": False}}))
    wait_for(cp, cache_path(ns, "flip"), lambda c: (c.get("status") or {}).get("observedGeneration") == 2, timeout=60)
    before = api_requests(leader, "patch", "secrets")
    for i in range(4):  # changes that queue the cache without changing what it wants
        cp.session().patch(f"{cp.server}{cache_path(ns, 'flip')}", json={"metadata": {"labels": {"poke": str(i)}}},
                           headers={"Content-Type": "application/merge-patch+json"})
        # deploy: true, the default, said or not: a new generation whose status tells that the
        # controller has reconciled the cache since this poke (a label alone leaves no trace)
        apply(cp, orascache(ns, "flip", {"auth": {"enabled": False}, **({"deploy": True} if i % 2 == 0 else {})}))
        wait_for(cp, cache_path(ns, "flip"),
                 lambda c, generation=3 + i: (c.get("status") or {}).get("observedGeneration") == generation, timeout=60)
    secret = get(cp, f"/api/v1/namespaces/{ns}/secrets/flip-oras-registry")
    assert "htpasswd" not in secret["data"] and api_requests(leader, "patch", "secrets") - before <= 1
