"""Tier 3: results moved out of a cache on the local cluster, as `kubectl oras …` a user runs:
`cp` from the cache by name (through the kubelet's port-forward, its credentials from its Secret)
to a registry on this machine's loopback, digest and bytes kept; a pattern pull of the cache's
tags, each into its own directory; `tag` in the cache."""

from __future__ import annotations

import json
import os

from tests.cluster.apply import new_namespace
from tests.e2e.test_cache_commands import kubectl, plugin_env  # noqa: F401 - fixture
from tests.e2e.test_workflow_on_a_node import cluster  # noqa: F401 - fixture
from tests.support.registries import start_registry


def test_cp_from_a_cache_to_a_loopback_registry_then_tag_and_a_pattern_pull(  # noqa: F811
        cluster, plugin_env, tmp_path):  # noqa: F811
    cp, _ = cluster
    ns = new_namespace(cp, "cp")
    registry = start_registry("distribution-3")
    env = dict(plugin_env, KUBECONFIG=str(cp.kubeconfig))
    try:
        made = kubectl(env, "oras", "create-cache", "-n", ns, "--wait", "--timeout", "3m")
        assert made.returncode == 0, made.stderr
        runs = {}
        for tag in ("run-1", "run-2"):
            work = tmp_path / tag
            work.mkdir()
            (work / "part.bin").write_bytes(os.urandom(3 << 20))
            pushed = kubectl(env, "oras", "push", f"exp1/partial:{tag}", str(work / "part.bin"), "-n", ns, "-o", "json")
            assert pushed.returncode == 0, pushed.stderr
            runs[tag] = (json.loads(pushed.stdout)["digest"], (work / "part.bin").read_bytes())

        copied = kubectl(env, "oras", "cp", "exp1/partial:run-2", f"{registry.host}/archive/partial", "--plain-http",
                         "-n", ns, "-o", "json")
        assert copied.returncode == 0, copied.stderr
        said = json.loads(copied.stdout)
        assert said["sourceCache"] == f"{ns}/oras" and said["digest"] == runs["run-2"][0]
        assert said["reference"] == f"{registry.host}/archive/partial:run-2" and said["bytesSent"] > 3 << 20
        assert (said["referrers"], said["referrersNotCopied"]) == (1, [])  # the push's statement came along
        out = tmp_path / "out"
        pulled = kubectl(env, "oras", "pull", f"{registry.host}/archive/partial:run-2", "-o", str(out), "--plain-http")
        assert pulled.returncode == 0, pulled.stderr
        assert (out / "part.bin").read_bytes() == runs["run-2"][1]

        tagged = kubectl(env, "oras", "tag", "exp1/partial:run-1", "best", "-n", ns)
        assert tagged.returncode == 0, tagged.stderr
        parts = tmp_path / "parts"
        several = kubectl(env, "oras", "pull", "exp1/partial:run-*", "exp1/partial:best", "-o", str(parts), "-n", ns)
        assert several.returncode == 0, several.stderr
        assert (parts / "run-1" / "part.bin").read_bytes() == (parts / "part.bin").read_bytes() == runs["run-1"][1]
        assert (parts / "run-2" / "part.bin").read_bytes() == runs["run-2"][1]

        listed = kubectl(env, "oras", "ls", "-n", ns)
        assert listed.stdout.split() == ["exp1/partial"], listed.stderr
    finally:
        registry.stop()
        cp.session().delete(f"{cp.server}/api/v1/namespaces/{ns}")
