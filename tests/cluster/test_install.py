"""Tier 2: `kubectl apply -k manifests/` is the whole install: every object in it is accepted by a
real apiserver (server-side dry run: nothing is left behind to call a webhook with no pods)."""

from __future__ import annotations

import subprocess
from pathlib import Path

import yaml

from tests.cluster.apply import apply

REPO = Path(__file__).resolve().parents[2]


def test_kubectl_apply_k_manifests_is_accepted_whole(control_plane):
    rendered = subprocess.run(["kubectl", "kustomize", str(REPO / "manifests")], capture_output=True, text=True,
                              check=True).stdout
    kinds = sorted(doc["kind"] for doc in yaml.safe_load_all(rendered) if doc)
    assert set(kinds) == {"Namespace", "ServiceAccount", "CustomResourceDefinition", "ClusterRole", "ClusterRoleBinding",
                          "Role", "RoleBinding", "ConfigMap", "Deployment", "PodDisruptionBudget", "Service",
                          "MutatingWebhookConfiguration"}
    # A dry run does not create the namespace the other objects go in: it must exist already.
    apply(control_plane, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "kubectl-oras-system"}})
    done = subprocess.run(["kubectl", "--kubeconfig", str(control_plane.kubeconfig), "apply", "-k", str(REPO / "manifests"),
                           "--server-side", "--dry-run=server", "--force-conflicts"],
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    lines = [line for line in done.stdout.splitlines() if line.strip()]
    assert len(lines) == len(kinds) and all("serverside-applied (server dry run)" in line for line in lines), done.stdout
