"""A whole local cluster: the network, the control plane, the scheduler, CoreDNS and N nodes.

`scripts/local-cluster.sh up` starts one detached under a directory of its own and records what
it started in ``state.json``, so `down` and `status` (later commands) find it; the tier-3 tests
start one for their session the same way, but tied to the test run. docs/local-cluster.md.
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests

from . import network as networking
from . import pki
from .binaries import built
from .controlplane import ControlPlane
from .network import MAX_NODES, Network
from .node import CLUSTER_DOMAIN, Node, remove_tree
from .processes import Process, free_port, start_process, stop_all, stop_running_under

STATE = "state.json"
# The network's names and ranges, written once before any of them is made: `down` finds what to
# remove by them even when state.json is lost, and never removes a name it did not make.
NETWORK = "network.json"


def _quiet(_: str) -> None:
    pass


# The deepest unix socket under a cluster's directory (a kubelet's pod-resources socket), and the
# longest socket path containerd accepts: a longer directory fails deep in containerd's start.
DEEPEST_SOCKET = f"node-{MAX_NODES}/kubelet/root/pod-resources/kubelet.sock"
SOCKET_PATH_MAX = 104


def too_long_for_sockets(root: Path) -> str:
    """Why ``root`` is too long a path for the sockets under it, or ""."""
    deepest = f"{str(root).rstrip('/')}/{DEEPEST_SOCKET}"
    if len(deepest) <= SOCKET_PATH_MAX:
        return ""
    return (f"{root} is too long a path for the unix sockets under it ({len(deepest)} characters for "
            f"{deepest}; at most {SOCKET_PATH_MAX}): use a shorter directory")


def clash_message(network: Network, clashes: list[str]) -> str:
    return (f"network {network.name} clashes with what this machine already has: {'; '.join(clashes)}. Another "
            "local cluster's (its own `down` removes it), or anything else's: choose other names and ranges "
            "(`up --name … --pods … --links … --services …`)")


def recorded_network(root: Path) -> Network | None:
    """The network ``root``'s cluster made (network.json), or None when no readable record says."""
    try:
        return Network(**json.loads((root / NETWORK).read_text()))
    except (OSError, ValueError, TypeError):
        return None


class StateError(RuntimeError):
    def __init__(self, path: Path, why: str) -> None:
        super().__init__(f"{path} is not a local cluster's state ({why})")
        self.path = path


