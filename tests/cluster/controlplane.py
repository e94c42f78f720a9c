"""A real Kubernetes control plane on loopback for tier-2 tests: etcd + kube-apiserver (RBAC on)
+ kube-controller-manager, from the binaries tests/cluster/build.sh makes.

Modelled on controller-runtime's envtest: client-certificate auth for an admin in
system:masters, service-account signing keys, a service CIDR that nothing ever routes to.
See docs/control-plane.md for the flags and why each is there.
"""

from __future__ import annotations

import ctypes
import os
import shutil
import signal
import subprocess
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

from tests.support.net import free_port, wait_listening
from tests.support.tools import built

from . import pki

_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> None:
    """Children get SIGKILL if the test process dies, so no etcd or apiserver outlives a crash."""
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)


@dataclass
class Process:
    name: str
    proc: subprocess.Popen
    log: Path

    def stop(self, timeout: float = 15) -> None:
        if self.proc.poll() is not None:
            return
        os.killpg(self.proc.pid, signal.SIGTERM)
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait()

    def tail(self, n: int = 3000) -> str:
        try:
            return self.log.read_text(errors="replace")[-n:]
        except OSError:
            return ""


def start_process(name: str, argv: list[str], root: Path) -> Process:
    log = root / f"{name}.log"
    proc = subprocess.Popen(argv, stdout=open(log, "wb"), stderr=subprocess.STDOUT, cwd=root,
                            start_new_session=True, preexec_fn=_die_with_parent)
    return Process(name, proc, log)


def write_kubeconfig(path: Path, *, server: str, ca: bytes, user: dict, name: str = "test") -> Path:
    import base64

    config = {
        "apiVersion": "v1",
        "kind": "Config",
        "clusters": [{"name": name, "cluster": {"server": server, "certificate-authority-data": base64.b64encode(ca).decode()}}],
        "users": [{"name": name, "user": user}],
        "contexts": [{"name": name, "context": {"cluster": name, "user": name, "namespace": "default"}}],
        "current-context": name,
    }
    path.write_text(yaml.safe_dump(config))
    path.chmod(0o600)
    return path


