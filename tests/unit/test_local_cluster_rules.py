"""The local cluster's pure rules: what its guard drops, which namespaces and mounts are its own,
which processes it started, and a state file it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcluster.cluster import SOCKET_PATH_MAX, LocalCluster, StateError, too_long_for_sockets
from localcluster.network import Network, guard_rules, holds_pod_address
from localcluster.node import mounts_under
from localcluster.processes import _names_under

NET = Network()


def test_the_guard_lets_the_clusters_own_ranges_and_loopback_through_and_drops_the_rest_bound_for_it():
    rules = [" ".join(r) for r in guard_rules(NET)]
    returns = [r for r in rules if r.endswith("RETURN")]
    drops = [r for r in rules if r.endswith("DROP")]
    assert returns == ["-i lo -j RETURN", "-s 10.244.0.0/16 -j RETURN", "-s 10.245.0.0/16 -j RETURN"]
    assert drops == ["-d 10.244.0.0/16 -j DROP", "-d 10.245.0.0/16 -j DROP", "-d 10.96.0.0/24 -j DROP"]
    assert rules == returns + drops  # every exception before any drop


def test_a_cni_namespace_is_the_clusters_only_when_it_holds_an_address_of_its_pod_range():
    ours = ("1: lo    inet 127.0.0.1/8 scope host lo\\       valid_lft forever preferred_lft forever\n"
            "2: eth0    inet 10.244.1.7/24 brd 10.244.1.255 scope global eth0\\       valid_lft forever")
    podman = "2: eth0    inet 10.88.0.5/16 brd 10.88.255.255 scope global eth0"
    assert holds_pod_address(ours, NET)
    assert not holds_pod_address(podman, NET)
    assert not holds_pod_address(ours, Network(name="korast", pods="10.246", links="10.247"))
    assert not holds_pod_address("", NET)
    assert not holds_pod_address("2: eth0 inet nonsense", NET)
    assert not holds_pod_address("2: eth0 inet", NET)


def test_mounts_under_a_directory_are_its_own_deepest_first_and_not_a_neighbours():
    mounts = "\n".join([
        "proc /proc proc rw 0 0",
        "tmpfs /x/root/node-1/kubelet/pods/a/volumes/token tmpfs rw 0 0",
        "overlay /x/root/node-1/containerd/state/run/rootfs overlay rw 0 0",
        "/dev/sda1 /x/root2/node-1 ext4 rw 0 0",
        "tmpfs /x/root/with\\040space tmpfs rw 0 0",
        "tmpfs /x/root tmpfs rw 0 0",
    ])
    found = mounts_under(Path("/x/root"), mounts)
    assert set(found) == {"/x/root/node-1/kubelet/pods/a/volumes/token", "/x/root/node-1/containerd/state/run/rootfs",
                          "/x/root/with space", "/x/root"}
    assert found[-1] == "/x/root"  # the directory itself last
    assert mounts_under(Path("/x/other"), mounts) == []


@pytest.mark.parametrize("word, under", [
    (b"--config=/x/root/node-1/config.yaml", True),
    (b"/x/root/coredns/Corefile", True),
    (b"/x/root", True),
    (b"unix:/x/root/node-1/containerd.sock", True),
    (b"--root-dir=/x/rootfs/kubelet", False),  # a neighbour sharing the prefix
    (b"/y/x/root/a", False),  # the prefix inside another path
    (b"--data-dir=/x/roo", False),
])
def test_a_process_is_the_clusters_when_an_argument_names_its_directory(word: bytes, under: bool):
    assert _names_under(word, b"/x/root") is under


@pytest.mark.parametrize("text, culprit", [
    ("{", "Expecting"),
    ('{"network": 5}', "TypeError"),
    ('{"network": {}, "control_plane": null, "processes": [{"pid": "x"}], "nodes": []}', "KeyError"),
    ("[]", "TypeError"),
])
def test_a_state_file_it_cannot_read_is_an_error_naming_the_file_never_a_traceback(tmp_path: Path, text: str, culprit: str):
    (tmp_path / "state.json").write_text(text)
    with pytest.raises(StateError) as caught:
        LocalCluster.recorded(tmp_path)
    assert str(tmp_path / "state.json") in str(caught.value) and culprit in str(caught.value)


def test_no_state_file_is_no_cluster(tmp_path: Path):
    assert LocalCluster.recorded(tmp_path) is None


def test_a_directory_too_long_for_the_sockets_under_it_is_refused_naming_it():
    assert too_long_for_sockets(Path("/root/.local/state/kubectl-oras/local-cluster")) == ""
    long = Path("/tmp/pytest-of-root/pytest-410/test_a_whole_up_is_idempotent_0/state/kubectl-oras/local-cluster")
    why = too_long_for_sockets(long)
    assert str(long) in why and f"at most {SOCKET_PATH_MAX}" in why
