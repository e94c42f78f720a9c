"""Tier 3: the krew release against a real node. The frozen bundle scripts/release.sh builds,
installed by the real krew, found by kubectl's plugin discovery with no Python of ours on PATH nor
PYTHONPATH, runs the user's session of tests/e2e/test_cache_commands.py: create-cache --wait, push
and pull through the pure-Python port-forward to the real kubelet (the bundle's own websocket
stack), tags, ls, gc, rm, status; the password never shown."""

from __future__ import annotations

import subprocess

from tests.cluster.apply import new_namespace
from tests.e2e.test_cache_commands import run_the_users_commands
from tests.e2e.test_workflow_on_a_node import cluster  # noqa: F401 - fixture
from tests.packaging.release import krew, kubectl, release_build


def test_the_krew_installed_bundle_pulls_from_a_cache_through_the_port_forward(cluster, tmp_path):  # noqa: F811
    cp, _ = cluster
    release = release_build()
    krew_root = tmp_path / "krew"
    env = {"PATH": f"{krew_root}/bin:{krew()}:{kubectl().parent}:/usr/bin:/bin", "HOME": str(tmp_path),
           "KREW_ROOT": str(krew_root), "KREW_NO_UPGRADE_CHECK": "1", "KUBECONFIG": str(cp.kubeconfig)}
    subprocess.run(["kubectl", "krew", "install", f"--manifest={release.manifest}", f"--archive={release.archive}"],
                   env=env, check=True, capture_output=True, timeout=300)
    assert (krew_root / "bin" / "kubectl-oras").resolve().is_relative_to(krew_root / "store" / "oras")
    work = tmp_path / "work"
    work.mkdir()
    ns = new_namespace(cp, "krew")
    try:
        run_the_users_commands(cp, ns, env, work)
    finally:
        cp.session().delete(f"{cp.server}/api/v1/namespaces/{ns}")  # the node runs the later tests' pods too
