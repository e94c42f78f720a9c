"""The local cluster's pure rules: what its guard drops, which namespaces and mounts are its own,
which processes it started, and a state file it cannot read."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcluster.__main__ import names_admin_under
from localcluster.cluster import SOCKET_PATH_MAX, LocalCluster, StateError, too_long_for_sockets
from localcluster.network import (
    Network,
    guard_chain,
    guard_jump,
    guard_rules,
    guards_of_others,
    holds_pod_address,
    network_of,
    ranges_in_use,
)
from localcluster.node import mounts_under
from localcluster.processes import _names_under
from tests.support.cluster_fixtures import BESIDE_NETWORK, TEST_NETWORK
from tests.support.cluster_fixtures import WHOLE_MACHINE_NETWORK as WHOLE_MACHINE

NET = Network()


def test_the_guard_lets_loopback_and_the_clusters_own_veths_through_and_drops_the_rest_bound_for_it():
    rules = [" ".join(r) for r in guard_rules(NET)]
    returns = [r for r in rules if r.endswith("RETURN")]
    drops = [r for r in rules if r.endswith("DROP")]
    assert returns == ["-i lo -j RETURN", *(f"-i korasn{i} -j RETURN" for i in range(1, 9))]  # its own veths
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


def machine_names(net: Network) -> set[str]:
    """Every name a cluster of ``net`` makes on this machine (its nodes' namespaces and cgroups,
    veths, guard chain, kubeconfig)."""
    return {*(net.netns(i) for i in range(8)), *(net.veth(i) for i in range(8)), guard_chain(net), net.context}


def test_the_users_the_tests_and_the_whole_machine_tests_networks_share_no_name_and_no_range():
    nets = [NET, TEST_NETWORK, WHOLE_MACHINE, BESIDE_NETWORK]
    for i, a in enumerate(nets):
        for b in nets[i + 1:]:
            assert machine_names(a).isdisjoint(machine_names(b)), (a.name, b.name)
            assert ranges_in_use("\n".join(f"{cidr} dev x" for cidr in a.ranges()), b) == [], (a.name, b.name)
    assert NET.context == "kubectl-oras-local" and WHOLE_MACHINE.context == "kubectl-oras-local-korasw"


def test_a_range_the_machine_already_routes_is_named_with_its_route_and_the_default_route_holds_none():
    routes = ("default via 192.0.2.1 dev eth0\n192.0.2.0/24 dev eth0 proto kernel scope link src 192.0.2.2\n"
              "local 10.245.0.1 dev korasn1 table local proto kernel scope host src 10.245.0.1\n"
              "10.96.0.0/16 via 10.1.0.1 dev eth1\nunreachable 10.0.0.0/8\nnonsense\n")
    found = ranges_in_use(routes, NET)
    assert found[0] == "10.245.0.0/16 (route local 10.245.0.1 dev korasn1 table local proto kernel scope host src 10.245.0.1)"
    assert [f.split()[0] for f in found] == ["10.245.0.0/16", "10.96.0.0/24",  # a /16 holding the Services
                                             "10.244.0.0/16", "10.245.0.0/16", "10.96.0.0/24"]  # 10/8 holds all
    assert ranges_in_use("default via 192.0.2.1 dev eth0\n0.0.0.0/0 via 192.0.2.1 dev eth0", NET) == []


def test_another_clusters_guard_is_told_by_its_jumps_comment_and_this_ones_is_not_another():
    tests = Network(name="korast")
    rules = "\n".join(["-P PREROUTING ACCEPT", "-A " + " ".join(guard_jump(NET)).replace(
        "kubectl-oras local cluster", '"kubectl-oras local cluster"'), "-A " + " ".join(guard_jump(tests)).replace(
        "kubectl-oras local cluster", '"kubectl-oras local cluster"'), "-A PREROUTING -j SOMEONE-ELSES-GUARD"])
    assert guards_of_others(rules, NET) == ["KORAST-GUARD"]
    assert guards_of_others(rules, tests) == ["KORAS-GUARD"]
    assert guards_of_others("-P PREROUTING ACCEPT\n-A PREROUTING -j SOMEONE-ELSES-GUARD", NET) == []


@pytest.mark.parametrize("options, culprit", [
    ({"name": "Koras"}, "--name 'Koras'"), ({"name": "k" * 13}, "--name"), ({"name": "1abc"}, "--name"),
    ({"pods": "10.256"}, "--pods '10.256'"), ({"pods": "10.244.0"}, "--pods"), ({"links": "x.y"}, "--links"),
    ({"services": "10.96.0.0/8"}, "--services"), ({"services": "fd00::/112"}, "--services"),
    ({"services": "nonsense"}, "--services 'nonsense'"),
    ({"links": "10.244"}, "--pods 10.244.0.0/16 and --links 10.244.0.0/16 overlap"),
    ({"services": "10.245.3.0/24"}, "--links 10.245.0.0/16 and --services 10.245.3.0/24 overlap"),
])
def test_up_options_that_cannot_make_a_network_name_the_option(options: dict, culprit: str):
    given = {"name": "koras", "pods": "10.244", "links": "10.245", "services": "10.96.0.0/24", **options}
    with pytest.raises(ValueError) as caught:
        network_of(**given)
    assert culprit in str(caught.value)


def test_up_options_make_the_network_they_say():
    assert network_of(name="koras", pods="10.244", links="10.245", services="10.96.0.0/24") == NET
    assert network_of(name="korasw", pods="10.248", links="10.249", services="10.98.0.0/24") == WHOLE_MACHINE


def test_a_kubeconfig_is_a_clusters_when_it_signs_in_with_a_certificate_under_its_state_directory():
    root = Path("/home/u/.local/state/kubectl-oras/local-cluster")
    ours = {"users": [{"name": "x", "user": {"client-certificate": f"{root}/control-plane/pki/admin.crt"}}]}
    assert names_admin_under(ours, root)
    assert not names_admin_under(ours, Path("/tmp/koras-1/state/kubectl-oras/local-cluster"))
    assert not names_admin_under(ours, Path("/home/u/.local/state/kubectl-oras/local"))  # a prefix is not a parent
    for config in (None, [], {"users": None}, {"users": [None, {"user": "x"}, {"user": {"token": "t"}}]}):
        assert not names_admin_under(config, root)
