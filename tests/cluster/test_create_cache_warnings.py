"""Tier 2: what `create-cache` says up front and while it waits, as a user bound only to `edit` in
one namespace: a warning when `--storage` will get no volume for want of a default StorageClass
(the apiserver's answer to a dry run of the claim, which stores nothing), none when one exists or a
class is named (then no dry run at all), and no "is it installed?" from a healthy `--wait`.

No kubelet: a ready registry pod is written through the pod's status, as a kubelet would."""

from __future__ import annotations

import re

import pytest

from tests.cluster.apply import wait_for
from tests.cluster.test_cluster_commands import cli, controller, lab  # noqa: F401 (fixtures)
from tests.cluster.test_orascache_controller import cache_path
from tests.cluster.test_orascache_registry_cannot_start import create_cache_waiting, kubelet_says

WARNING = "warning: the cluster has no default StorageClass and --storage-class is not given"
CLASSES = "/apis/storage.k8s.io/v1/storageclasses"
DRY_RUN_CLAIMS = re.compile(r'^apiserver_request_total\{(?=[^}]*dry_run="All")(?=[^}]*resource="persistentvolumeclaims")'
                            r'(?=[^}]*verb="POST")[^}]*\} (\d+)$', re.M)


def dry_run_claims(cp):
    """How many claims the apiserver has been asked to create as a dry run, by its own metrics."""
    r = cp.session().get(f"{cp.server}/metrics")
    assert r.status_code == 200, r.text[:200]
    return sum(int(n) for n in DRY_RUN_CLAIMS.findall(r.text))


def claims(cp, ns):
    r = cp.session().get(f"{cp.server}/api/v1/namespaces/{ns}/persistentvolumeclaims")
    assert r.status_code == 200, r.text
    return [c["metadata"]["name"] for c in r.json()["items"]]


def until(check, *, timeout=30.0):
    import time

    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline
        time.sleep(0.2)


def test_a_healthy_create_cache_wait_never_asks_whether_the_controller_is_installed(control_plane, lab):  # noqa: F811
    cp = control_plane
    ns, kubeconfig = lab
    waiting = create_cache_waiting("healthy", kubeconfig=kubeconfig)
    try:
        wait_for(cp, f"/api/v1/namespaces/{ns}/pods/healthy-0", lambda pod: True, timeout=60)
        kubelet_says(cp, ns, "healthy-0", state={"running": {"startedAt": "2026-12-07T02:00:00Z"}}, ready=True)
        out, err = waiting.communicate(timeout=120)
    finally:
        waiting.kill()
    assert waiting.returncode == 0, err
    assert out.startswith(f"{ns}/healthy: Ready (RegistryReady") and "is it installed" not in err, err


def test_create_cache_storage_warns_up_front_when_no_class_is_default(control_plane, lab):  # noqa: F811
    cp = control_plane
    ns, kubeconfig = lab
    asked = dry_run_claims(cp)
    made = cli("create-cache", "noclass", "--storage", "1Gi", kubeconfig=kubeconfig)
    assert made.returncode == 0, made.stderr
    lines = made.stderr.splitlines()
    assert lines[0].startswith(WARNING) and lines[1] == f"created cache 'noclass' in namespace {ns}", lines
    assert lines[0].endswith("name a class with --storage-class CLASS (kubectl get storageclass lists them)")
    assert dry_run_claims(cp) == asked + 1
    assert not [c for c in claims(cp, ns) if c.startswith("kubectl-oras-storage-check-")]  # the dry run made none
    named = cli("create-cache", "named", "--storage", "1Gi", "--storage-class", "fast", kubeconfig=kubeconfig)
    assert named.returncode == 0 and "warning" not in named.stderr, named.stderr
    assert dry_run_claims(cp) == asked + 1  # a class named: nothing to ask
    r = cp.session().post(f"{cp.server}{CLASSES}", json={
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "example.com/none",
        "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}})
    assert r.status_code == 201, r.text
    try:
        with_default = cli("create-cache", "defaulted", "--storage", "1Gi", kubeconfig=kubeconfig)
        assert with_default.returncode == 0 and "warning" not in with_default.stderr, with_default.stderr
        assert dry_run_claims(cp) == asked + 2
    finally:  # no default class for the tests after (a claim with no class stays Pending there)
        assert cp.session().delete(f"{cp.server}{CLASSES}/standard").status_code == 200
    assert not [c for c in claims(cp, ns) if c.startswith("kubectl-oras-storage-check-")]


def test_a_user_who_may_not_create_claims_gets_no_warning_and_no_failure(control_plane, lab):  # noqa: F811
    cp = control_plane
    ns, kubeconfig = lab
    quota = {"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "no-claims", "namespace": ns},
             "spec": {"hard": {"persistentvolumeclaims": "0"}}}
    r = cp.session().post(f"{cp.server}/api/v1/namespaces/{ns}/resourcequotas", json=quota)
    assert r.status_code == 201, r.text
    try:
        until(lambda: "persistentvolumeclaims" in (cp.session().get(
            f"{cp.server}/api/v1/namespaces/{ns}/resourcequotas/no-claims").json().get("status") or {}).get("hard", {}))
        made = cli("create-cache", "refused", "--storage", "1Gi", kubeconfig=kubeconfig)
        assert made.returncode == 0, made.stderr
        assert made.stderr.splitlines() == [f"created cache 'refused' in namespace {ns}"]
    finally:
        cp.session().delete(f"{cp.server}/api/v1/namespaces/{ns}/resourcequotas/no-claims")


@pytest.fixture(autouse=True)
def _no_leftover_caches(control_plane, lab):  # noqa: F811
    yield
    ns, _ = lab
    for name in ("healthy", "noclass", "named", "defaulted", "refused"):
        control_plane.session().delete(f"{control_plane.server}{cache_path(ns, name)}")
