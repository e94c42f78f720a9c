"""Fixtures shared by every tier: real registry processes, the Go oras CLI, clients."""

from __future__ import annotations

import itertools
import os
import tempfile
from pathlib import Path

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.reference import Reference
from tests.support.cluster_fixtures import TEST_NETWORK
from tests.support.registries import KINDS, RegistryProcess, start_registry
from tests.support.tools import oras_cli

pytest_plugins = ["tests.support.slow_servers"]  # silent_registry, dripping_registry
_names = itertools.count()
TESTS = Path(__file__).resolve().parent

# The tier of every test, by its folder: `pytest -m tier0` runs exactly the pure tests.
TIERS = {
    "unit": "tier0",  # pure: no process, no network
    "registry": "tier1", "cli": "tier1", "agent": "tier1",  # registry processes, the Go oras CLI, the pod protocol
    "controller": "tier1",  # the controller's own servers on loopback (probes, metrics)
    "localcluster": "tier1",  # the local cluster's commands and sweeps, with processes but no cluster
    "packaging": "tier1",  # the krew release: the frozen bundle, krew and kubectl as processes, a chroot
    "cluster": "tier2", "webhook": "tier2",  # etcd + kube-apiserver (+ controller manager)
    "node": "tier3", "e2e": "tier3",  # + kubelet, containerd, kube-proxy, CoreDNS
}


def tier_of(path: Path) -> str:
    folder = path.resolve().relative_to(TESTS).parts[0]
    if folder not in TIERS:
        raise pytest.UsageError(f"tests/{folder}/ has no tier: add it to TIERS in tests/conftest.py")
    return TIERS[folder]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    for item in items:
        item.add_marker(tier_of(item.path))
    # A test that takes the machine's one local cluster for itself runs after all the others.
    items.sort(key=lambda item: item.get_closest_marker("whole_machine") is not None)


@pytest.fixture(scope="session", params=KINDS)
def registry(request: pytest.FixtureRequest) -> RegistryProcess:
    """A real registry process on loopback, once per kind for the session."""
    proc = start_registry(request.param)
    yield proc
    proc.stop()


@pytest.fixture(scope="session")
def any_registry() -> RegistryProcess:
    """One registry (distribution 2.8, as Debian ships it) for tests that do not depend on the kind."""
    proc = start_registry("distribution-2.8")
    yield proc
    proc.stop()


@pytest.fixture
def client(registry: RegistryProcess) -> RegistryClient:
    return RegistryClient(registry.host, plain_http=True, retries=2)


@pytest.fixture
def repo(request: pytest.FixtureRequest) -> str:
    """A repository name of this test's own."""
    base = "".join(c if c.isalnum() else "-" for c in request.node.name.lower()).strip("-")[:40].strip("-")
    return f"test/{base}-{next(_names)}"


@pytest.fixture
def ref(registry: RegistryProcess, repo: str) -> Reference:
    return Reference(registry.host, repo, "v1")


@pytest.fixture(scope="session")
def oras() -> str:
    """The Go oras CLI, built from its pinned module (fails the run if it cannot be built)."""
    return oras_cli()


@pytest.fixture
def workdir(tmp_path: Path) -> Path:
    old = os.getcwd()
    os.chdir(tmp_path)
    yield tmp_path
    os.chdir(old)


@pytest.fixture(scope="session")
def control_plane():
    """etcd + kube-apiserver (RBAC on) + kube-controller-manager on loopback, for the session."""
    from localcluster.controlplane import ControlPlane

    cp = ControlPlane.start()
    yield cp
    cp.stop()


@pytest.fixture(scope="session")
def local_cluster(tmp_path_factory):
    """The local cluster of scripts/local-cluster.sh, with two nodes (each in a network namespace
    of its own), on a network of its own (names and ranges) so a user's local cluster may run beside
    it; tier-3 tests get its control plane as `control_plane` (tests/node, tests/e2e conftest.py)."""
    from localcluster.cluster import LocalCluster

    cluster = LocalCluster.start(Path(tempfile.mkdtemp(prefix="kubectl-oras-cluster-")), TEST_NETWORK, nodes=2)
    _SESSION_CLUSTERS.append(cluster)
    yield cluster
    cluster.stop()
    assert cluster.leftovers() == [], "the cluster's teardown left things behind"


_SESSION_CLUSTERS: list = []


@pytest.fixture
def whole_machine():
    """The machine without the tests' local cluster (stopped if it ran; tests marked
    `whole_machine` run last): these tests bring up clusters of their own, two at a time, and this
    machine's memory holds no third beside a user's."""
    for cluster in _SESSION_CLUSTERS:
        cluster.stop()
        assert cluster.leftovers() == [], "the cluster's teardown left things behind"


@pytest.fixture(scope="session")
def node(local_cluster):
    """The first node (kubelet + containerd + runc + CNI bridge), in a network namespace of its own."""
    return local_cluster.nodes[0]
