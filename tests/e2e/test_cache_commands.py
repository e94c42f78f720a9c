"""Tier 3: the user's commands against a real node, as `kubectl oras …` found by kubectl's own plugin
discovery (an executable `kubectl-oras` on PATH): create-cache --wait, then push and pull through
the port-forward the real kubelet serves (and the Python API, to the same cache), byte for byte,
with the cache's auth on and its password read from its Secret (never shown); tags, ls, gc and rm
aimed at the cache by name; a missing tag answered with the tags there are; status of the Ready
cache; the Python API's session making all its calls through one port-forward, and its NotFound
through a cache. The same session again from the krew release: the frozen bundle scripts/release.sh
builds, installed by the real krew, with no Python of ours on PATH or PYTHONPATH (in this module, so the
node's controller is started once for both).
"""

from __future__ import annotations

import base64
import json
import os
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import kubectl_oras
from kubectl_oras.kube.portforward import PortForward
from kubectl_oras.oci.errors import NotFound
from tests.cluster.apply import new_namespace
from tests.e2e.test_workflow_on_a_node import cluster, get  # noqa: F401 - fixture
from tests.packaging.release import krew, release_build
from tests.packaging.release import kubectl as built_kubectl
from tests.support.plugin import plugin_environment

pytestmark = pytest.mark.usefixtures("cluster")


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict[str, str]:
    """An environment whose PATH has this checkout's `kubectl-oras` (and kubectl), nothing else of ours."""
    return plugin_environment(tmp_path_factory.mktemp("bin"))


@contextmanager
def counting_port_forwards() -> Iterator[list[PortForward]]:
    """Every port-forward started in this process while in the block."""
    opened: list[PortForward] = []
    start = PortForward.start

    def counted(self: PortForward) -> None:
        opened.append(self)
        start(self)

    PortForward.start = counted  # type: ignore[method-assign]
    try:
        yield opened
    finally:
        PortForward.start = start  # type: ignore[method-assign]