@dataclass
class LocalCluster:
    root: Path
    network: Network
    cp: ControlPlane
    nodes: list[Node] = field(default_factory=list)
    processes: list[Process] = field(default_factory=list)  # the scheduler and CoreDNS
    detach: bool = False
    forwarding_before: str = ""  # the machine's net.ipv4.ip_forward before this cluster set it
    stopped: bool = False
    names_known: bool = True  # False: no record says which network it made, so none is removed

    # -- start ------------------------------------------------------------------------------------

    @classmethod
    def start(cls, root: Path, network: Network, *, nodes: int = 1, detach: bool = False,
              images: tuple[tuple[Path, tuple[str, ...]], ...] = (), say: Callable[[str], None] = _quiet) -> LocalCluster:
        """``images``: more OCI archives every node loads, each with more names for its image."""
        if too_long_for_sockets(root):
            raise RuntimeError(too_long_for_sockets(root))
        clashes = networking.clashes(network)
        if clashes:  # refused before anything is made: stopping would remove what holds them
            raise RuntimeError(clash_message(network, clashes))
        pki.private_dir(root)
        pki.write_private(root / NETWORK, json.dumps(network.__dict__).encode())
        cluster = cls(root, network, ControlPlane(root / "control-plane"), detach=detach)
        try:
            cluster._start(nodes, images, say)
        except BaseException:
            cluster.stop()
            raise
        return cluster

    def _start(self, nodes: int, images: tuple[tuple[Path, tuple[str, ...]], ...], say: Callable[[str], None]) -> None:
        net = self.network
        say(f"network {net.name}: nodes in namespaces {net.netns(0)}…, pods {net.cluster_cidr}, "
            f"links {net.link_cidr}, Services {net.services}")
        self.forwarding_before = networking.forwarding()
        self._write_state()  # from here on, whatever is made is recorded as soon as it is
        networking.make(net, nodes)
        say(f"control plane: etcd, kube-apiserver on {net.api_address}:{net.api_port}, kube-controller-manager")
        self.cp.recorder = self._write_state
        self.cp.launch(address=net.api_address, port=net.api_port, service_cidr=net.services, detach=self.detach)
        self._write_state()
        self._start_scheduler()
        self._start_dns()
        self._write_state()
        for i in range(nodes):
            say(f"node {net.node_name(i)} ({net.node_ip(i)}): containerd, kube-proxy, kubelet")
            node = Node(self.cp, self.root / f"node-{i + 1}", net, i, self.detach, recorder=self._write_state)
            self.nodes.append(node)
            pki.private_dir(node.root)
            try:
                node._start(())
            finally:
                self._write_state()
            for archive, names in images:
                node.import_archive(archive, *names)

    def _start_scheduler(self) -> None:
        kubeconfig = self.cp.kubeconfig
        self._started(start_process("kube-scheduler", [
            str(built("kube") / "kube-scheduler"), f"--kubeconfig={kubeconfig}",
            f"--authentication-kubeconfig={kubeconfig}", f"--authorization-kubeconfig={kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
        ], self.root, detach=self.detach))

    def _started(self, process: Process) -> None:
        self.processes.append(process)
        self._write_state()

    def _start_dns(self) -> None:
        """CoreDNS on the first node's bridge address: Service names from the API, and NXDOMAIN for
        every other name, so no query ever leaves this machine."""
        corefile = self.root / "coredns" / "Corefile"
        corefile.parent.mkdir(parents=True, exist_ok=True)
        dns = self.network.dns
        corefile.write_text(
            f"{CLUSTER_DOMAIN}:53 {{\n  bind {dns}\n  errors\n"
            f"  kubernetes {CLUSTER_DOMAIN} {{\n    kubeconfig {self.cp.kubeconfig}\n  }}\n}}\n"
            f".:53 {{\n  bind {dns}\n  template ANY ANY {{\n    rcode NXDOMAIN\n  }}\n}}\n")
        self._started(start_process("coredns", [str(built("coredns") / "coredns"), "-conf", str(corefile)],
                                            self.root, detach=self.detach))

    def import_archive(self, archive: Path, *names: str) -> None:
        """Load an image archive into every node, also under ``names``."""
        for node in self.nodes:
            node.import_archive(archive, *names)

    def node_named(self, name: str) -> Node:
        return next(n for n in self.nodes if n.name == name)

    # -- state ------------------------------------------------------------------------------------

    def _write_state(self) -> None:
        state = {"network": self.network.__dict__, "forwarding_before": self.forwarding_before,
                 "control_plane": self.cp.record() if self.cp.ca and self.cp.admin else None,
                 "processes": [p.record() for p in self.processes], "nodes": [n.record() for n in self.nodes]}
        tmp = self.root / (STATE + ".tmp")
        pki.write_private(tmp, json.dumps(state, indent=1).encode())
        tmp.rename(self.root / STATE)

    @classmethod
    def recorded(cls, root: Path) -> LocalCluster | None:
        """The cluster a previous command started under ``root``, or None if there is none; a
        state file that cannot be read is a StateError naming it."""
        path = root / STATE
        try:
            state = json.loads(path.read_text())
        except FileNotFoundError:
            return None
        except (OSError, ValueError) as e:
            raise StateError(path, str(e)) from None
        try:
            net = Network(**state["network"])
            cp = ControlPlane.recorded(state["control_plane"]) if state["control_plane"] else \
                ControlPlane(root / "control-plane")
            return cls(root, net, cp, [Node.recorded(cp, net, n) for n in state["nodes"]],
                       [Process.recorded(p) for p in state["processes"]], detach=True,
                       forwarding_before=str(state.get("forwarding_before", "")))
        except (KeyError, TypeError, ValueError, AttributeError) as e:
            raise StateError(path, f"{type(e).__name__}: {e}") from None

    @classmethod
    def unrecorded(cls, root: Path) -> LocalCluster:
        """What to stop when no state file says: the nodes by their directories under ``root``
        (their containerd, if it still answers, removes their containers), any process whose
        command line names ``root``, and the network ``root``'s network.json names. Without that
        record no name is removed at all: a name alone does not say whose it is."""
        network = recorded_network(root)
        names_known = network is not None
        network = network or Network()  # its names are never used to remove anything (names_known)
        cp = ControlPlane(root / "control-plane")
        indices = sorted(int(d.name.removeprefix("node-")) - 1 for d in root.glob("node-*")
                         if d.is_dir() and d.name.removeprefix("node-").isdigit()) if root.is_dir() else []
        return cls(root, network, cp, [Node(cp, root / f"node-{i + 1}", network, i, names_known=names_known)
                                       for i in indices if 0 <= i < MAX_NODES], detach=True, names_known=names_known)

    def everything(self) -> list[Process]:
        return [*self.cp.processes, *self.processes, *(p for n in self.nodes for p in n.processes)]

    def not_running(self) -> list[str]:
        return [p.name if not n else f"{p.name} of {n}" for n, ps in
                [("", self.cp.processes), ("", self.processes), *((n.name, n.processes) for n in self.nodes)]
                for p in ps if p.exit_code() is not None]

    def node_readiness(self) -> dict[str, str]:
        """Each node's Ready condition as the API says it, or why the API could not say."""
        try:
            items = self.cp.session().get(f"{self.cp.server}/api/v1/nodes", timeout=5).json()["items"]
        except (requests.RequestException, ValueError, KeyError) as e:
            return {n.name: f"unknown ({type(e).__name__})" for n in self.nodes}
        ready = {}
        for item in items:
            condition: dict = next((c for c in item["status"].get("conditions", []) if c["type"] == "Ready"), {})
            ready[item["metadata"]["name"]] = "Ready" if condition.get("status") == "True" else \
                f"NotReady ({condition.get('reason', 'no status yet')})"
        return {n.name: ready.get(n.name, "not registered") for n in self.nodes}

    # -- stop -------------------------------------------------------------------------------------

    def stop(self, say: Callable[[str], None] = _quiet) -> None:
        """Stop everything and remove what it made: containers, processes, mounts, cgroups, the
        network, the directory. Each part is removed even when an earlier one failed; the
        directory only when every part went (its logs then say what did not)."""
        if self.stopped:
            return
        steps: list[tuple[str, Callable[[], object]]] = [
            *((f"node {n.name}: containers, kubelet, kube-proxy, containerd, mounts", n.stop) for n in reversed(self.nodes)),
            ("scheduler, CoreDNS", self._stop_shared),
            ("control plane: kube-controller-manager, kube-apiserver, etcd", self.cp.stop),
            (f"any other process started from {self.root}", self._stop_strays),
            self._network_step(say),
        ]
        failed = []
        for what, step in steps:
            say(what)
            try:
                step()
            except Exception as e:  # the rest still goes
                failed.append(f"{what}: {e}")
        if failed:
            raise RuntimeError(f"stopping left things behind (kept {self.root} with their logs): " + "; ".join(failed))
        say(f"directory {self.root}")
        remove_tree(self.root)
        self.stopped = True

    def _network_step(self, say: Callable[[str], None]) -> tuple[str, Callable[[], object]]:
        net = self.network
        if not self.names_known:
            return (f"network: none removed (no readable {self.root / NETWORK} says which it made)", lambda: None)
        return (f"network {net.name}: nodes' namespaces and veths, pods' namespaces, guard {networking.guard_chain(net)}",
                lambda: networking.remove(net, MAX_NODES, self.forwarding_before, say))  # any node it may have made

    def _stop_strays(self) -> None:
        for stray in stop_running_under(self.root):
            print(f"stopped {stray}", file=sys.stderr)

    def _stop_shared(self) -> None:
        self.processes = stop_all(self.processes)

    def leftovers(self) -> list[str]:
        found = networking.leftovers(self.network, MAX_NODES)
        for node in self.nodes:
            found += node.leftovers()
        return found

    def wait_nodes_ready(self, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        while set(self.node_readiness().values()) != {"Ready"}:
            if time.monotonic() > deadline:
                raise RuntimeError(f"nodes not Ready after {timeout}s: {self.node_readiness()}")
            time.sleep(0.5)
