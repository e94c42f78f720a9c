"""A real node on this machine for tier-3 tests: containerd + runc + CNI bridge from Debian,
kubelet and kube-scheduler built by tests/cluster/build.sh, registered with the tier-2 control
plane. Everything lives under one temp directory and is torn down with it: containers, shims,
mounts, network namespaces and the bridge. docs/node.md says why each setting is what it is.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from controller.core.certificates import issue
from tests.cluster.controlplane import ControlPlane, Process, start_process, write_kubeconfig
from tests.support.net import free_port, wait_listening
from tests.support.tools import built

from . import images

NODE_NAME = "kubectl-oras-node"
POD_CIDR = "10.244.0.0/24"  # pod network namespaces on a bridge of our own; nothing leaves it
BRIDGE = "koras0"
NODE_IP = "10.244.0.1"  # the bridge's own address: the kubelet refuses loopback as a node IP
SERVICE_CIDR = "10.96.0.0/24"  # the apiserver's --service-cluster-ip-range; routed onto our bridge
CLUSTER_DOMAIN = "cluster.local"


def _run(*argv: str, check: bool = True) -> subprocess.CompletedProcess:
    return subprocess.run(list(argv), capture_output=True, text=True, check=check)


@dataclass
class Node:
    cp: ControlPlane
    root: Path
    processes: list[Process] = field(default_factory=list)
    ready_seconds: float = 0.0

    @property
    def containerd_socket(self) -> str:
        return str(self.root / "containerd" / "containerd.sock")

    @classmethod
    def start(cls, cp: ControlPlane) -> Node:
        node = cls(cp, Path(tempfile.mkdtemp(prefix="kubectl-oras-node-")))
        try:
            node._start()
        except BaseException:
            node.stop()
            raise
        return node

    # -- containerd -------------------------------------------------------------------------------

    def _containerd_config(self) -> Path:
        r = self.root / "containerd"
        cni = self.root / "cni"
        (cni / "net.d").mkdir(parents=True)
        (cni / "net.d" / "10-kubectl-oras.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": "kubectl-oras-test",
            "plugins": [
                {"type": "bridge", "bridge": BRIDGE, "isGateway": True, "ipMasq": False, "hairpinMode": True,
                 # Pods get a route to Service addresses (via the host, where kube-proxy rewrites
                 # them) and none other: nothing in a pod can send anywhere but this machine.
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR, "gateway": NODE_IP}]],
                          "routes": [{"dst": SERVICE_CIDR, "gw": NODE_IP}], "dataDir": str(cni / "ipam")}},
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
"""
        path = r / "config.toml"
        r.mkdir(parents=True, exist_ok=True)
        path.write_text(config)
        return path

    def _start_containerd(self) -> None:
        config = self._containerd_config()
        proc = start_process("containerd", ["containerd", "--config", str(config)], self.root)
        self.processes.append(proc)
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if proc.proc.poll() is not None:
                raise RuntimeError(f"containerd exited:\n{proc.tail()}")
            if _run("ctr", "--address", self.containerd_socket, "version", check=False).returncode == 0:
                return
            time.sleep(0.1)
        raise RuntimeError(f"containerd did not answer:\n{proc.tail()}")

    def _import_images(self) -> None:
        archives = self.root / "images"
        archives.mkdir()
        wanted = [images.pause_image(), images.shell_image(),
                  images.registry_image(str(built("distribution") / "registry"))]
        for image in wanted:
            archive = images.write_oci_archive(image, archives / (image.name.rsplit("/", 1)[1].replace(":", "-") + ".tar"))
            images.import_image(archive, address=self.containerd_socket)

    def import_archive(self, archive: Path) -> None:
        """Load an OCI image archive into the node's containerd (namespace k8s.io, as the kubelet sees it)."""
        images.import_image(archive, address=self.containerd_socket)

    # -- kubelet ----------------------------------------------------------------------------------

    def _start_kubelet(self) -> None:
        k = self.root / "kubelet"
        (k / "pki").mkdir(parents=True)
        ca = self.cp.authority
        cert, key = issue(ca, common_name=f"system:node:{NODE_NAME}", organizations=("system:nodes",),
                          server=False, client=True, days=2)
        (k / "pki" / "node.crt").write_bytes(cert)
        (k / "pki" / "node.key").write_bytes(key)
        serving, serving_key = issue(ca, common_name=NODE_NAME, hosts=[NODE_IP, NODE_NAME], days=2)
        (k / "pki" / "serving.crt").write_bytes(serving)
        (k / "pki" / "serving.key").write_bytes(serving_key)
        kubeconfig = write_kubeconfig(k / "kubeconfig", server=self.cp.server, ca=self.cp.ca.cert_pem(),
                                      user={"client-certificate": str(k / "pki" / "node.crt"),
                                            "client-key": str(k / "pki" / "node.key")}, name="node")
        config = {
            "apiVersion": "kubelet.config.k8s.io/v1beta1", "kind": "KubeletConfiguration",
            "failCgroupV1": False,  # this VM has a cgroup v1 hierarchy; 1.35+ refuses it unless told
            "cgroupDriver": "cgroupfs", "failSwapOn": False,
            "containerRuntimeEndpoint": f"unix://{self.containerd_socket}",
            "address": NODE_IP, "port": free_port(), "readOnlyPort": 0,
            "healthzBindAddress": "127.0.0.1", "healthzPort": free_port(),
            "tlsCertFile": str(k / "pki" / "serving.crt"), "tlsPrivateKeyFile": str(k / "pki" / "serving.key"),
            "authentication": {"anonymous": {"enabled": False}, "webhook": {"enabled": False},
                               "x509": {"clientCAFile": str(self.cp.ca.cert)}},
            "authorization": {"mode": "AlwaysAllow"},
            # Pods resolve Service names with our CoreDNS on the bridge; no host resolver is passed on.
            "podCIDR": POD_CIDR, "resolvConf": "", "clusterDNS": [NODE_IP], "clusterDomain": CLUSTER_DOMAIN,
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
        proc = start_process("kubelet", [
            str(kube / "kubelet"), f"--config={k / 'config.yaml'}", f"--kubeconfig={kubeconfig}",
            f"--root-dir={k / 'root'}", f"--cert-dir={k / 'pki'}", f"--hostname-override={NODE_NAME}",
            f"--node-ip={NODE_IP}", "--v=1",
        ], self.root)
        self.processes.append(proc)
        wait_listening("127.0.0.1", config["healthzPort"], proc=proc.proc, timeout=60)

    def _start_scheduler(self) -> None:
        kube = built("kube")
        proc = start_process("kube-scheduler", [
            str(kube / "kube-scheduler"), f"--kubeconfig={self.cp.kubeconfig}",
            f"--authentication-kubeconfig={self.cp.kubeconfig}", f"--authorization-kubeconfig={self.cp.kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
        ], self.root)
        self.processes.append(proc)

    def _client_cert(self, name: str, common_name: str, organizations: tuple[str, ...] = ()) -> Path:
        d = self.root / name
        d.mkdir(parents=True, exist_ok=True)
        cert, key = issue(self.cp.authority, common_name=common_name, organizations=organizations, server=False,
                          client=True, days=2)
        (d / "client.crt").write_bytes(cert)
        (d / "client.key").write_bytes(key)
        return write_kubeconfig(d / "kubeconfig", server=self.cp.server, ca=self.cp.ca.cert_pem(),
                                user={"client-certificate": str(d / "client.crt"), "client-key": str(d / "client.key")},
                                name=name)

    def _start_kube_proxy(self) -> None:
        """Services for the host and for pods: iptables mode, masquerading all Service traffic
        (pods on one bridge without br_netfilter would otherwise get replies from the wrong address)."""
        kubeconfig = self._client_cert("kube-proxy", "system:kube-proxy")  # bound to system:node-proxier by default
        config = {
            "apiVersion": "kubeproxy.config.k8s.io/v1alpha1", "kind": "KubeProxyConfiguration",
            "clientConnection": {"kubeconfig": str(kubeconfig)},
            "hostnameOverride": NODE_NAME, "mode": "iptables", "clusterCIDR": POD_CIDR,
            "healthzBindAddress": f"127.0.0.1:{free_port()}", "metricsBindAddress": f"127.0.0.1:{free_port()}",
            "conntrack": {"maxPerCore": 0, "min": 0},  # leave the host's conntrack sysctls alone
            "iptables": {"masqueradeAll": True, "syncPeriod": "1s", "minSyncPeriod": "0s"},
        }
        path = self.root / "kube-proxy" / "config.yaml"
        path.write_text(yaml.safe_dump(config))
        self.processes.append(start_process("kube-proxy", [str(built("kube") / "kube-proxy"), f"--config={path}"],
                                            self.root))

    def _start_dns(self) -> None:
        """CoreDNS on the bridge address: Service names from the API, and NXDOMAIN for every
        other name, so no query ever leaves this machine."""
        kubeconfig = self._client_cert("coredns", "kubectl-oras-test-dns", ("system:masters",))
        corefile = self.root / "coredns" / "Corefile"
        corefile.write_text(
            f"{CLUSTER_DOMAIN}:53 {{\n  bind {NODE_IP}\n  errors\n"
            f"  kubernetes {CLUSTER_DOMAIN} {{\n    kubeconfig {kubeconfig}\n  }}\n}}\n"
            f".:53 {{\n  bind {NODE_IP}\n  template ANY ANY {{\n    rcode NXDOMAIN\n  }}\n}}\n")
        self.processes.append(start_process("coredns", [str(built("coredns") / "coredns"), "-conf", str(corefile)],
                                            self.root))

    def _wait_ready(self, timeout: float = 120) -> None:
        session = self.cp.session()
        deadline = time.monotonic() + timeout
        last = "not registered"
        while time.monotonic() < deadline:
            for p in self.processes:
                if p.proc.poll() is not None:
                    raise RuntimeError(f"{p.name} exited ({p.proc.returncode}):\n{p.tail()}")
            r = session.get(f"{self.cp.server}/api/v1/nodes/{NODE_NAME}")
            if r.status_code == 200:
                conditions = {c["type"]: c for c in r.json()["status"].get("conditions", [])}
                ready = conditions.get("Ready", {})
                if ready.get("status") == "True":
                    return
                last = f"{ready.get('reason')}: {ready.get('message')}"
            time.sleep(0.5)
        kubelet = next(p for p in self.processes if p.name == "kubelet")
        raise RuntimeError(f"node not Ready after {timeout}s ({last})\n{kubelet.tail(6000)}")

    def _make_bridge(self) -> None:
        """The CNI bridge, made up front so the node's address exists before the kubelet starts
        (the bridge plugin adopts an existing bridge of its name)."""
        _run("ip", "link", "add", BRIDGE, "type", "bridge")
        _run("ip", "addr", "add", f"{NODE_IP}/24", "dev", BRIDGE)
        _run("ip", "link", "set", BRIDGE, "up")
        # Service addresses go onto our bridge, never to the default route: kube-proxy's DNAT
        # turns them into pod addresses, and anything it does not know stays on this machine.
        _run("ip", "route", "add", SERVICE_CIDR, "dev", BRIDGE)

    def _start(self) -> None:
        began = time.monotonic()
        _run("mount", "--make-rshared", "/", check=False)  # kubelet needs shared mount propagation
        self._make_bridge()
        self._start_containerd()
        self._import_images()
        self._start_scheduler()
        self._start_kube_proxy()
        self._start_dns()
        self._start_kubelet()
        self._wait_ready()
        self.ready_seconds = time.monotonic() - began

    # -- teardown ---------------------------------------------------------------------------------

    def stop(self) -> None:
        for p in reversed(self.processes):
            if p.name == "kubelet":
                p.stop()
        if any(p.name == "containerd" and p.proc.poll() is None for p in self.processes):
            self._remove_containers()
        for p in reversed(self.processes):
            p.stop()
        self.processes.clear()
        if (self.root / "kube-proxy").exists():
            _run(str(built("kube") / "kube-proxy"), "--cleanup", check=False)  # its iptables chains
        self._remove_kubelet_chains()
        self._kill_shims()
        self._unmount_all()
        self._remove_network()
        shutil.rmtree(self.root, ignore_errors=True)

    def _remove_containers(self) -> None:
        ctr = ["ctr", "--address", self.containerd_socket, "-n", "k8s.io"]
        tasks = _run(*ctr, "tasks", "ls", "-q", check=False).stdout.split()
        for task in tasks:
            _run(*ctr, "tasks", "kill", "-s", "SIGKILL", task, check=False)
        deadline = time.monotonic() + 10
        for task in tasks:
            while _run(*ctr, "tasks", "delete", task, check=False).returncode != 0 and time.monotonic() < deadline:
                time.sleep(0.1)
        for container in _run(*ctr, "containers", "ls", "-q", check=False).stdout.split():
            _run(*ctr, "containers", "delete", container, check=False)

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
        found += [f"netns {n}" for n in _run("ip", "netns", "list", check=False).stdout.split("\n") if n.startswith("cni-")]
        if _run("ip", "link", "show", BRIDGE, check=False).returncode == 0:
            found.append(f"bridge {BRIDGE}")
        for tool in ("iptables-save", "ip6tables-save"):
            found += [f"{tool}: {line}" for line in _run(tool, check=False).stdout.splitlines() if "KUBE" in line]
        for pid in filter(str.isdigit, os.listdir("/proc")):
            try:
                cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
            except OSError:
                continue
            if str(self.root).encode() in cmdline:
                found.append(f"process {pid}: {cmdline.replace(bytes(1), b' ')[:120].decode(errors='replace')}")
        return found

    @staticmethod
    def _remove_kubelet_chains() -> None:
        """The kubelet's own iptables chains (KUBE-FIREWALL drops off-host traffic to 127/8)."""
        for tool in ("iptables", "ip6tables"):
            for table in ("filter", "nat", "mangle"):
                for hook in ("INPUT", "OUTPUT"):
                    while _run(tool, "-t", table, "-D", hook, "-j", "KUBE-FIREWALL", check=False).returncode == 0:
                        pass
                for chain in ("KUBE-FIREWALL", "KUBE-KUBELET-CANARY", "KUBE-IPTABLES-HINT"):
                    _run(tool, "-t", table, "-F", chain, check=False)
                    _run(tool, "-t", table, "-X", chain, check=False)

    def _unmount_all(self) -> None:
        root = str(self.root)
        with open("/proc/self/mounts") as f:
            mounts = [line.split()[1] for line in f]
        for mountpoint in sorted((m for m in mounts if m.startswith(root)), key=len, reverse=True):
            _run("umount", "-l", mountpoint, check=False)

    def _remove_network(self) -> None:
        for ns in _run("ip", "netns", "list", check=False).stdout.split("\n"):
            name = ns.split(" ")[0]
            if name.startswith("cni-"):
                _run("ip", "netns", "delete", name, check=False)
        _run("ip", "route", "delete", SERVICE_CIDR, check=False)
        _run("ip", "link", "delete", BRIDGE, check=False)
