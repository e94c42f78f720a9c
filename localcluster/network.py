"""The network of a local cluster, all on this machine.

The first node's pods sit on a bridge in the host's own network namespace; its address is that
node's IP, the apiserver's and CoreDNS's. Every further node lives in a network namespace of its
own, joined to the host by a veth pair, with its pods on a bridge inside it; the host routes each
node's pod range to it. Pods reach each other, the Services (through each node's kube-proxy) and
the apiserver, and nothing else: no route from a pod leads off this machine. docs/node.md says
why each setting is what it is.
"""

from __future__ import annotations

import ipaddress
import subprocess
from dataclasses import dataclass


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


@dataclass(frozen=True)
class Network:
    """Addresses and names of one local cluster (node ``i`` counts from 0)."""

    name: str = "koras"  # prefix of the bridge, the veths and the nodes' namespaces
    pods: str = "10.244"  # node i's pods: {pods}.{i}.0/24, its bridge at .1
    links: str = "10.245"  # node i >= 1 reaches the host over {links}.{i}.0/30: host .1, node .2
    services: str = "10.96.0.0/24"
    api_port: int = 6443

    @property
    def bridge(self) -> str:
        return f"{self.name}0"

    @property
    def cluster_cidr(self) -> str:
        return f"{self.pods}.0.0/16"

    @property
    def link_cidr(self) -> str:
        return f"{self.links}.0.0/16"

    @property
    def api_address(self) -> str:
        """The first node's bridge address: the host's, reachable from every pod."""
        return self.gateway(0)

    @property
    def dns(self) -> str:
        return self.gateway(0)

    @property
    def service_ip(self) -> str:
        return str(ipaddress.ip_network(self.services)[1])

    def pod_cidr(self, i: int) -> str:
        return f"{self.pods}.{i}.0/24"

    def gateway(self, i: int) -> str:
        return f"{self.pods}.{i}.1"

    def node_ip(self, i: int) -> str:
        return self.gateway(0) if i == 0 else f"{self.links}.{i}.2"

    def host_side(self, i: int) -> str:
        return f"{self.links}.{i}.1"

    def netns(self, i: int) -> str | None:
        return None if i == 0 else f"{self.name}-node{i + 1}"

    def veth(self, i: int) -> str:
        return f"{self.name}n{i + 1}"

    def node_name(self, i: int) -> str:
        return "kubectl-oras-node" if i == 0 else f"kubectl-oras-node-{i + 1}"


def in_netns(netns: str | None, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv] if netns else list(argv)


FORWARDING = "net.ipv4.ip_forward"


def guard_rules(net: Network) -> list[list[str]]:
    """The rules of the guard chain (iptables' raw table, before any NAT): a packet from outside
    the cluster's own ranges to one of its addresses (a pod, a node, a Service, the apiserver on
    the bridge) is dropped, so nothing on the LAN reaches into the cluster through this machine
    even though it forwards. Packets this machine sends itself never pass PREROUTING."""
    ours = (net.cluster_cidr, net.link_cidr)
    return [["-i", "lo", "-j", "RETURN"], *(["-s", cidr, "-j", "RETURN"] for cidr in ours),
            *(["-d", cidr, "-j", "DROP"] for cidr in (*ours, net.services))]


def guard_chain(net: Network) -> str:
    return f"{net.name.upper()}-GUARD"


def make_guard(net: Network) -> None:
    chain = guard_chain(net)
    run("iptables", "-t", "raw", "-N", chain)
    for rule in guard_rules(net):
        run("iptables", "-t", "raw", "-A", chain, *rule)
    run("iptables", "-t", "raw", "-I", "PREROUTING", "1", "-j", chain)


def remove_guard(net: Network) -> None:
    chain = guard_chain(net)
    while run("iptables", "-t", "raw", "-D", "PREROUTING", "-j", chain, check=False).returncode == 0:
        pass
    run("iptables", "-t", "raw", "-F", chain, check=False)
    run("iptables", "-t", "raw", "-X", chain, check=False)


def forwarding() -> str:
    return run("sysctl", "-n", FORWARDING).stdout.strip()


def make_host(net: Network) -> str:
    """The first node's bridge (made before the kubelet and the apiserver: its address is theirs;
    the bridge CNI plugin adopts a bridge of its name), the Service range routed onto it, so an
    address kube-proxy does not know never takes the default route, and the guard. Returns the
    machine's forwarding setting from before, for remove() to restore."""
    before = forwarding()
    make_guard(net)
    run("ip", "link", "add", net.bridge, "type", "bridge")
    run("ip", "addr", "add", f"{net.gateway(0)}/24", "dev", net.bridge)
    run("ip", "link", "set", net.bridge, "up")
    run("ip", "route", "add", net.services, "dev", net.bridge)
    run("sysctl", "-qw", f"{FORWARDING}=1")  # pods of one node reach another's through the host
    return before


