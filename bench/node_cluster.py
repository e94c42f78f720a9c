"""A local cluster for the node benchmarks: the project image loaded on every node, the
controller installed as `kubectl oras install` puts it, and a namespace holding a Ready cache."""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubectl_oras.release import __version__  # noqa: E402
from localcluster.cluster import LocalCluster  # noqa: E402
from localcluster.project_image import project_archive  # noqa: E402
from tests.cluster.apply import apply, new_namespace, wait_for  # noqa: E402
from tests.e2e.test_workflow_on_a_node import GROUP, ready  # noqa: E402
from tests.support.cluster_fixtures import TEST_NETWORK  # noqa: E402


@contextlib.contextmanager
def cluster_with_cache(work: Path, *, nodes: int, prefix: str) -> Iterator[tuple[LocalCluster, str]]:
    """The cluster and the namespace of its cache (`oras`, Ready); stopped, and ``work`` removed, after."""
    cluster = LocalCluster.start(work / "cluster", TEST_NETWORK, nodes=nodes,
                                 images=((project_archive(), (f"docker.io/library/kubectl-oras:{__version__}",)),))
    try:
        cp = cluster.cp
        env = {**os.environ, "KUBECONFIG": str(cp.kubeconfig)}
        subprocess.run(["kubectl-oras", "install"], env=env, check=True, stdout=subprocess.DEVNULL)
        ns = new_namespace(cp, prefix)
        apply(cp, {"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache",
                   "metadata": {"name": "oras", "namespace": ns}, "spec": {}})
        wait_for(cp, f"/{GROUP}/namespaces/{ns}/orascaches/oras", ready)
        yield cluster, ns
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)
