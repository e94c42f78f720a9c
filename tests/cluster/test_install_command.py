"""Tier 2: `kubectl oras install` for real, as an admin, into the test apiserver: what it applies,
and that its wait (no node here: the controller's pods never run) ends in a clear timeout with
progress; then `uninstall`, which refuses while a cache exists and deletes everything with --force.
The wait succeeding is tier 3's."""

from __future__ import annotations

import base64
import time

import yaml

from controller.core.certificates import make_serving_cert
from controller.core.webhook_configuration import OWNED_PODS_IN_CACHE_NAMESPACES, webhook_configuration
from kubectl_oras import __version__
from kubectl_oras.cluster.version import read_controller_version
from tests.cluster.apply import apply, wait_for
from tests.cluster.test_cluster_commands import cli

NS = "kubectl-oras-system"


def test_install_dry_run_prints_every_object_with_this_releases_image():
    done = cli("install", "--dry-run", kubeconfig=None)
    assert done.returncode == 0, done.stderr
    docs = list(yaml.safe_load_all(done.stdout))
    assert docs[0]["kind"] == "Namespace" and docs[-1]["kind"] == "MutatingWebhookConfiguration"
    deployment = next(d for d in docs if d["kind"] == "Deployment")
    assert deployment["spec"]["template"]["spec"]["containers"][0]["image"] == f"kubectl-oras:{__version__}"


def test_install_applies_waits_with_progress_and_uninstall_cleans_up(control_plane):
    admin = control_plane.kubeconfig
    s, server = control_plane.session(), control_plane.server
    installed = cli("install", "--timeout", "6s", kubeconfig=admin)
    assert installed.returncode == 1
    lines = installed.stderr.strip().splitlines()
    assert lines[0] == f"applied Namespace {NS}" and f"applied Deployment {NS}/kubectl-oras" in lines
    assert any(line.startswith("waiting: ") and "0/2 controller replicas available" in line for line in lines)
    assert lines[-1].startswith("error: not ready after 6s: ") and "has no ready endpoint" in lines[-1]
    assert "on no node yet" in lines[-1] or "no pods yet" in lines[-1]

    deployment = s.get(f"{server}/apis/apps/v1/namespaces/{NS}/deployments/kubectl-oras").json()
    assert deployment["metadata"]["labels"]["app.kubernetes.io/version"] == __version__
    assert any(m["manager"] == "kubectl-oras" and m["operation"] == "Apply" for m in deployment["metadata"]["managedFields"])
    webhook = s.get(f"{server}/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/kubectl-oras").json()
    assert webhook["webhooks"][0]["clientConfig"]["service"]["name"] == "kubectl-oras-webhook"
    assert read_controller_version(kubeconfig=str(admin)) == __version__
    again = cli("install", "--no-wait", kubeconfig=admin)  # idempotent
    assert again.returncode == 0, again.stderr

    # The webhook has no backend here: take it away before a pod is made (the cache's pod is not annotated).
    apply(control_plane, {"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache",
                          "metadata": {"name": "kept", "namespace": "default"}, "spec": {"deploy": False}})
    refused = cli("uninstall", kubeconfig=admin)
    assert refused.returncode == 1
    assert "OrasCache(s) exist (" in refused.stderr and "default/kept" in refused.stderr and "--force" in refused.stderr
    removed = cli("uninstall", "--force", kubeconfig=admin)
    assert removed.returncode == 0, removed.stderr
    assert "deleted MutatingWebhookConfiguration kubectl-oras" in removed.stderr.splitlines()[1]
    assert f"deleted Namespace {NS}" in removed.stderr and removed.stdout.startswith("uninstalled: ")
    deadline = time.monotonic() + 120  # the namespace goes once the controller manager has emptied it
    while s.get(f"{server}/api/v1/namespaces/{NS}").status_code != 404:
        assert time.monotonic() < deadline, "kubectl-oras-system was not deleted"
        time.sleep(1)
    assert read_controller_version(kubeconfig=str(admin), timeout=2) is None
    said = cli("version", kubeconfig=admin)  # the line says why, instead of being left out
    assert said.stdout.splitlines()[1] == (f"controller unknown: not installed (no Deployment {NS}/kubectl-oras; "
                                           "kubectl oras install)"), said.stderr


def test_an_upgrade_that_adds_a_webhook_entry_has_it_trust_the_webhooks_ca(control_plane):
    """The previous release's configuration had no fail-closed entry for owned pods: an install
    over it adds one, which must trust the CA the running webhook serves from (set on the others),
    or every pod a Job makes where a cache is would be refused until a replica restarts."""
    admin = control_plane.kubeconfig
    s, server = control_plane.session(), control_plane.server
    ca = base64.b64encode(make_serving_cert(hosts=["kubectl-oras-webhook.kubectl-oras-system.svc"]).ca_pem).decode()
    earlier = webhook_configuration(name="kubectl-oras", own_namespace=NS, ca_bundle=ca, service="kubectl-oras-webhook")
    earlier["webhooks"] = [w for w in earlier["webhooks"] if w["name"] != OWNED_PODS_IN_CACHE_NAMESPACES]
    apply(control_plane, earlier)
    try:
        upgraded = cli("install", "--no-wait", kubeconfig=admin)
        assert upgraded.returncode == 0, upgraded.stderr
        live = s.get(f"{server}/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/kubectl-oras").json()
        every_entry_trusts_ca = {w["name"]: ca for w in webhook_configuration(
            name="kubectl-oras", own_namespace=NS, ca_bundle=ca, service="kubectl-oras-webhook")["webhooks"]}
        assert {w["name"]: w["clientConfig"].get("caBundle") for w in live["webhooks"]} == every_entry_trusts_ca
        # Installed again (the same release): the CA install gave the new entry is not taken back
        # (a server-side apply that leaves out a field it set removes it).
        again = cli("install", "--no-wait", kubeconfig=admin)
        assert again.returncode == 0, again.stderr
        live = s.get(f"{server}/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/kubectl-oras").json()
        assert {w["name"]: w["clientConfig"].get("caBundle") for w in live["webhooks"]} == every_entry_trusts_ca
    finally:
        # The CRD install made again serves lists once its storage is up (503 "storage is
        # (re)initializing" until then): uninstall lists the caches first.
        wait_for(control_plane, "/apis/cache.converged-computing.github.io/v1alpha1/orascaches", lambda _: True, timeout=60)
        removed = cli("uninstall", "--force", kubeconfig=admin)
        assert removed.returncode == 0, removed.stderr
        deadline = time.monotonic() + 120
        while s.get(f"{server}/api/v1/namespaces/{NS}").status_code != 404:
            assert time.monotonic() < deadline, "kubectl-oras-system was not deleted"
            time.sleep(1)
