"""The network of a local cluster, all on this machine.

Every node lives in a network namespace of its own, joined to the host by a veth pair, with its
pods on a bridge inside it; the host routes each node's pod range to it, and the Service range to
the first node. No node shares the host's network namespace, so no kube-proxy or kubelet ever
writes the host's iptables: two local clusters with names and ranges of their own run side by
side. The host side of the first node's veth is the apiserver's and CoreDNS's address. Pods reach
each other, the Services (through each node's kube-proxy) and the apiserver, and nothing else: no
route from a pod leads off this machine. docs/local-cluster.md says why each setting is what it is.
"""

from __future__ import annotations

import ipaddress
import itertools
import re
import subprocess
from collections.abc import Callable
from dataclasses import dataclass


def run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv)} failed ({result.returncode}): {result.stderr.strip()}")
    return result


DEFAULT_NAME = "koras"
MAX_NODES = 8


@dataclass(frozen=True)
class Network:
    """Addresses and names of one local cluster (node ``i`` counts from 0). Every name this
    machine sees (the veths, the nodes' namespaces and cgroups, the guard chain, the kubeconfig)
    is made from ``name``, every address from the three ranges: two clusters that differ in all
    four never touch each other's."""

    name: str = DEFAULT_NAME  # prefix of the veths, the nodes' namespaces and cgroups, the guard chain
    pods: str = "10.244"  # node i's pods: {pods}.{i}.0/24, its bridge at .1
    links: str = "10.245"  # node i reaches the host over {links}.{i}.0/30: host .1, node .2
    services: str = "10.96.0.0/24"
    api_port: int = 6443

    @property
    def bridge(self) -> str:
        """The pods' bridge, inside each node's namespace."""
        return f"{self.name}0"

    @property
    def cluster_cidr(self) -> str:
        return f"{self.pods}.0.0/16"

    @property
    def link_cidr(self) -> str:
        return f"{self.links}.0.0/16"

    @property
    def api_address(self) -> str:
        """The host's side of the first node's veth: the host's own address, reachable from every
        node and pod."""
        return self.host_side(0)

    @property
    def dns(self) -> str:
        return self.host_side(0)

    @property
    def service_ip(self) -> str:
        return str(ipaddress.ip_network(self.services)[1])

    @property
    def context(self) -> str:
        """The kubeconfig's context, and its file's name in ~/.kube."""
        return "kubectl-oras-local" if self.name == DEFAULT_NAME else f"kubectl-oras-local-{self.name}"

    def pod_cidr(self, i: int) -> str:
        return f"{self.pods}.{i}.0/24"

    def gateway(self, i: int) -> str:
        return f"{self.pods}.{i}.1"

    def node_ip(self, i: int) -> str:
        return f"{self.links}.{i}.2"

    def host_side(self, i: int) -> str:
        return f"{self.links}.{i}.1"

    def netns(self, i: int) -> str:
        """Node i's network namespace; also its cgroup's name."""
        return f"{self.name}-node{i + 1}"

    def veth(self, i: int) -> str:
        return f"{self.name}n{i + 1}"

    def node_name(self, i: int) -> str:
        return "kubectl-oras-node" if i == 0 else f"kubectl-oras-node-{i + 1}"

    def ranges(self) -> tuple[str, str, str]:
        return self.cluster_cidr, self.link_cidr, self.services


NAME = re.compile(r"[a-z][a-z0-9]{0,11}")  # the veth {name}n8 must fit an interface name (15)
TWO_OCTETS = re.compile(r"(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])\.(25[0-5]|2[0-4][0-9]|1?[0-9]?[0-9])")


def network_of(*, name: str, pods: str, links: str, services: str) -> Network:
    """The Network `up`'s options say, or a ValueError naming the option that is wrong."""
    if not NAME.fullmatch(name):
        raise ValueError(f"--name {name!r}: 1 to 12 lower-case letters and digits, starting with a letter")
    for option, value in (("--pods", pods), ("--links", links)):
        if not TWO_OCTETS.fullmatch(value):
            raise ValueError(f"{option} {value!r}: the first two numbers of an IPv4 /16, e.g. 10.244")
    try:
        network = ipaddress.ip_network(services)
    except ValueError as e:
        raise ValueError(f"--services {services!r}: {e}") from None
    if network.version != 4 or not 12 <= network.prefixlen <= 28:
        raise ValueError(f"--services {services!r}: an IPv4 range from /12 to /28, e.g. 10.96.0.0/24")
    net = Network(name=name, pods=pods, links=links, services=str(network))
    named = (("--pods", net.cluster_cidr), ("--links", net.link_cidr), ("--services", net.services))
    for (a, first), (b, second) in itertools.combinations(named, 2):
        if ipaddress.ip_network(first).overlaps(ipaddress.ip_network(second)):
            raise ValueError(f"{a} {first} and {b} {second} overlap: each needs a range of its own")
    return net


def in_netns(netns: str, *argv: str) -> list[str]:
    return ["ip", "netns", "exec", netns, *argv]


FORWARDING = "net.ipv4.ip_forward"
GUARD_COMMENT = "kubectl-oras local cluster"  # on each guard's jump: how one cluster sees the others


def guard_rules(net: Network) -> list[list[str]]:
    """The rules of the guard chain (iptables' raw table, before any NAT): a packet bound for one
    of the cluster's addresses (a pod, a node, the apiserver on the first node's link, a Service)
    passes only when it comes from loopback or from one of the cluster's own veths, so nothing on
    the LAN (nor another local cluster) reaches into the cluster through this machine even though
    it forwards. By interface, not by source: the reply to the host's own connection to a Service
    comes from the Service's address, and a LAN host may write any source it likes. Packets this
    machine sends itself never pass PREROUTING."""
    return [["-i", "lo", "-j", "RETURN"], *(["-i", net.veth(i), "-j", "RETURN"] for i in range(MAX_NODES)),
            *(["-d", cidr, "-j", "DROP"] for cidr in net.ranges())]


