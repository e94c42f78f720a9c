"""Server-side apply of plain manifests with the admin session (what `kubectl apply --server-side` does)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

# kind -> (api prefix, plural, namespaced) for the kinds our tests apply
KINDS = {
    "Namespace": ("api/v1", "namespaces", False),
    "ServiceAccount": ("api/v1", "serviceaccounts", True),
    "Secret": ("api/v1", "secrets", True),
    "ConfigMap": ("api/v1", "configmaps", True),
    "Pod": ("api/v1", "pods", True),
    "Service": ("api/v1", "services", True),
    "ClusterRole": ("apis/rbac.authorization.k8s.io/v1", "clusterroles", False),
    "ClusterRoleBinding": ("apis/rbac.authorization.k8s.io/v1", "clusterrolebindings", False),
    "Role": ("apis/rbac.authorization.k8s.io/v1", "roles", True),
    "RoleBinding": ("apis/rbac.authorization.k8s.io/v1", "rolebindings", True),
    "CustomResourceDefinition": ("apis/apiextensions.k8s.io/v1", "customresourcedefinitions", False),
    "MutatingWebhookConfiguration": ("apis/admissionregistration.k8s.io/v1", "mutatingwebhookconfigurations", False),
    "Job": ("apis/batch/v1", "jobs", True),
    "Deployment": ("apis/apps/v1", "deployments", True),
    "StatefulSet": ("apis/apps/v1", "statefulsets", True),
    "PersistentVolume": ("api/v1", "persistentvolumes", False),
    "OrasCache": ("apis/cache.converged-computing.github.io/v1alpha1", "orascaches", True),
}


def object_url(server: str, doc: dict[str, Any], namespace: str | None = None) -> str:
    prefix, plural, namespaced = KINDS[doc["kind"]]
    ns = (doc.get("metadata") or {}).get("namespace") or namespace or "default"
    where = f"/namespaces/{ns}" if namespaced else ""
    return f"{server}/{prefix}{where}/{plural}/{doc['metadata']['name']}"


def apply(cp, doc: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
    r = cp.session().patch(object_url(cp.server, doc, namespace), data=yaml.safe_dump(doc),
                           params={"fieldManager": "kubectl-oras-tests", "force": "true"},
                           headers={"Content-Type": "application/apply-patch+yaml"})
    if r.status_code >= 400:
        raise RuntimeError(f"apply {doc['kind']}/{doc['metadata']['name']}: {r.status_code} {r.text}")
    return r.json()


def apply_file(cp, path: Path, **kw: Any) -> list[dict[str, Any]]:
    return [apply(cp, doc, **kw) for doc in yaml.safe_load_all(path.read_text()) if doc]


def delete_configuration(cp, name: str) -> None:
    """Remove a MutatingWebhookConfiguration (a test's webhook must not outlive its server)."""
    r = cp.session().delete(f"{cp.server}/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/{name}")
    if r.status_code not in (200, 404):
        raise RuntimeError(f"delete webhook configuration {name}: {r.status_code} {r.text}")


def wait_for(cp, path: str, predicate, *, timeout: float = 180) -> dict[str, Any]:
    """GET ``path`` until ``predicate(object)`` holds; the last object seen is in the failure."""
    import time

    session = cp.session()
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        r = session.get(f"{cp.server}{path}")
        if r.status_code == 200:
            last = r.json()
            if predicate(last):
                return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting on {path}; last seen:\n{last}")


def new_namespace(cp, prefix: str) -> str:
    """A namespace of the test's own, once its default ServiceAccount exists (pods need it)."""
    import uuid

    ns = f"{prefix}-{uuid.uuid4().hex[:6]}"
    apply(cp, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    wait_for(cp, f"/api/v1/namespaces/{ns}/serviceaccounts/default", lambda sa: True, timeout=30)
    return ns
