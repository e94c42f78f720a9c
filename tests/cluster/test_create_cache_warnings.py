"""Tier 2: what `create-cache` says up front and while it waits, as a user bound only to `edit` in
one namespace (and to what manifests/rbac-users.yaml gives every signed-in user): a warning when
`--storage` will get no volume for want of a default StorageClass, none when one exists or a class
is named or the classes cannot be read, and no "is it installed?" from a healthy `--wait`.

No kubelet: a ready registry pod is written through the pod's status, as a kubelet would."""

from __future__ import annotations

import pytest

from tests.cluster.apply import apply_file, wait_for
from tests.cluster.test_cluster_commands import REPO, cli, controller, lab  # noqa: F401 (fixtures)
from tests.cluster.test_orascache_controller import cache_path
from tests.cluster.test_orascache_registry_cannot_start import create_cache_waiting, kubelet_says

WARNING = "warning: the cluster has no default StorageClass and --storage-class is not given"
CLASSES = "/apis/storage.k8s.io/v1/storageclasses"
BINDING = "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings/kubectl-oras-storage-classes"


def may_list_classes(cp, ns, user):
    review = {"apiVersion": "authorization.k8s.io/v1", "kind": "SubjectAccessReview",
              "spec": {"user": f"system:serviceaccount:{ns}:{user}",
                       "groups": ["system:serviceaccounts", f"system:serviceaccounts:{ns}", "system:authenticated"],
                       "resourceAttributes": {"group": "storage.k8s.io", "resource": "storageclasses", "verb": "list"}}}
    r = cp.session().post(f"{cp.server}/apis/authorization.k8s.io/v1/subjectaccessreviews", json=review)
    assert r.status_code == 201, r.text
    return r.json()["status"].get("allowed", False)


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
    assert may_list_classes(cp, ns, "alice")
    made = cli("create-cache", "noclass", "--storage", "1Gi", kubeconfig=kubeconfig)
    assert made.returncode == 0, made.stderr
    lines = made.stderr.splitlines()
    assert lines[0].startswith(WARNING) and lines[1] == f"created cache 'noclass' in namespace {ns}", lines
    named = cli("create-cache", "named", "--storage", "1Gi", "--storage-class", "fast", kubeconfig=kubeconfig)
    assert named.returncode == 0 and "warning" not in named.stderr, named.stderr
    r = cp.session().post(f"{cp.server}{CLASSES}", json={
        "apiVersion": "storage.k8s.io/v1", "kind": "StorageClass", "provisioner": "example.com/none",
        "metadata": {"name": "standard", "annotations": {"storageclass.kubernetes.io/is-default-class": "true"}}})
    assert r.status_code == 201, r.text
    try:
        with_default = cli("create-cache", "defaulted", "--storage", "1Gi", kubeconfig=kubeconfig)
        assert with_default.returncode == 0 and "warning" not in with_default.stderr, with_default.stderr
    finally:  # no default class for the tests after (a claim with no class stays Pending there)
        assert cp.session().delete(f"{cp.server}{CLASSES}/standard").status_code == 200


def test_a_user_who_may_not_read_storage_classes_gets_no_warning_and_no_failure(control_plane, lab):  # noqa: F811
    cp = control_plane
    ns, kubeconfig = lab
    assert cp.session().delete(f"{cp.server}{BINDING}").status_code == 200
    try:
        until(lambda: not may_list_classes(cp, ns, "alice"))
        made = cli("create-cache", "unread", "--storage", "1Gi", kubeconfig=kubeconfig)
        assert made.returncode == 0, made.stderr
        assert made.stderr.splitlines() == [f"created cache 'unread' in namespace {ns}"]
    finally:
        apply_file(cp, REPO / "manifests" / "rbac-users.yaml")
    until(lambda: may_list_classes(cp, ns, "alice"))


@pytest.fixture(autouse=True)
def _no_leftover_caches(control_plane, lab):  # noqa: F811
    yield
    ns, _ = lab
    for name in ("healthy", "noclass", "named", "defaulted", "unread"):
        control_plane.session().delete(f"{control_plane.server}{cache_path(ns, name)}")
