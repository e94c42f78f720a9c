"""The MutatingWebhookConfiguration, as plain data (manifests/ and the controller render it).

Only pods that carry our annotations reach the webhook (matchConditions, CEL, GA in 1.30); pods
that carry none but are controlled by a Job or ReplicaSet/StatefulSet/DaemonSet reach it too, so
that the owner's annotations count (`kubectl oras annotate job/x` writes them on the Job, and the
pods a Job makes carry only its template's).

Which of them fail closed (refused while the webhook is unreachable: an outage, a rollout with no
replica ready, a review slower than its timeout):
- a pod with our annotations, anywhere but our own namespace and kube-system: it is a marked step;
- a pod such an owner makes in a namespace that holds an OrasCache (the controller labels those,
  cache_namespaces.LABEL): the apiserver cannot see the owner's annotations, so only the webhook
  can tell whether the pod is a marked step, and a marked step must never run without its agent.
  The Job (or ReplicaSet…) says FailedCreate with the apiserver's message, which names this
  entry, and makes the pod once the webhook is back.
The same pods in a namespace without a cache fail open: a webhook outage must not stop every Job
in the cluster (their annotations could only name a remote `registry` there; a cache they name
does not exist, and the webhook denies them while it is up).

A fourth entry reviews the workloads whose pod templates our annotations mark (Job, CronJob,
JobSet, Deployment, StatefulSet, DaemonSet, ReplicaSet, ReplicationController) at CREATE and
UPDATE, on the same server's /validate, which never patches: a bad annotation is refused at
`kubectl apply` rather than by every pod later. It fails open: a workload runs nothing itself, and
each pod it makes still passes the pod entries above, closed where they are closed.
"""

from __future__ import annotations

from typing import Any

from kubectl_oras.pods.annotations import PREFIX

from .cache_namespaces import LABEL, OWNER_KINDS

ANNOTATED = (f"has(object.metadata.annotations) && "
             f"object.metadata.annotations.exists(k, k.startsWith('{PREFIX}'))")
OWNED = ("has(object.metadata.ownerReferences) && object.metadata.ownerReferences.exists(r, "
         "has(r.controller) && r.controller && r.kind in [" + ", ".join(f"'{k}'" for k in OWNER_KINDS) + "])")


def _annotated_at(root: str, path: str) -> str:
    """CEL: ``root.path`` (a chain of fields that may be absent) has an annotation of ours; each
    step is guarded with has(), so an object without them gives false, never an error."""
    fields = [*path.split("."), "annotations"]
    steps = [f"has({root}.{'.'.join(fields[:i])})" for i in range(1, len(fields) + 1)]
    return " && ".join([*steps, f"{root}.{'.'.join(fields)}.exists(k, k.startsWith('{PREFIX}'))"])


# Where a workload's pods take their annotations from (kubectl_oras/pods/workloads.py: pod_templates):
# the object's own (its pods' owner, or what a Deployment copies to its ReplicaSets), a pod template,
# a CronJob's Job template and its pod template, a JobSet's Job templates and their pod templates.
WORKLOAD_ANNOTATED = " || ".join(f"({c})" for c in (
    *(_annotated_at("object", path) for path in ("metadata", "spec.template.metadata", "spec.jobTemplate.metadata",
                                                 "spec.jobTemplate.spec.template.metadata")),
    "has(object.spec) && has(object.spec.replicatedJobs) && object.spec.replicatedJobs.exists(j, "
    f"({_annotated_at('j', 'template.metadata')}) || ({_annotated_at('j', 'template.spec.template.metadata')}))",
))
# The workloads reviewed, by API group: every kind pod_templates walks.
WORKLOAD_RESOURCES = {"": ["replicationcontrollers"], "apps": ["deployments", "statefulsets", "daemonsets", "replicasets"],
                      "batch": ["jobs", "cronjobs"], "jobset.x-k8s.io": ["jobsets"]}
ANNOTATED_PODS = "annotated.pods.kubectl-oras.dev"
OWNED_PODS_IN_CACHE_NAMESPACES = "owned.pods.in-cache-namespaces.kubectl-oras.dev"
OWNED_PODS_ELSEWHERE = "owned.pods.kubectl-oras.dev"
ANNOTATED_WORKLOADS = "annotated.workloads.kubectl-oras.dev"


def webhook_configuration(*, name: str, own_namespace: str, ca_bundle: str, service: str | None = None,
                          url: str | None = None, timeout_seconds: int = 5) -> dict[str, Any]:
    """``ca_bundle`` is base64 PEM; give either the in-cluster ``service`` or a ``url`` (tests, dev),
    the server's /mutate address: the workloads' entry calls /validate beside it."""
    if (service is None) == (url is None):
        raise ValueError("give exactly one of service and url")

    def client_config(path: str) -> dict[str, Any]:
        if url:
            return {"caBundle": ca_bundle, "url": url.rsplit("/", 1)[0] + path}
        return {"caBundle": ca_bundle, "service": {"name": service, "namespace": own_namespace, "path": path, "port": 443}}
    # Never our own namespace (the webhook's own pods must start with no webhook up) nor kube-system,
    # whatever labels they carry (an OrasCache may be made in either).
    not_ours = {"key": "kubernetes.io/metadata.name", "operator": "NotIn", "values": [own_namespace, "kube-system"]}
    common = {
        "clientConfig": client_config("/mutate"),
        "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"], "resources": ["pods"],
                   "scope": "Namespaced"}],
        "namespaceSelector": {"matchExpressions": [not_ours]},
        "admissionReviewVersions": ["v1"],
        "sideEffects": "None",
        "timeoutSeconds": timeout_seconds,
        "reinvocationPolicy": "IfNeeded",
    }
    # Not our own registry pods and StatefulSets: nothing to inject, and a webhook outage must
    # not hold up a cache's registry.
    not_our_registries = {"matchExpressions": [{"key": "app.kubernetes.io/managed-by", "operator": "NotIn",
                                                "values": ["kubectl-oras"]}]}
    owned = {
        **common,
        "objectSelector": not_our_registries,
        "matchConditions": [{"name": "not-annotated", "expression": f"!({ANNOTATED})"},
                            {"name": "owned", "expression": OWNED}],
    }
    return {
        "apiVersion": "admissionregistration.k8s.io/v1",
        "kind": "MutatingWebhookConfiguration",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "kubectl-oras"}},
        "webhooks": [
            {"name": ANNOTATED_PODS, "failurePolicy": "Fail", **common,
             "matchConditions": [{"name": "annotated", "expression": ANNOTATED}]},
            {"name": OWNED_PODS_IN_CACHE_NAMESPACES, "failurePolicy": "Fail", **owned,
             "namespaceSelector": {"matchExpressions": [not_ours, {"key": LABEL, "operator": "Exists"}]}},
            {"name": OWNED_PODS_ELSEWHERE, "failurePolicy": "Ignore", **owned,
             "namespaceSelector": {"matchExpressions": [not_ours, {"key": LABEL, "operator": "DoesNotExist"}]}},
            {"name": ANNOTATED_WORKLOADS, "failurePolicy": "Ignore", **common,
             "clientConfig": client_config("/validate"),
             "rules": [{"apiGroups": [group], "apiVersions": ["*"], "operations": ["CREATE", "UPDATE"],
                        "resources": resources, "scope": "Namespaced"} for group, resources in WORKLOAD_RESOURCES.items()],
             "objectSelector": not_our_registries,
             "reinvocationPolicy": "Never",  # it changes nothing, so nothing another webhook does needs it again
             "matchConditions": [{"name": "annotated", "expression": WORKLOAD_ANNOTATED}]},
        ],
    }
