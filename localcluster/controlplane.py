"""A real Kubernetes control plane: etcd + kube-apiserver (RBAC on) + kube-controller-manager,
from the binaries localcluster/build.sh makes.

On loopback (the tier-2 tests) it is modelled on controller-runtime's envtest: client-certificate
auth for an admin in system:masters, service-account signing keys, a service CIDR that nothing
routes to, and no endpoints for the `kubernetes` Service. On a routable address of this machine
(a local cluster's bridge) the apiserver also publishes itself as the `kubernetes` Service's
endpoint, so pods reach it: an installed controller runs in the cluster.
See docs/control-plane.md for the flags and why each is there.
"""

from __future__ import annotations

import ipaddress
import os
import shutil
import signal
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import requests
import yaml

from controller.core.certificates import Authority

from . import pki
from .binaries import built
from .processes import Process, free_port, start_process, stop_all, stop_running_under, wait_listening

LOOPBACK = "127.0.0.1"


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
    return pki.write_private(path, yaml.safe_dump(config).encode())


@dataclass
class ControlPlane:
    root: Path
    server: str = ""
    kubeconfig: Path = Path()
    ca: pki.KeyPair | None = None
    admin: pki.KeyPair | None = None
    processes: list[Process] = field(default_factory=list)
    startup_seconds: float = 0.0
    authority: Authority | None = None  # signs the nodes' certificates
    etcd: str = ""  # etcd's client URL (its JSON gateway answers /v3/...)
    etcd_client: pki.KeyPair | None = None  # the certificate etcd asks of its clients
    etcd_ca: pki.KeyPair | None = None
    recorder: Callable[[], None] = field(default=lambda: None, repr=False)  # called after each process starts

    # -- lifecycle ----------------------------------------------------------------------------

    @classmethod
    def start(cls, *, with_controller_manager: bool = True, address: str = LOOPBACK, port: int | None = None,
              service_cidr: str = "10.96.0.0/24", root: Path | None = None, detach: bool = False) -> ControlPlane:
        """``address``: where the apiserver listens (loopback, or a bridge's address pods can
        reach); ``root``: a directory of its own (a temporary one if not given); ``detach``: its
        processes outlive this one (a local cluster)."""
        cp = cls(root or Path(tempfile.mkdtemp(prefix="kubectl-oras-cp-")))
        try:
            cp.launch(with_controller_manager=with_controller_manager, address=address, port=port,
                      service_cidr=service_cidr, detach=detach)
        except BaseException:
            cp.stop()
            raise
        return cp

    def launch(self, *, with_controller_manager: bool = True, address: str = LOOPBACK, port: int | None = None,
               service_cidr: str = "10.96.0.0/24", detach: bool = False) -> None:
        """Start this control plane's processes (``start`` without the cleanup: whoever called
        this stops it on failure, having seen ``recorder`` called after each process)."""
        pki.private_dir(self.root)
        self._start(with_controller_manager, address, port or free_port(address), service_cidr, detach)

    def _start(self, with_controller_manager: bool, address: str, port: int, service_cidr: str, detach: bool) -> None:
        began = time.monotonic()
        kube = built("kube")
        pkidir = pki.private_dir(self.root / "pki")
        self.ca, ca = pki.authority(pkidir, "ca")
        self.authority = ca
        service_ip = str(ipaddress.ip_network(service_cidr)[1])  # the `kubernetes` Service's ClusterIP
        serving = pki.certificate(pkidir, "apiserver", ca, common_name="kube-apiserver", server=True,
                                  hosts=tuple(dict.fromkeys((address, LOOPBACK, service_ip, "localhost", "kubernetes",
                                                             "kubernetes.default", "kubernetes.default.svc",
                                                             "kubernetes.default.svc.cluster.local"))))
        self.admin = pki.certificate(pkidir, "admin", ca, common_name="admin", organizations=("system:masters",),
                                     client=True)
        sa = pki.service_account_keys(pkidir)

        def start(name: str, argv: list[str]) -> Process:
            process = start_process(name, argv, self.root, detach=detach)
            self.processes.append(process)
            self.recorder()
            return process

        # etcd holds every Secret and RBAC binding: any local user who could write to it would be
        # cluster-admin, and so root. It trusts only clients holding a certificate from a CA of its
        # own (the apiserver's, this file's admin), its peer port likewise (docs/control-plane.md).
        self.etcd_ca, etcd_ca = pki.authority(pkidir, "etcd-ca")
        etcd_serving = pki.certificate(pkidir, "etcd", etcd_ca, common_name="etcd", server=True, client=True,
                                       hosts=(LOOPBACK, "localhost"))
        self.etcd_client = pki.certificate(pkidir, "etcd-client", etcd_ca, common_name="kube-apiserver-etcd-client",
                                           client=True)
        etcd_port, etcd_peer = free_port(), free_port()
        tls = [f"--trusted-ca-file={self.etcd_ca.cert}", f"--cert-file={etcd_serving.cert}",
               f"--key-file={etcd_serving.key}", "--client-cert-auth",
               f"--peer-trusted-ca-file={self.etcd_ca.cert}", f"--peer-cert-file={etcd_serving.cert}",
               f"--peer-key-file={etcd_serving.key}", "--peer-client-cert-auth"]
        etcd = start("etcd", [
            str(built("etcd") / "etcd"),
            "--data-dir", str(self.root / "etcd"),
            "--listen-client-urls", f"https://127.0.0.1:{etcd_port}",
            "--advertise-client-urls", f"https://127.0.0.1:{etcd_port}",
            "--listen-peer-urls", f"https://127.0.0.1:{etcd_peer}",
            "--initial-advertise-peer-urls", f"https://127.0.0.1:{etcd_peer}",
            "--initial-cluster", f"default=https://127.0.0.1:{etcd_peer}",
            *tls,
            "--unsafe-no-fsync",  # test and demo data: durability buys nothing, fsync costs seconds per test
        ])
        wait_listening("127.0.0.1", etcd_port, proc=etcd.proc, timeout=30)
        self.etcd = f"https://127.0.0.1:{etcd_port}"

        self.server = f"https://{address}:{port}"
        apiserver = start("kube-apiserver", [
            str(kube / "kube-apiserver"),
            f"--bind-address={address}", f"--advertise-address={address}", f"--secure-port={port}",
            f"--etcd-servers={self.etcd}", f"--etcd-cafile={self.etcd_ca.cert}",
            f"--etcd-certfile={self.etcd_client.cert}", f"--etcd-keyfile={self.etcd_client.key}",
            f"--tls-cert-file={serving.cert}", f"--tls-private-key-file={serving.key}",
            f"--client-ca-file={self.ca.cert}",
            "--authorization-mode=Node,RBAC", "--enable-admission-plugins=NodeRestriction",
            f"--kubelet-client-certificate={self.admin.cert}", f"--kubelet-client-key={self.admin.key}",
            "--kubelet-preferred-address-types=InternalIP",  # never look node names up in DNS
            f"--service-account-key-file={sa.cert}", f"--service-account-signing-key-file={sa.key}",
            "--service-account-issuer=https://kubernetes.default.svc.cluster.local",
            "--api-audiences=https://kubernetes.default.svc.cluster.local",
            f"--service-cluster-ip-range={service_cidr}",
            "--allow-privileged=true",
            "--enable-priority-and-fairness=false",
            # On loopback, pods could not reach the address the `kubernetes` Service would point at.
            *(["--endpoint-reconciler-type=none"] if address == LOOPBACK else []),
            f"--cert-dir={self.root / 'apiserver-certs'}",
        ])
        self.kubeconfig = write_kubeconfig(
            self.root / "admin.kubeconfig", server=self.server, ca=self.ca.cert_pem(),
            user={"client-certificate": str(self.admin.cert), "client-key": str(self.admin.key)},
        )
        self._wait_ready(apiserver)

        if with_controller_manager:
            kcm = start("kube-controller-manager", [
                str(kube / "kube-controller-manager"),
                f"--kubeconfig={self.kubeconfig}",
                f"--authentication-kubeconfig={self.kubeconfig}", f"--authorization-kubeconfig={self.kubeconfig}",
                "--bind-address=127.0.0.1", f"--secure-port={free_port()}",
                f"--service-account-private-key-file={sa.key}", f"--root-ca-file={self.ca.cert}",
                "--leader-elect=false", "--use-service-account-credentials=true",
                "--controllers=*,-nodeipam,-cloud-node-lifecycle,-service-lb-controller,-route",
            ])
            self._wait_default_service_account(kcm)
        self.startup_seconds = time.monotonic() - began

    def _wait_ready(self, apiserver: Process, timeout: float = 120) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        while time.monotonic() < deadline:
            if apiserver.exit_code() is not None:
                raise RuntimeError(f"kube-apiserver exited ({apiserver.exit_code()}):\n{apiserver.tail()}")
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
            if kcm.exit_code() is not None:
                raise RuntimeError(f"kube-controller-manager exited ({kcm.exit_code()}):\n{kcm.tail()}")
            r = self.session().get(f"{self.server}/api/v1/namespaces/default/serviceaccounts/default", timeout=2)
            if r.status_code == 200:
                return
            time.sleep(0.25)
        raise RuntimeError(f"no default ServiceAccount after {timeout}s:\n{kcm.tail()}")

    def compact_etcd(self) -> int:
        """Compact etcd's history up to now (as its periodic compaction does): a watch from an older
        resourceVersion is then answered 410 Gone whether the apiserver's watch cache or etcd
        serves it. Returns the revision."""
        assert self.etcd_ca and self.etcd_client
        etcd = requests.Session()
        etcd.trust_env = False  # as in session(): our CA, not the environment's bundle
        etcd.verify = str(self.etcd_ca.cert)
        etcd.cert = (str(self.etcd_client.cert), str(self.etcd_client.key))
        head = etcd.post(f"{self.etcd}/v3/kv/range", json={"key": "AA=="}, timeout=10).json()["header"]
        revision = int(head["revision"])
        etcd.post(f"{self.etcd}/v3/kv/compaction", json={"revision": revision, "physical": True},
                  timeout=30).raise_for_status()
        return revision

    def stop_apiserver(self, *, kill: bool = False) -> tuple[int, list[str]]:
        """Stop the kube-apiserver alone (etcd keeps the data); start_apiserver brings it back.
        SIGTERM lets it end its watches with a last bookmark (the resourceVersion they can go on
        from); ``kill`` (SIGKILL) is a crash: no bookmark, the watches just break."""
        index, process = next((i, p) for i, p in enumerate(self.processes) if p.name.startswith("kube-apiserver"))
        if kill and process.exit_code() is None:
            os.killpg(process.pid, signal.SIGKILL)
        process.stop()
        return index, process.argv

    def start_apiserver(self, index: int, argv: list[str]) -> Process:
        """The apiserver again, with a watch cache that starts from a fresh list of etcd: a watch
        from a resourceVersion of before is answered 410 Gone."""
        process = start_process(f"kube-apiserver-{time.monotonic_ns()}", argv, self.root)
        self.processes[index] = process
        self._wait_ready(process)
        return process

    def signing(self) -> tuple[Authority, pki.KeyPair]:
        """The cluster's CA: to sign with, and its files."""
        assert self.authority and self.ca, "a control plane read back from its state file signs nothing"
        return self.authority, self.ca

    def record(self) -> dict:
        """What a later command needs to reach and stop this control plane (the state file)."""
        assert self.ca and self.admin
        return {"root": str(self.root), "server": self.server, "kubeconfig": str(self.kubeconfig), "etcd": self.etcd,
                "ca": [str(self.ca.cert), str(self.ca.key)], "admin": [str(self.admin.cert), str(self.admin.key)],
                "processes": [p.record() for p in self.processes]}

    @classmethod
    def recorded(cls, record: dict) -> ControlPlane:
        cp = cls(Path(record["root"]), server=record["server"], kubeconfig=Path(record["kubeconfig"]), etcd=record["etcd"])
        cp.ca, cp.admin = (pki.KeyPair(Path(c), Path(k)) for c, k in (record["ca"], record["admin"]))
        cp.processes = [Process.recorded(p) for p in record["processes"]]
        return cp

    def stop(self) -> None:
        """Stop every process (each tried even when one before would not stop), then remove the
        directory: not while any of them may still run."""
        self.processes = stop_all(self.processes)
        stop_running_under(self.root)  # any it started but had not recorded (a command killed meanwhile)
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