def make_node_link(net: Network, i: int) -> None:
    """Node ``i``'s namespace, its veth to the host, and the routes both ways."""
    ns, veth = net.netns(i), net.veth(i)
    assert ns
    run("ip", "netns", "add", ns)
    run("ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns)
    run("ip", "addr", "add", f"{net.host_side(i)}/30", "dev", veth)
    run("ip", "link", "set", veth, "up")
    run(*in_netns(ns, "ip", "link", "set", "lo", "up"))
    run(*in_netns(ns, "ip", "addr", "add", f"{net.node_ip(i)}/30", "dev", "eth0"))
    run(*in_netns(ns, "ip", "link", "set", "eth0", "up"))
    run(*in_netns(ns, "ip", "route", "add", "default", "via", net.host_side(i)))
    run(*in_netns(ns, "sysctl", "-qw", "net.ipv4.ip_forward=1"))
    run("ip", "route", "add", net.pod_cidr(i), "via", net.node_ip(i))


def remove(net: Network, nodes: int, forwarding_before: str = "") -> None:
    """Everything make_host and make_node_link made: the routes go with the links they use (none
    is deleted by its prefix alone, which could be someone else's), a namespace takes its veth
    with it. ``forwarding_before``: the setting make_host found, put back."""
    for namespace in pod_namespaces(net):
        run("ip", "netns", "delete", namespace, check=False)
    for i in range(1, nodes):
        run("ip", "netns", "delete", str(net.netns(i)), check=False)
        if _link_kind(net.veth(i)) == "veth":
            run("ip", "link", "delete", net.veth(i), check=False)
    if _link_kind(net.bridge) == "bridge":
        run("ip", "link", "delete", net.bridge, check=False)
    remove_guard(net)
    if forwarding_before in ("0", "1") and forwarding() != forwarding_before:
        run("sysctl", "-qw", f"{FORWARDING}={forwarding_before}")


def _link_kind(name: str) -> str:
    """``bridge``, ``veth``…, or "" when there is no such link."""
    shown = run("ip", "-d", "-o", "link", "show", name, check=False)
    if shown.returncode != 0:
        return ""
    words = shown.stdout.split()
    for kind in ("bridge", "veth"):
        if kind in words:
            return kind
    return "other"


def holds_pod_address(addresses: str, net: Network) -> bool:
    """Whether `ip -o -4 addr` output (of a pod's network namespace) holds an address in the
    cluster's pod range: such a namespace is one of this cluster's pods', whoever else makes
    `cni-*` namespaces on this machine."""
    pods = ipaddress.ip_network(net.cluster_cidr)
    for line in addresses.splitlines():
        words = line.split()
        if "inet" in words and words.index("inet") + 1 < len(words):
            try:
                if ipaddress.ip_interface(words[words.index("inet") + 1]).ip in pods:
                    return True
            except ValueError:
                continue
    return False


def pod_namespaces(net: Network) -> list[str]:
    """This cluster's pods' `cni-*` network namespaces (a kubelet that died leaves them behind)."""
    found = []
    for line in run("ip", "netns", "list", check=False).stdout.splitlines():
        name = line.split(" ")[0]
        if name.startswith("cni-") and holds_pod_address(run("ip", "-n", name, "-o", "-4", "addr", check=False).stdout, net):
            found.append(name)
    return found


def leftovers(net: Network, nodes: int) -> list[str]:
    """What make_host, make_node_link and the nodes' pods made that is still there."""
    found = []
    if _link_kind(net.bridge):
        found.append(f"bridge {net.bridge}")
    namespaces = [n.split(" ")[0] for n in run("ip", "netns", "list", check=False).stdout.splitlines()]
    found += [f"netns {n}" for n in namespaces if any(n == net.netns(i) for i in range(1, nodes))]
    found += [f"netns {n} (a pod's)" for n in pod_namespaces(net)]
    if run("iptables", "-t", "raw", "-S", guard_chain(net), check=False).returncode == 0:
        found.append(f"iptables chain raw/{guard_chain(net)}")
    return found


def other_kube_proxy() -> str:
    """What says a kube-proxy runs in this network namespace already: the first node's kube-proxy
    owns the host's KUBE-* iptables chains, so two local clusters cannot share a machine."""
    for line in run("iptables-save", "-t", "nat", check=False).stdout.splitlines():
        if line.startswith(":KUBE-SERVICES"):
            return "iptables chain KUBE-SERVICES"
    return ""
