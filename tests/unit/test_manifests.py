from pathlib import Path

import yaml

from controller.core.webhook_configuration import ANNOTATED, webhook_configuration

MANIFESTS = Path(__file__).resolve().parents[2] / "manifests"


def test_the_webhook_manifest_is_what_the_code_renders():
    (on_disk,) = yaml.safe_load_all((MANIFESTS / "webhook.yaml").read_text())
    assert on_disk == webhook_configuration(name="kubectl-oras", own_namespace="kubectl-oras-system", ca_bundle="",
                                            service="kubectl-oras-webhook")


def test_only_annotated_pods_can_fail_closed_and_our_namespace_is_excluded():
    (config,) = yaml.safe_load_all((MANIFESTS / "webhook.yaml").read_text())
    fail = [w for w in config["webhooks"] if w["failurePolicy"] == "Fail"]
    assert [w["matchConditions"][0]["expression"] for w in fail] == [ANNOTATED]
    for w in config["webhooks"]:
        assert w["sideEffects"] == "None" and w["timeoutSeconds"] <= 10
        excluded = w["namespaceSelector"]["matchExpressions"][0]
        assert excluded["operator"] == "NotIn" and set(excluded["values"]) == {"kubectl-oras-system", "kube-system"}


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
