"""`kubectl oras install`'s pure parts: the rendered manifests, the readiness it waits for, and the
controller's version read back from its Deployment."""

from __future__ import annotations

import pytest
import yaml

from kubectl_oras import __version__
from kubectl_oras.cluster.install import (
    RESOURCES,
    crd_established,
    deployment_state,
    endpoints_ready,
    image_tag,
    manifest_dir,
    pod_problems,
    render,
    to_yaml,
    trusting_the_live_ca,
)
from kubectl_oras.cluster.version import version_of


def test_render_follows_the_kustomization_and_sets_the_image_everywhere():
    kustomization = yaml.safe_load((manifest_dir() / "kustomization.yaml").read_text())
    docs = render("mirror.example.com/kubectl-oras:9")
    assert docs[0]["kind"] == "Namespace" and docs[-1]["kind"] == "MutatingWebhookConfiguration"
    assert len(kustomization["resources"]) == 9 and all(d["kind"] in RESOURCES for d in docs)
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    assert container["image"] == "mirror.example.com/kubectl-oras:9"
    assert {"name": "KUBECTL_ORAS_IMAGE", "value": "mirror.example.com/kubectl-oras:9"} in container["env"]
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == "9"
    assert _deployment(render())["spec"]["template"]["spec"]["containers"][0]["image"] == f"kubectl-oras:{__version__}"


def test_the_webhooks_empty_ca_bundle_is_not_applied_over_the_one_the_webhook_sets():
    webhook = render()[-1]
    assert all("caBundle" not in w["clientConfig"] for w in webhook["webhooks"])
    assert all(w["clientConfig"]["service"]["name"] == "kubectl-oras-webhook" for w in webhook["webhooks"])


def test_the_dry_run_yaml_reads_back_to_the_same_objects_without_aliases():
    text = to_yaml(render())
    assert "&id" not in text and list(yaml.safe_load_all(text)) == render()


def test_readiness_of_the_pieces():
    assert crd_established({"status": {"conditions": [{"type": "Established", "status": "True"}]}})
    assert not crd_established({})
    ready = {"metadata": {"generation": 2}, "spec": {"replicas": 2},
             "status": {"observedGeneration": 2, "availableReplicas": 2, "updatedReplicas": 2}}
    assert deployment_state(ready) == (True, "2/2 controller replicas available")
    assert deployment_state({**ready, "status": {"observedGeneration": 1}})[1] == \
        "0/2 controller replicas available (the new spec is not picked up yet)"
    assert endpoints_ready([{"endpoints": [{"conditions": {"ready": False}}, {"conditions": {"ready": True}}]}]) == 1
    assert pod_problems([{"metadata": {"name": "a"}, "status": {"phase": "Pending"}}]) == "a: Pending: on no node yet"
    assert pod_problems([{"metadata": {"name": "a"}, "spec": {"nodeName": "n"}, "status": {
        "phase": "Pending", "containerStatuses": [{"state": {"waiting": {"reason": "ImagePullBackOff",
                                                                          "message": "no such image"}}}]}}]) == \
        "a: ImagePullBackOff: no such image"


def test_the_controllers_version_is_its_label_else_its_image_tag():
    assert version_of(_deployment(render())) == __version__
    assert version_of({"spec": {"template": {"spec": {"containers": [{"image": "r.io:5000/kubectl-oras:1.2@sha256:ab"}]}}}}) \
        == "1.2"
    assert version_of({"spec": {"template": {"spec": {"containers": [{"image": "r.io:5000/kubectl-oras"}]}}}}) is None


@pytest.mark.parametrize("image, version", [
    ("kubectl-oras:0.1.0", "0.1.0"),  # an older release: its own version, not this plugin's
    ("r.io:5000/kubectl-oras:1.2@sha256:" + "a" * 64, "1.2"),
    ("r.io:5000/kubectl-oras@sha256:" + "a" * 64, None),  # a digest alone: no label, version reads the image
    ("r.io:5000/kubectl-oras", None),
    ("kubectl-oras:" + "v" * 100, None),  # a tag too long for a label value
])
def test_the_version_label_is_the_installed_images_tag(image, version):
    deployment = _deployment(render(image))
    assert deployment["metadata"]["labels"].get("app.kubernetes.io/version") == version
    assert image_tag(image) == version
    assert deployment["metadata"]["labels"]["app.kubernetes.io/name"] == "kubectl-oras"  # the other labels stay
    if version is not None:
        assert version_of(deployment) == version
    else:
        assert version_of(deployment) == version_of({"spec": deployment["spec"]})  # what the image says


def _deployment(docs):
    return next(d for d in docs if d["kind"] == "Deployment")


def test_an_entry_new_in_this_release_trusts_the_ca_the_live_entries_trust():
    """An upgrade adds a webhook entry: applied without a caBundle it would trust no CA until a
    replica restarts, and refuse pods meanwhile if it fails closed."""
    webhook = render()[-1]
    names = [w["name"] for w in webhook["webhooks"]]
    live = {"webhooks": [{"name": names[0], "clientConfig": {"caBundle": "Q0E="}}, {"name": "retired.kubectl-oras.dev"},
                         {"name": names[1], "clientConfig": {"caBundle": "b2xk"}}]}
    applied = trusting_the_live_ca(webhook, live)
    bundles = {w["name"]: w["clientConfig"].get("caBundle") for w in applied["webhooks"]}
    # Each live entry keeps the CA it trusts (applied as it is, so that an install again never
    # takes back a CA an install set); a new one trusts the live entries'.
    assert bundles == {names[0]: "Q0E=", names[1]: "b2xk", **{name: "Q0E=" for name in names[2:]}}
    assert all("caBundle" not in w["clientConfig"] for w in webhook["webhooks"])  # the rendered one is untouched
    assert trusting_the_live_ca(webhook, None) == webhook  # a first install: the webhook sets it
    assert trusting_the_live_ca(webhook, {"webhooks": [{"name": names[0], "clientConfig": {}}]}) == webhook