def guard_chain(net: Network) -> str:
    return f"{net.name.upper()}-GUARD"


def guard_jump(net: Network) -> list[str]:
    """The rule of raw/PREROUTING that sends every packet through the guard (after `-I`/`-D`)."""
    return ["PREROUTING", "-m", "comment", "--comment", GUARD_COMMENT, "-j", guard_chain(net)]


def make_guard(net: Network) -> None:
    chain = guard_chain(net)
    run("iptables", "-t", "raw", "-N", chain)
    for rule in guard_rules(net):
        run("iptables", "-t", "raw", "-A", chain, *rule)
    jump = guard_jump(net)
    run("iptables", "-t", "raw", "-I", jump[0], "1", *jump[1:])


def remove_guard(net: Network) -> None:
    chain = guard_chain(net)
    while run("iptables", "-t", "raw", "-D", *guard_jump(net), check=False).returncode == 0:
        pass
    run("iptables", "-t", "raw", "-F", chain, check=False)
    run("iptables", "-t", "raw", "-X", chain, check=False)


def guards_of_others(rules: str, net: Network) -> list[str]:
    """The other local clusters' guard chains, from `iptables -t raw -S PREROUTING`'s output."""
    found = []
    for line in rules.splitlines():
        words = line.split()
        if GUARD_COMMENT in line and "-j" in words and words.index("-j") + 1 < len(words):
            chain = words[words.index("-j") + 1]
            if chain != guard_chain(net):
                found.append(chain)
    return found


def forwarding() -> str:
    return run("sysctl", "-n", FORWARDING).stdout.strip()


def make(net: Network, nodes: int) -> None:
    """The guard, then each node's namespace and link (the first node's host side is the
    apiserver's address, so before the control plane), and the Service range routed to the first
    node, whose kube-proxy answers the host's own connections to a Service."""
    make_guard(net)
    run("sysctl", "-qw", f"{FORWARDING}=1")  # pods of one node reach another's through the host
    for i in range(nodes):
        make_node_link(net, i)
    run("ip", "route", "add", net.services, "via", net.node_ip(0))


def make_node_link(net: Network, i: int) -> None:
    """Node ``i``'s namespace, its veth to the host, and the routes both ways."""
    ns, veth = net.netns(i), net.veth(i)
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


def remove(net: Network, nodes: int, forwarding_before: str = "", say: Callable[[str], None] = print) -> None:
    """Everything make made, by this network's names alone: the routes go with the links they use
    (none is deleted by its prefix alone, which could be someone else's), a namespace takes its
    veth, its iptables and its pods' bridge with it. ``forwarding_before``: the setting before
    `up`, put back unless another local cluster still runs (its nodes reach each other through
    the host)."""
    for namespace in pod_namespaces(net):
        run("ip", "netns", "delete", namespace, check=False)
    for i in range(nodes):
        run("ip", "netns", "delete", net.netns(i), check=False)
        if _link_kind(net.veth(i)) == "veth":
            run("ip", "link", "delete", net.veth(i), check=False)
    remove_guard(net)
    if forwarding_before in ("0", "1") and forwarding() != forwarding_before:
        others = guards_of_others(run("iptables", "-t", "raw", "-S", "PREROUTING", check=False).stdout, net)
        if others:
            say(f"{FORWARDING} stays {forwarding()} (it was {forwarding_before}): another local cluster "
                f"({', '.join(others)}) forwards through this machine")
        else:
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
    """What make and the nodes' pods made that is still there (found by this network's names and
    pod range alone)."""
    namespaces = [n.split(" ")[0] for n in run("ip", "netns", "list", check=False).stdout.splitlines()]
    found = [f"netns {n}" for n in namespaces if any(n == net.netns(i) for i in range(nodes))]
    found += [f"link {net.veth(i)}" for i in range(nodes) if _link_kind(net.veth(i))]
    found += [f"netns {n} (a pod's)" for n in pod_namespaces(net)]
    if run("iptables", "-t", "raw", "-S", guard_chain(net), check=False).returncode == 0:
        found.append(f"iptables chain raw/{guard_chain(net)}")
    return found


ROUTE_TYPES = {"unicast", "local", "broadcast", "multicast", "anycast", "unreachable", "blackhole", "prohibit", "throw", "nat"}


def ranges_in_use(routes: str, net: Network) -> list[str]:
    """Which of the network's ranges this machine already routes somewhere, from `ip -4 -o route
    show table all`'s output: each with the route that holds it (the default route holds none)."""
    found = []
    for line in routes.splitlines():
        words = line.split()
        if words and words[0] in ROUTE_TYPES:
            words = words[1:]
        if not words or words[0] == "default":
            continue
        try:
            destination = ipaddress.ip_network(words[0], strict=False)
        except ValueError:
            continue
        if destination.prefixlen == 0:
            continue
        found += [f"{cidr} (route {line.strip()})" for cidr in net.ranges()
                  if destination.overlaps(ipaddress.ip_network(cidr))]
    return found


def clashes(net: Network) -> list[str]:
    """What on this machine already holds one of the network's names or ranges (another local
    cluster, or anything else): `up` refuses before making anything, naming it."""
    found = leftovers(net, MAX_NODES)
    found += ranges_in_use(run("ip", "-4", "-o", "route", "show", "table", "all", check=False).stdout, net)
    return found