@dataclass
class ControlPlane:
    root: Path
    server: str = ""
    kubeconfig: Path = Path()
    ca: pki.KeyPair | None = None
    admin: pki.KeyPair | None = None
    processes: list[Process] = field(default_factory=list)
    startup_seconds: float = 0.0
    authority: object = None  # controller.core.certificates.Authority: signs node certificates (tier 3)
    etcd: str = ""  # etcd's client URL (its JSON gateway answers /v3/...)

    # -- lifecycle ----------------------------------------------------------------------------

    @classmethod
    def start(cls, *, with_controller_manager: bool = True) -> ControlPlane:
        root = Path(tempfile.mkdtemp(prefix="kubectl-oras-cp-"))
        cp = cls(root)
        try:
            cp._start(with_controller_manager)
        except BaseException:
            cp.stop()
            raise
        return cp

    def _start(self, with_controller_manager: bool) -> None:
        began = time.monotonic()
        kube = built("kube")
        pkidir = self.root / "pki"
        pkidir.mkdir()
        self.ca, ca = pki.authority(pkidir, "ca")
        self.authority = ca
        serving = pki.certificate(pkidir, "apiserver", ca, common_name="kube-apiserver", server=True,
                                  hosts=("127.0.0.1", "localhost", "kubernetes.default.svc"))
        self.admin = pki.certificate(pkidir, "admin", ca, common_name="admin", organizations=("system:masters",),
                                     client=True)
        sa = pki.service_account_keys(pkidir)

        etcd_port, etcd_peer = free_port(), free_port()
        etcd = start_process("etcd", [
            str(built("etcd") / "etcd"),
            "--data-dir", str(self.root / "etcd"),
            "--listen-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--advertise-client-urls", f"http://127.0.0.1:{etcd_port}",
            "--listen-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-advertise-peer-urls", f"http://127.0.0.1:{etcd_peer}",
            "--initial-cluster", f"default=http://127.0.0.1:{etcd_peer}",
            "--unsafe-no-fsync",  # test data: durability buys nothing, fsync costs seconds per test
        ], self.root)
        self.processes.append(etcd)
        wait_listening("127.0.0.1", etcd_port, proc=etcd.proc, timeout=30)
        self.etcd = f"http://127.0.0.1:{etcd_port}"

        port = free_port()
        self.server = f"https://127.0.0.1:{port}"
        apiserver = start_process("kube-apiserver", [
            str(kube / "kube-apiserver"),
            "--bind-address=127.0.0.1", "--advertise-address=127.0.0.1", f"--secure-port={port}",
            f"--etcd-servers=http://127.0.0.1:{etcd_port}",
            f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={self.ca.cert}",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            f"--kubelet-client-certificate={self.admin.cert}", f"--kubelet-client-key={self.admin.key}",
            "--kubelet-preferred-address-types=InternalIP",  # never look node names up in DNS
            f"--service-account-key-file={sa.cert}", f"--service-account-signing-key-file={sa.key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--api-audiences=https://kubernetes.default.svc.cluster.local",
            "--service-cluster-ip-range=10.96.0.0/24",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            "--endpoint-reconciler-type=none",
            f"--cert-dir={self.root / 'apiserver-certs'}",
        ], self.root)
        self.processes.append(apiserver)
        self.kubeconfig = write_kubeconfig(
            self.root / "admin.kubeconfig", server=self.server, ca=self.ca.cert_pem(),
            user={"client-certificate": str(self.admin.cert), "client-key": str(self.admin.key)},
        )
        self._wait_ready(apiserver)

        if with_controller_manager:
            kcm = start_process("kube-controller-manager", [
                str(kube / "kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}", f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
                f"--service-account-private-key-file={sa.key}", f"--root-ca-file={self.ca.cert}",
                "--leader-elect=false", "--use-service-account-credentials=true",
                "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route",
            ], self.root)
            self.processes.append(kcm)
            self._wait_default_service_account(kcm)
        self.startup_seconds = time.monotonic() - began

    def _wait_ready(self, apiserver: Process, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if apiserver.proc.poll() is not None:
                raise RuntimeError(f"kube-apiserver exited ({apiserver.proc.returncode}):\n{apiserver.tail()}")
            try:
                r = self.session().get(f"{self.server}/readyz", timeout=2)
                if r.status_code == 200:
                    return
                last = r.text
            except requests.RequestException as e:
                last = str(e)
            time.sleep(0.25)
        raise RuntimeError(f"kube-apiserver not ready after {timeout}s: {last}\n{apiserver.tail()}")

    def _wait_default_service_account(self, kcm: Process, timeout: float = 60) -> None:
        """Pods need the namespace's default ServiceAccount, which the controller manager makes."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if kcm.proc.poll() is not None:
                raise RuntimeError(f"kube-controller-manager exited ({kcm.proc.returncode}):\n{kcm.tail()}")
            r = self.session().get(f"{self.server}/api/v1/namespaces/default/serviceaccounts/default", timeout=2)
            if r.status_code == 200:
                return
            time.sleep(0.25)
        raise RuntimeError(f"no default ServiceAccount after {timeout}s:\n{kcm.tail()}")

    def compact_etcd(self) -> int:
        """Compact etcd's history up to now (as its periodic compaction does): a watch from an older
        resourceVersion is then answered 410 Gone whether the apiserver's watch cache or etcd
        serves it. Returns the revision."""
        head = requests.post(f"{self.etcd}/v3/kv/range", json={"key": "AA=="}, timeout=10).json()["header"]
        revision = int(head["revision"])
        requests.post(f"{self.etcd}/v3/kv/compaction", json={"revision": revision, "physical": True},
                      timeout=30).raise_for_status()
        return revision

    def stop_apiserver(self, *, kill: bool = False) -> tuple[int, list[str]]:
        """Stop the kube-apiserver alone (etcd keeps the data); start_apiserver brings it back.
        SIGTERM lets it end its watches with a last bookmark (the resourceVersion they can go on
        from); ``kill`` (SIGKILL) is a crash: no bookmark, the watches just break."""
        index, process = next((i, p) for i, p in enumerate(self.processes) if p.name.startswith("kube-apiserver"))
        if kill and process.proc.poll() is None:
            os.killpg(process.proc.pid, signal.SIGKILL)
            process.proc.wait()
        process.stop()
        return index, list(process.proc.args)

    def start_apiserver(self, index: int, argv: list[str]) -> Process:
        """The apiserver again, with a watch cache that starts from a fresh list of etcd: a watch
        from a resourceVersion of before is answered 410 Gone."""
        process = start_process(f"kube-apiserver-{time.monotonic_ns()}", argv, self.root)
        self.processes[index] = process
        self._wait_ready(process)
        return process

    def stop(self) -> None:
        for process in reversed(self.processes):
            process.stop()
        self.processes.clear()
        shutil.rmtree(self.root, ignore_errors=True)

    # -- clients ------------------------------------------------------------------------------

    def session(self) -> requests.Session:
        """An admin (system:masters) HTTP session."""
        assert self.ca and self.admin
        s = requests.Session()
        # requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override a Session's verify; this
        # machine sets both, so without this our CA would be ignored.
        s.trust_env = False
        s.verify = str(self.ca.cert)
        s.cert = (str(self.admin.cert), str(self.admin.key))
        return s

    def service_account_token(self, namespace: str, name: str, *, seconds: int = 3600) -> str:
        """A token for the ServiceAccount from the TokenRequest API, as a pod would get one."""
        r = self.session().post(
            f"{self.server}/api/v1/namespaces/{namespace}/serviceaccounts/{name}/token",
            json={"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest",
                  "spec": {"expirationSeconds": seconds, "audiences": ["https://kubernetes.default.svc.cluster.local"]}},
        )
        r.raise_for_status()
        return r.json()["status"]["token"]

    def kubeconfig_for_service_account(self, namespace: str, name: str) -> Path:
        """A kubeconfig that authenticates as the ServiceAccount and nothing more."""
        assert self.ca
        token = self.service_account_token(namespace, name)
        return write_kubeconfig(self.root / f"sa-{namespace}-{name}.kubeconfig", server=self.server,
                                ca=self.ca.cert_pem(), user={"token": token}, name=f"{namespace}-{name}")