def kubectl(env: dict[str, str], *args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    return subprocess.run(["kubectl", *args], env=env, capture_output=True, text=True, timeout=timeout)


def test_push_and_pull_through_the_kubelets_port_forward_as_a_kubectl_plugin(cluster, plugin_env, tmp_path):  # noqa: F811
    cp, _ = cluster
    ns = new_namespace(cp, "lab")
    try:
        run_the_users_commands(cp, ns, dict(plugin_env, KUBECONFIG=str(cp.kubeconfig)), tmp_path)
    finally:
        cp.session().delete(f"{cp.server}/api/v1/namespaces/{ns}")  # the node runs the later tests' pods too


def test_the_krew_installed_bundle_runs_the_same_session(cluster, tmp_path):  # noqa: F811
    """The bundle's own aiohttp and websocket stack through the kubelet's port-forward."""
    cp, _ = cluster
    release = release_build()
    krew_root = tmp_path / "krew"
    env = {"PATH": f"{krew_root}/bin:{krew()}:{built_kubectl().parent}:/usr/bin:/bin", "HOME": str(tmp_path),
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
        cp.session().delete(f"{cp.server}/api/v1/namespaces/{ns}")


def run_the_users_commands(cp, ns: str, env: dict[str, str], tmp_path: Path) -> None:

    listed = kubectl(env, "plugin", "list")
    assert "kubectl-oras" in listed.stdout, listed.stdout + listed.stderr

    made = kubectl(env, "oras", "create-cache", "-n", ns, "--wait", "--timeout", "3m")
    assert made.returncode == 0, made.stderr
    cache = get(cp, f"/apis/cache.converged-computing.github.io/v1alpha1/namespaces/{ns}/orascaches/oras").json()
    secret = get(cp, f"/api/v1/namespaces/{ns}/secrets/{cache['status']['authSecret']}").json()
    password = base64.b64decode(secret["data"]["ORAS_PASS"]).decode()

    results = tmp_path / "analysis"
    (results / "nested").mkdir(parents=True)
    big, small = os.urandom(6 << 20) + b"tail", b"cpu 4\nmemory 8G\n"
    (results / "nested" / "big.bin").write_bytes(big)
    (results / "summary.txt").write_bytes(small)
    log = tmp_path / "lammps.out"
    log.write_bytes(os.urandom(1 << 20))
    for ref, path in (("metric/hwloc:iter-0", results), ("metric/lammps:iter-0", log), ("metric/lammps:iter-1", log)):
        pushed = kubectl(env, "oras", "push", ref, str(path), "-n", ns, "-o", "json")
        assert pushed.returncode == 0, pushed.stderr
        out = json.loads(pushed.stdout)
        assert out["reference"] == ref and out["cache"] == f"{ns}/oras"

    data = tmp_path / "data"
    pulled = kubectl(env, "oras", "pull", "metric/hwloc:iter-0", "-o", str(data), "-n", ns)
    assert pulled.returncode == 0, pulled.stderr
    assert pulled.stdout.splitlines()[0] == f"Pulled metric/hwloc:iter-0 (cache {ns}/oras)"
    assert (data / "analysis" / "nested" / "big.bin").read_bytes() == big
    assert (data / "analysis" / "summary.txt").read_bytes() == small
    lammps = kubectl(env, "oras", "pull", "metric/lammps:iter-1", "-o", str(data), "-n", ns)
    assert lammps.returncode == 0, lammps.stderr
    assert (data / "lammps.out").read_bytes() == log.read_bytes()

    tags = kubectl(env, "oras", "tags", "metric/lammps", "-n", ns, "-o", "json")
    assert json.loads(tags.stdout)["tags"] == ["iter-0", "iter-1"], tags.stderr
    repositories = kubectl(env, "oras", "ls", "-n", ns)
    assert repositories.stdout.split() == ["metric/hwloc", "metric/lammps"], repositories.stderr
    missing = kubectl(env, "oras", "pull", "metric/lammps:iter-7", "-o", str(tmp_path / "none"), "-n", ns)
    assert missing.returncode == 1
    assert missing.stderr.strip() == ("error: pull metric/lammps:iter-7: not found: manifest unknown; tags in "
                                      f"metric/lammps: iter-0, iter-1 (cache {ns}/oras)"), missing.stderr
    planned = kubectl(env, "oras", "gc", "--keep-last", "1", "--dry-run", "-n", ns, "-o", "json")
    assert planned.returncode == 0, planned.stderr
    would = {(v["repository"], v["tag"]) for v in json.loads(planned.stdout)["tags"] if v["result"] == "would-delete"}
    # iter-0 and the tag that indexes its provenance statement (docs/retention.md)
    digest = kubectl(env, "oras", "inspect", "metric/lammps:iter-0", "-n", ns, "-o", "jsonpath={.digest}").stdout
    assert digest.startswith("sha256:"), digest
    assert would == {("metric/lammps", "iter-0"), ("metric/lammps", "sha256-" + digest.removeprefix("sha256:"))}
    removed = kubectl(env, "oras", "rm", "metric/lammps:iter-0", "-n", ns)
    assert removed.returncode == 0 and removed.stdout.startswith(f"Deleted metric/lammps:iter-0 (cache {ns}/oras)")

    # The Python API, in this process, to the same cache by name: each module-level call opens a
    # port-forward of its own, a session one for all its calls; a missing tag is NotFound.
    with counting_port_forwards() as opened:
        got = kubectl_oras.pull("metric/hwloc:iter-0", str(tmp_path / "api"), namespace=ns,
                                kubeconfig=str(cp.kubeconfig))
        assert got.reference == "metric/hwloc:iter-0"
        assert (tmp_path / "api" / "analysis" / "summary.txt").read_bytes() == small
        assert kubectl_oras.tags("metric/lammps", namespace=ns, kubeconfig=str(cp.kubeconfig)) == ["iter-1"]
        with pytest.raises(NotFound) as gone:
            kubectl_oras.pull("metric/lammps:iter-7", str(tmp_path / "none"), namespace=ns, kubeconfig=str(cp.kubeconfig))
        assert str(gone.value) == ("pull metric/lammps:iter-7: not found: manifest unknown; tags in metric/lammps: "
                                   f"iter-1 (cache {ns}/oras)")
        assert len(opened) == 3
        with kubectl_oras.session(namespace=ns, kubeconfig=str(cp.kubeconfig)) as oras:
            pushed = oras.push("metric/api:v1", [str(log)])
            assert pushed.reference == "metric/api:v1"
            assert oras.tags("metric/api") == ["v1"]
            assert oras.pull("metric/api:v1", str(tmp_path / "session")).digest == pushed.digest
            with pytest.raises(NotFound, match=f"tags in metric/api: v1 \\(cache {ns}/oras\\)$"):
                oras.pull("metric/api:v9", str(tmp_path / "none"))
            assert oras.tags("metric/lammps") == ["iter-1"]
        assert len(opened) == 4, "one session, one port-forward"
    assert (tmp_path / "session" / "lammps.out").read_bytes() == log.read_bytes()

    status = kubectl(env, "oras", "status", "-n", ns, "-o", "json")
    assert status.returncode == 0 and json.loads(status.stdout)[0]["ready"] is True, status.stdout + status.stderr
    for done in (made, pulled, lammps, tags, repositories, missing, planned, removed, status):
        assert password not in done.stdout + done.stderr
