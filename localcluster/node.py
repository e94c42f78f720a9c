"""One node of a local cluster: containerd + runc + the CNI bridge from Debian, and a kubelet and a
kube-proxy built by localcluster/build.sh, registered with the control plane. Each node runs in a
network namespace of its own (localcluster/network.py), so its kube-proxy's and kubelet's iptables
rules are that namespace's, never the host's; all share the host's filesystem and mounts.
Everything lives under the node's directory and is torn down with it: containers, shims, mounts,
cgroups. docs/node.md says why each setting is what it is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from controller.core.certificates import issue

from . import images, pki
from .binaries import built
from .controlplane import ControlPlane, write_kubeconfig
from .network import Network
from .processes import Process, free_port, start_process, stop_all, stop_running_under, wait_listening

CLUSTER_DOMAIN = "cluster.local"
NO_IPV6_ADDRESS = "fd6b:6f72:6173::/128"  # a unique-local address no interface here has
CGROUP = Path("/sys/fs/cgroup")


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


@dataclass
class Node:
    cp: ControlPlane
    root: Path
    network: Network
    index: int = 0
    detach: bool = False
    processes: list[Process] = field(default_factory=list)
    ready_seconds: float = 0.0
    recorder: Callable[[], None] = field(default=lambda: None, repr=False)  # called after each process starts
    names_known: bool = True  # False: the network's names are not known (its record lost), so no cgroup is ours

    @property
    def name(self) -> str:
        return self.network.node_name(self.index)

    @property
    def ip(self) -> str:
        return self.network.node_ip(self.index)

    @property
    def netns(self) -> str:
        return self.network.netns(self.index)

    @property
    def containerd_socket(self) -> str:
        return str(self.root / "containerd" / "containerd.sock")

    @property
    def cgroup_root(self) -> str:
        """Every node's pods under a cgroup of its own, named as its network namespace: no two
        kubelets (of one cluster, or of two) take each other's pods for orphans."""
        return f"/{self.netns}"

    @classmethod
    def start(cls, cp: ControlPlane, root: Path, network: Network, index: int = 0, *, detach: bool = False,
              extra_images: tuple[Path, ...] = ()) -> Node:
        root.mkdir(parents=True, exist_ok=True)
        node = cls(cp, root, network, index, detach)
        try:
            node._start(extra_images)
        except BaseException:
            node.stop()
            raise
        return node

    def _process(self, name: str, argv: list[str]) -> Process:
        process = start_process(name, argv, self.root, detach=self.detach, netns=self.netns)
        self.processes.append(process)
        self.recorder()
        return process

    # -- containerd -------------------------------------------------------------------------------

    def _containerd_config(self) -> Path:
        r = self.root / "containerd"
        cni = self.root / "cni"
        net, i = self.network, self.index
        gateway = net.gateway(i)
        (cni / "net.d").mkdir(parents=True)
        (cni / "net.d" / "10-kubectl-oras.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": "kubectl-oras",
            "plugins": [
                {"type": "bridge", "bridge": net.bridge, "isGateway": True, "ipMasq": False, "hairpinMode": True,
                 # Pods get routes to Service addresses (via their node, where kube-proxy rewrites
                 # them) and to the other nodes' pods, and none other: nothing in a pod can send
                 # anywhere but this machine.
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": net.pod_cidr(i), "gateway": gateway}]],
                          # The nodes' own addresses too: kube-proxy masquerades Service traffic
                          # as the client's node, and the reply goes back there.
                          "routes": [{"dst": dst, "gw": gateway} for dst in (net.services, net.cluster_cidr, net.link_cidr)],
                          "dataDir": str(cni / "ipam")}},
                {"type": "loopback"},
            ]}))
        config = f"""version = 2
root = "{r / 'root'}"
state = "{r / 'state'}"
disabled_plugins = ["io.containerd.snapshotter.v1.aufs", "io.containerd.snapshotter.v1.btrfs",
                    "io.containerd.snapshotter.v1.zfs", "io.containerd.snapshotter.v1.devmapper"]
[grpc]
  address = "{self.containerd_socket}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{r / 'opt'}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{images.pause_image().name}"
  # We run without CAP_SYS_RESOURCE here, so runc cannot lower oom_score_adj to the -998 the
  # sandbox asks for ("failed to update /proc/self/oom_score_adj: Permission denied"); clamp it.
  restrict_oom_score_adj = true
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "{cni / 'net.d'}"
  # A registry's hosts.toml here (pull_over_plain_http) is read at each pull: no restart.
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "{r / 'certs.d'}"
"""
        path = r / "config.toml"
        r.mkdir(parents=True, exist_ok=True)
        path.write_text(config)
        return path

    def pull_over_plain_http(self, host: str) -> None:
        """Let the node's containerd pull images from ``host`` (HOST:PORT, e.g. a cache's Service)
        over plain HTTP, as it does only for localhost unless told."""
        directory = self.root / "containerd" / "certs.d" / host
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "hosts.toml").write_text(f'server = "http://{host}"\n\n[host."http://{host}"]\n'
                                              '  capabilities = ["pull", "resolve"]\n')

    def _start_containerd(self) -> None:
        config = self._containerd_config()
        proc = self._process("containerd", ["containerd", "--config", str(config)])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.exit_code() is not None:
                raise RuntimeError(f"containerd exited:\n{proc.tail()}")
            if _run("ctr", "--address", self.containerd_socket, "version", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"containerd did not answer:\n{proc.tail()}")

    @property
    def images_directory(self) -> Path:
        """Where the archives of the images every node has are written, once for all the nodes."""
        return self.root.parent / "images"

    def _import_images(self, extra: tuple[Path, ...]) -> None:
        for archive in (*images.node_archives(self.images_directory), *extra):
            images.import_image(archive, address=self.containerd_socket)

    def import_archive(self, archive: Path, *also: str) -> None:
        """Load an OCI image archive into the node's containerd (namespace k8s.io, as the kubelet
        sees it), also under the names ``also``."""
        images.import_image(archive, address=self.containerd_socket, also=also)

    # -- kubelet ----------------------------------------------------------------------------------

    def _start_kubelet(self) -> None:
        k = self.root / "kubelet"
        pki.private_dir(k / "pki")
        ca, ca_files = self.cp.signing()
        cert, key = issue(ca, common_name=f"system:node:{self.name}", organizations=("system:nodes",),
                          server=False, client=True, days=365)
        pki.write_private(k / "pki" / "node.crt", cert)
        pki.write_private(k / "pki" / "node.key", key)
        serving, serving_key = issue(ca, common_name=self.name, hosts=[self.ip, self.name], days=365)
        pki.write_private(k / "pki" / "serving.crt", serving)
        pki.write_private(k / "pki" / "serving.key", serving_key)
        kubeconfig = write_kubeconfig(k / "kubeconfig", server=self.cp.server, ca=ca_files.cert_pem(),
                                      user={"client-certificate": str(k / "pki" / "node.crt"),
                                            "client-key": str(k / "pki" / "node.key")}, name="node")
        healthz = free_port()
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "failCgroupV1": False,  # this VM has a cgroup v1 hierarchy; 1.35+ refuses it unless told
            "cgroupDriver": "cgroupfs", "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "address": self.ip, "port": free_port(), "readOnlyPort": 0,
            # Checked from the host: a node in a namespace of its own has a loopback of its own.
            "healthzBindAddress": self.ip, "healthzPort": healthz,
            "cgroupRoot": self.cgroup_root,
            # Its own, not the default /var/log/pods: a kubelet deletes the log directories of pods
            # it does not run, which would be the other nodes'.
            "podLogsDir": str(k / "pod-logs"),
            "tlsCertFile": str(k / "pki" / "serving.crt"), "tlsPrivateKeyFile": str(k / "pki" / "serving.key"),
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                               "x509": {"clientCAFile": str(ca_files.cert)}},
            "authorization": {"mode": "AlwaysAllow"},
            # Pods resolve Service names with our CoreDNS on the bridge; no host resolver is passed on.
            "podCIDR": self.network.pod_cidr(self.index), "resolvConf": "", "clusterDNS": [self.network.dns],
            "clusterDomain": CLUSTER_DOMAIN,
            "serializeImagePulls": False,
            # Machines here have had as little as a few hundred MB free: evict only when truly out.
            "evictionHard": {"memory.available": "50Mi", "nodefs.available": "1%", "imagefs.available": "1%",
                             "nodefs.inodesFree": "1%"},
            "imageGCHighThresholdPercent": 100, "imageGCLowThresholdPercent": 99,
            "syncFrequency": "5s", "fileCheckFrequency": "5s",
            "nodeStatusUpdateFrequency": "5s",
        }
        (k / "config.yaml").write_text(yaml.safe_dump(config))
        kube = built("kube")
        proc = self._process("kubelet", [
            str(kube / "kubelet"), f"--config={k / 'config.yaml'}", f"--kubeconfig={kubeconfig}",
            f"--root-dir={k / 'root'}", f"--cert-dir={k / 'pki'}", f"--hostname-override={self.name}",
            f"--node-ip={self.ip}", "--v=1",
        ])
        wait_listening(self.ip, healthz, proc=proc.proc, timeout=60)

    def _client_cert(self, name: str, common_name: str, organizations: tuple[str, ...] = ()) -> Path:
        d = pki.private_dir(self.root / name)
        ca, ca_files = self.cp.signing()
        cert, key = issue(ca, common_name=common_name, organizations=organizations, server=False,
                          client=True, days=2)
        pki.write_private(d / "client.crt", cert)
        pki.write_private(d / "client.key", key)
        return write_kubeconfig(d / "kubeconfig", server=self.cp.server, ca=ca_files.cert_pem(),
                                user={"client-certificate": str(d / "client.crt"), "client-key": str(d / "client.key")},
                                name=name)

    def _start_kube_proxy(self) -> None:
        """Services for the host and for pods: iptables mode, masquerading all Service traffic
        (pods on one bridge without br_netfilter would otherwise get replies from the wrong address)."""
        kubeconfig = self._client_cert("kube-proxy", "system:kube-proxy")  # bound to system:node-proxier by default
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "hostnameOverride": self.name, "mode": "iptables", "clusterCIDR": self.network.cluster_cidr,
            "healthzBindAddress": f"127.0.0.1:{free_port()}", "metricsBindAddress": f"127.0.0.1:{free_port()}",
            "conntrack": {"maxPerCore": 0, "min": 0},  # leave the host's conntrack sysctls alone
            # NodePorts on the node's own address only: not on the machine's LAN addresses, and not on
            # 127.0.0.1 (which would also set route_localnet on the host). A family given no CIDR
            # gets all its addresses, so IPv6 gets one no interface has: no IPv6 NodePorts at all.
            "nodePortAddresses": [f"{self.ip}/32", NO_IPV6_ADDRESS],
            "iptables": {"masqueradeAll": True, "syncPeriod": "1s", "minSyncPeriod": "0s", "localhostNodePorts": False},
        }
        path = self.root / "kube-proxy" / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        self._process("kube-proxy", [str(built("kube") / "kube-proxy"), f"--config={path}"])

    def _wait_ready(self, timeout: float = 120) -> None:
        session = self.cp.session()
        deadline = time.monotonic() + timeout
        last = "not registered"
        while time.monotonic() < deadline:
            for p in self.processes:
                if p.exit_code() is not None:
                    raise RuntimeError(f"{p.name} exited ({p.exit_code()}):\n{p.tail()}")
            r = session.get(f"{self.cp.server}/api/v1/nodes/{self.name}")
            if r.status_code == 200:
                conditions = {c["type"]: c for c in r.json()["status"].get("conditions", [])}
                ready = conditions.get("Ready", {})
                if ready.get("status") == "True":
                    return
                last = f"{ready.get('reason')}: {ready.get('message')}"
            time.sleep(0.5)
        kubelet = next(p for p in self.processes if p.name == "kubelet")
        raise RuntimeError(f"node not Ready after {timeout}s ({last})\n{kubelet.tail(6000)}")

    def _make_cgroup(self) -> None:
        """The kubelet refuses a cgroupRoot that does not exist; cpuset needs its cpus and mems."""
        for hierarchy in self._hierarchies():
            mine = hierarchy / self.netns
            mine.mkdir(exist_ok=True)
            for knob in ("cpuset.cpus", "cpuset.mems"):
                if (mine / knob).exists() and not (mine / knob).read_text().strip():
                    (mine / knob).write_text((hierarchy / knob).read_text())

    @staticmethod
    def _hierarchies() -> list[Path]:
        if (CGROUP / "cgroup.controllers").exists():  # the unified hierarchy (cgroup v2)
            return [CGROUP]
        return [d for d in CGROUP.iterdir() if d.is_dir() and not d.is_symlink() and (d / "cgroup.procs").exists()]

    def _remove_cgroup(self) -> None:
        if not self.names_known:
            raise RuntimeError(f"its cgroup's name is not known (the network's record is lost): {self.cgroup_root} left as it is")
        for hierarchy in self._hierarchies():
            mine = hierarchy / self.netns
            if mine.exists():
                for d in sorted((d for d in mine.rglob("*") if d.is_dir()), key=lambda d: len(d.parts), reverse=True):
                    self._rmdir_when_empty(d)
                self._rmdir_when_empty(mine)

    @staticmethod
    def _rmdir_when_empty(cgroup: Path, timeout: float = 10) -> None:
        """A cgroup goes once its last process has exited, a moment after its kill (EBUSY until
        then); one that does not is left for leftovers() to report."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                cgroup.rmdir()
                return
            except FileNotFoundError:
                return
            except OSError:
                if time.monotonic() > deadline:
                    return
                time.sleep(0.1)

    def _start(self, extra_images: tuple[Path, ...]) -> None:
        began = time.monotonic()
        _run("mount", "--make-rshared", "/", check=False)  # kubelet needs shared mount propagation
        self._make_cgroup()
        self._start_containerd()
        self._import_images(extra_images)
        self._start_kube_proxy()
        self._start_kubelet()
        self._wait_ready()
        self.ready_seconds = time.monotonic() - began

    def record(self) -> dict:
        return {"root": str(self.root), "index": self.index, "processes": [p.record() for p in self.processes]}

    @classmethod
    def recorded(cls, cp: ControlPlane, network: Network, record: dict) -> Node:
        return cls(cp, Path(record["root"]), network, record["index"],
                   processes=[Process.recorded(p) for p in record["processes"]])

    # -- teardown ---------------------------------------------------------------------------------

    def stop(self) -> None:
        """Containers, processes, shims, pod namespaces, mounts, cgroups, then the directory (its
        iptables go with its network namespace, which the network's removal deletes). Each part is
        tried even when one before it failed; the directory is removed only when all went (never
        while anything may still be mounted under it)."""
        pod_namespaces: set[int] = set()

        def containers() -> None:
            nonlocal pod_namespaces
            for p in reversed(self.processes):
                if p.name == "kubelet":
                    p.stop()
            if self._containerd_answers():  # whoever started it: it listens on our socket
                pod_namespaces = self._remove_containers()

        def processes() -> None:
            self.processes = stop_all(self.processes)
            stop_running_under(self.root)  # any started but not recorded (the state lost)

        steps: list[tuple[str, Callable[[], object]]] = [
            ("containers", containers), ("processes", processes),
            ("shims", self._kill_shims), ("pod network namespaces", lambda: self._remove_pod_namespaces(pod_namespaces)),
            ("mounts", self._unmount_all), ("cgroups", self._remove_cgroup),
        ]
        failed = []
        for what, step in steps:
            try:
                step()
            except Exception as e:  # the rest still goes
                failed.append(f"{what}: {e}")
        if failed:
            raise RuntimeError(f"node {self.name}: {'; '.join(failed)} ({self.root} is kept)")
        remove_tree(self.root)

    def _containerd_answers(self) -> bool:
        return Path(self.containerd_socket).is_socket() and \
            _run("ctr", "--address", self.containerd_socket, "version", check=False).returncode == 0

    def _remove_containers(self) -> set[int]:
        """Kill and delete every container; returns the network namespaces (inodes) its pods had."""
        ctr = ["ctr", "--address", self.containerd_socket, "-n", "k8s.io"]
        namespaces = set()
        listing = _run(*ctr, "tasks", "ls", check=False).stdout.splitlines()[1:]
        for line in listing:
            fields = line.split()
            if len(fields) >= 2 and fields[1].isdigit():
                try:
                    namespaces.add(os.stat(f"/proc/{fields[1]}/ns/net").st_ino)
                except OSError:
                    pass
        tasks = [line.split()[0] for line in listing if line.split()]
        for task in tasks:
            _run(*ctr, "tasks", "kill", "-s", "SIGKILL", task, check=False)
        deadline = time.monotonic() + 10
        for task in tasks:
            while _run(*ctr, "tasks", "delete", task, check=False).returncode != 0 and time.monotonic() < deadline:
                time.sleep(0.1)
        for container in _run(*ctr, "containers", "ls", "-q", check=False).stdout.split():
            _run(*ctr, "containers", "delete", container, check=False)
        return namespaces

    @staticmethod
    def _remove_pod_namespaces(inodes: set[int]) -> None:
        """The pods' network namespaces CNI made (containerd removes them only through the CRI)."""
        netns = Path("/run/netns")
        for path in netns.glob("cni-*") if netns.exists() else []:
            try:
                if path.stat().st_ino in inodes:
                    _run("ip", "netns", "delete", path.name, check=False)
            except OSError:
                pass

    def _kill_shims(self) -> None:
        """Shims outlive containerd by design; ours are the ones started with our socket."""
        for pid in os.listdir("/proc"):
            if not pid.isdigit():
                continue
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            ours = self.containerd_socket.encode() in b" ".join(cmdline)
            if cmdline and cmdline[0].endswith(b"containerd-shim-runc-v2") and ours:
                try:
                    os.kill(int(pid), 9)
                except ProcessLookupError:
                    pass

    def leftovers(self) -> list[str]:
        """What stop() should have removed, if anything is still there."""
        found = []
        with open("/proc/self/mounts") as f:
            found += [f"mount {line.split()[1]}" for line in f if str(self.root) in line.split()[1]]
        found += [f"cgroup {h / self.netns}" for h in self._hierarchies() if (h / self.netns).exists()]
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if str(self.root).encode() in cmdline:
                found.append(f"process {pid}: {cmdline.replace(bytes(1), b' ')[:120].decode(errors='replace')}")
        return found

    def _unmount_all(self) -> None:
        unmount_under(self.root)


def mounts_under(root: Path, mounts: str) -> list[str]:
    """The mount points at or under ``root`` in /proc/self/mounts' text (spaces in them escaped)."""
    prefix = str(root).rstrip("/")
    points = [line.split()[1].replace("\\040", " ") for line in mounts.splitlines() if len(line.split()) > 1]
    return sorted((m for m in points if m == prefix or m.startswith(prefix + "/")), key=len, reverse=True)


def _mounts() -> str:
    return Path("/proc/self/mounts").read_text()


def unmount_under(root: Path) -> None:
    """Lazily unmount everything mounted at or under ``root``, the deepest first; fails naming
    what is still mounted."""
    for mountpoint in mounts_under(root, _mounts()):
        _run("umount", "-l", mountpoint, check=False)
    left = mounts_under(root, _mounts())
    if left:
        raise RuntimeError(f"still mounted: {', '.join(left[:5])}")


def remove_tree(root: Path) -> None:
    """Remove a cluster's directory, but never while something is mounted under it: a bind mount
    (a pod's hostPath volume) would take the files it shows with it."""
    unmount_under(root)
    shutil.rmtree(root, ignore_errors=True)
    if root.exists():
        raise RuntimeError(f"could not remove {root}")
