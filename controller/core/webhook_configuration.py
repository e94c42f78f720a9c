"""The MutatingWebhookConfiguration, as plain data (manifests/ and the controller render it).

Only pods that carry our annotations reach the webhook (matchConditions, CEL, GA in 1.30); pods
that carry none but are controlled by a Job or ReplicaSet/StatefulSet/DaemonSet reach it through a
second entry so the owner's annotations count (a Job annotated after creation while suspended).
The first fails closed (an annotated pod must not run without its cache); the second fails
open (a webhook outage must not stop every Job in the cluster).
"""

from __future__ import annotations

from typing import Any

from kubectl_oras.pods.annotations import PREFIX

OWNER_KINDS = ("Job", "ReplicaSet", "StatefulSet", "DaemonSet")
ANNOTATED = (f"has(object.metadata.annotations) && "
             f"object.metadata.annotations.exists(k, k.startsWith('{PREFIX}'))")
OWNED = ("has(object.metadata.ownerReferences) && object.metadata.ownerReferences.exists(r, "
         "has(r.controller) && r.controller && r.kind in [" + ", ".join(f"'{k}'" for k in OWNER_KINDS) + "])")


def webhook_configuration(*, name: str, own_namespace: str, ca_bundle: str, service: str | None = None,
                          url: str | None = None, timeout_seconds: int = 5) -> dict[str, Any]:
    """``ca_bundle`` is base64 PEM; give either the in-cluster ``service`` or a ``url`` (tests, dev)."""
    if (service is None) == (url is None):
        raise ValueError("give exactly one of service and url")
    client_config: dict[str, Any] = {"caBundle": ca_bundle}
    if url:
        client_config["url"] = url
    else:
        client_config["service"] = {"name": service, "namespace": own_namespace, "path": "/mutate", "port": 443}
    common = {
        "clientConfig": client_config,
        "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"],
                   "scope": "Namespaced"}],
        "namespaceSelector": {"matchExpressions": [{"key": "kubernetes.io/metadata.name", "operator": "NotIn",
                                                    "values": [own_namespace, "kube-system"]}]},
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "timeoutSeconds": timeout_seconds,
        "reinvocationPolicy": "IfNeeded",
    }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "kubectl-oras"}},
        "webhooks": [
            {"name": "annotated.pods.kubectl-oras.dev", **common, "failurePolicy": "Fail",
             "matchConditions": [{"name": "annotated", "expression": ANNOTATED}]},
            # Not our own registry pods (made by the controller's StatefulSets): nothing to inject,
            # and a slow webhook must not hold up a cache's registry.
            {"name": "owned.pods.kubectl-oras.dev", **common, "failurePolicy": "Ignore",
             "objectSelector": {"matchExpressions": [{"key": "app.kubernetes.io/managed-by", "operator": "NotIn",
                                                      "values": ["kubectl-oras"]}]},
             "matchConditions": [{"name": "not-annotated", "expression": f"!({ANNOTATED})"},
                                 {"name": "owned", "expression": OWNED}]},
        ],
    }
