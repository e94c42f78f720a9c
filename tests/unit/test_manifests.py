from pathlib import Path

import yaml

from controller.core.cache_namespaces import LABEL, VALUE
from controller.core.webhook_configuration import ANNOTATED, OWNED, WORKLOAD_ANNOTATED, webhook_configuration

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


def test_the_webhook_manifest_is_what_the_code_renders():
    (on_disk,) = yaml.safe_load_all((MANIFESTS / "webhook.yaml").read_text())
    assert on_disk == webhook_configuration(name="kubectl-oras", own_namespace="kubectl-oras-system", ca_bundle="",
                                            service="kubectl-oras-webhook")


def selects(selector, labels):
    """Whether a label selector of matchExpressions (In, NotIn, Exists, DoesNotExist) selects ``labels``."""
    for e in selector["matchExpressions"]:
        present = e["key"] in labels
        if not {"In": present and labels.get(e["key"]) in e.get("values", []),
                "NotIn": not present or labels[e["key"]] not in e.get("values", []),
                "Exists": present, "DoesNotExist": not present}[e["operator"]]:
            return False
    return True


def called_for(config, namespace, labels=None):
    """(webhook name, failurePolicy) of each entry whose namespaceSelector takes a namespace."""
    ns_labels = {"kubernetes.io/metadata.name": namespace, **(labels or {})}
    return [(w["name"], w["failurePolicy"]) for w in config["webhooks"] if selects(w["namespaceSelector"], ns_labels)]


def test_pods_owned_by_a_workload_fail_closed_only_in_a_namespace_that_holds_a_cache():
    """An owner's annotations are invisible to the apiserver's matchConditions: in a namespace the
    controller labels for its cache, such a pod is refused while the webhook is unreachable; in
    any other, it is admitted as it is (a webhook outage must not stop every Job in the cluster)."""
    (config,) = yaml.safe_load_all((MANIFESTS / "webhook.yaml").read_text())
    annotated = ("annotated.pods.kubectl-oras.dev", "Fail")
    owned_fail_closed = ("owned.pods.in-cache-namespaces.kubectl-oras.dev", "Fail")
    owned_fail_open = ("owned.pods.kubectl-oras.dev", "Ignore")
    workloads = ("annotated.workloads.kubectl-oras.dev", "Ignore")  # a workload runs nothing: its pods are checked
    assert called_for(config, "lab", {LABEL: VALUE}) == [annotated, owned_fail_closed, workloads]
    assert called_for(config, "lab", {LABEL: "anything"}) == [annotated, owned_fail_closed, workloads]
    assert called_for(config, "elsewhere") == [annotated, owned_fail_open, workloads]
    # Never our own namespace nor kube-system, whatever labels they carry (a cache may be made there).
    for namespace in ("kubectl-oras-system", "kube-system"):
        assert called_for(config, namespace, {LABEL: VALUE}) == []
        assert called_for(config, namespace) == []


def test_the_annotated_entry_takes_annotated_pods_and_the_owned_ones_only_unannotated_owned_pods():
    (config,) = yaml.safe_load_all((MANIFESTS / "webhook.yaml").read_text())
    conditions = {w["name"]: [c["expression"] for c in w["matchConditions"]] for w in config["webhooks"]}
    assert conditions == {"annotated.pods.kubectl-oras.dev": [ANNOTATED],
                          "owned.pods.in-cache-namespaces.kubectl-oras.dev": [f"!({ANNOTATED})", OWNED],
                          "owned.pods.kubectl-oras.dev": [f"!({ANNOTATED})", OWNED],
                          "annotated.workloads.kubectl-oras.dev": [WORKLOAD_ANNOTATED]}
    for kind in ("Job", "ReplicaSet", "StatefulSet", "DaemonSet"):
        assert f"'{kind}'" in OWNED
    for w in config["webhooks"]:
        assert w["sideEffects"] == "None" and w["timeoutSeconds"] <= 10
        if w["name"] != "annotated.pods.kubectl-oras.dev":  # a cache's own registry pods never wait for us
            assert not selects(w["objectSelector"], {"app.kubernetes.io/managed-by": "kubectl-oras"})
            assert selects(w["objectSelector"], {"job-name": "train"})


def test_workloads_go_to_validate_at_create_and_update_and_pods_to_mutate_at_create():
    (config,) = yaml.safe_load_all((MANIFESTS / "webhook.yaml").read_text())
    calls = {w["name"]: (w["clientConfig"]["service"]["path"],
                         sorted({(g, r, *w_rule["operations"]) for w_rule in w["rules"]
                                 for g in w_rule["apiGroups"] for r in w_rule["resources"]}))
             for w in config["webhooks"]}
    assert calls.pop("annotated.workloads.kubectl-oras.dev") == ("/validate", [
        ("", "replicationcontrollers", "CREATE", "UPDATE"), ("apps", "daemonsets", "CREATE", "UPDATE"),
        ("apps", "deployments", "CREATE", "UPDATE"), ("apps", "replicasets", "CREATE", "UPDATE"),
        ("apps", "statefulsets", "CREATE", "UPDATE"), ("batch", "cronjobs", "CREATE", "UPDATE"),
        ("batch", "jobs", "CREATE", "UPDATE"), ("jobset.x-k8s.io", "jobsets", "CREATE", "UPDATE")])
    assert list(calls.values()) == [("/mutate", [("", "pods", "CREATE")])] * 3


def test_a_url_configuration_sends_workloads_to_validate_beside_mutate():
    config = webhook_configuration(name="x", own_namespace="ns", ca_bundle="", url="https://127.0.0.1:8443/mutate")
    assert [w["clientConfig"]["url"] for w in config["webhooks"]] == ["https://127.0.0.1:8443/mutate"] * 3 + [
        "https://127.0.0.1:8443/validate"]


def test_the_controller_may_label_namespaces_and_nothing_more_on_them():
    docs = yaml.safe_load_all((MANIFESTS / "rbac-controller.yaml").read_text())
    role = next(d for d in docs if d and d["kind"] == "ClusterRole")
    on_namespaces = [r for r in role["rules"] if "namespaces" in r["resources"]]
    assert [sorted(r["verbs"]) for r in on_namespaces] == [["list", "patch", "watch"]]


def test_kustomization_lists_every_manifest():
    kustomization = yaml.safe_load((MANIFESTS / "kustomization.yaml").read_text())
    listed = sorted(p.name for p in MANIFESTS.glob("*.yaml") if p.name != "kustomization.yaml")
    assert sorted(kustomization["resources"]) == listed
    for name in kustomization["resources"]:
        assert all(doc.get("kind") for doc in yaml.safe_load_all((MANIFESTS / name).read_text()) if doc)


def test_the_deployment_runs_and_injects_this_releases_image():
    from kubectl_oras import __version__

    docs = yaml.safe_load_all((MANIFESTS / "deployment.yaml").read_text())
    deployment = next(d for d in docs if d and d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    image = f"kubectl-oras:{__version__}"
    assert container["image"] == image
    assert {"name": "KUBECTL_ORAS_IMAGE", "value": image} in container["env"]
    # `kubectl oras version` reads the controller's version from this label (cluster/version.py).
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == __version__
