"""Port-forward benchmark on the test node: a pull of a 1 GiB artifact from an OrasCache's registry
pod through our PortForward with our engine, against `kubectl port-forward svc/oras` + the Go oras
CLI, and against our engine straight to the Service's ClusterIP. Interleaved runs, medians, ratios.

Needs the node (root; one at a time on a machine):
    flock /tmp/kubectl-oras-node.lock python bench/portforward.py [--size-mib 1024] [--layers 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubectl_oras.kube.portforward import PortForward  # noqa: E402
from kubectl_oras.oci.client import RegistryClient  # noqa: E402
from kubectl_oras.oci.pull import pull_artifact  # noqa: E402
from kubectl_oras.oci.push import push_artifact  # noqa: E402
from kubectl_oras.oci.reference import Reference  # noqa: E402
from localcluster.cluster import LocalCluster  # noqa: E402
from localcluster.controlplane import ControlPlane  # noqa: E402
from localcluster.project_image import IMAGE_NAME, project_archive  # noqa: E402
from tests.cluster.apply import new_namespace  # noqa: E402
from tests.e2e.test_portforward import credentials  # noqa: E402
from tests.e2e.test_workflow_on_a_node import orascache  # noqa: E402
from tests.support.cluster_fixtures import TEST_NETWORK  # noqa: E402
from tests.support.net import free_port, wait_listening  # noqa: E402
from tests.support.tools import oras_cli  # noqa: E402
from tests.webhook.process import controller_process  # noqa: E402


def kubectl() -> str:
    """kubectl of the cluster's version when the cache has one (v1.36.3 here), else the one on PATH."""
    cached = Path.home() / ".cache" / "kubectl-oras" / "kubectl-v1.36.3" / "kubectl"
    found = str(cached) if os.access(cached, os.X_OK) else shutil.which("kubectl")
    if not found:
        raise SystemExit("no kubectl: the baseline needs `kubectl port-forward`")
    return found


def timed(fn) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-pf-"))
    cluster = LocalCluster.start(work / "cluster", TEST_NETWORK, images=((project_archive(), ()),))
    try:
        with controller_process(cluster.cp, work / "controller.log", agent_image=IMAGE_NAME):
            run(cluster.cp, work, args)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def run(cp: ControlPlane, work: Path, args: argparse.Namespace) -> None:
    ns = new_namespace(cp, "bench")
    host, direct = orascache(cp, ns, "oras")
    creds = credentials(cp, ns, "oras")
    files = []
    per = (args.size_mib << 20) // args.layers
    for i in range(args.layers):
        f = work / "src" / f"layer-{i}.bin"
        f.parent.mkdir(exist_ok=True)
        with open(f, "wb") as out:
            for _ in range(per >> 20):
                out.write(os.urandom(1 << 20))
        files.append(str(f))
    push_artifact(direct, Reference(host, "bench/big", "v1"), files)
    print(f"pushed {args.size_mib} MiB in {args.layers} layers to {ns}/oras", flush=True)

    port = free_port()
    kpf = subprocess.Popen([kubectl(), "--kubeconfig", str(cp.kubeconfig), "-n", ns, "port-forward", "svc/oras",
                            f"{port}:5000", "--address", "127.0.0.1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    pf = PortForward(namespace=ns, service="oras", port=5000, kubeconfig=str(cp.kubeconfig))
    pf.start()
    try:
        wait_listening("127.0.0.1", port, proc=kpf, timeout=30)
        ours = RegistryClient(pf.address, plain_http=True, credentials=creds)
        out = work / "out"

        def fresh() -> Path:
            shutil.rmtree(out, ignore_errors=True)
            return out

        def via_ours() -> None:
            pull_artifact(ours, Reference(pf.address, "bench/big", "v1"), str(fresh()))

        def via_kubectl() -> None:
            subprocess.run([oras_cli(), "pull", "--plain-http", "-u", creds.username, "-p", creds.password,
                            "-o", str(fresh()), f"127.0.0.1:{port}/bench/big:v1"], check=True,
                           stdout=subprocess.DEVNULL)

        def via_clusterip() -> None:
            pull_artifact(direct, Reference(host, "bench/big", "v1"), str(fresh()))

        def via_command() -> None:  # the whole command: find the cache, read its Secret, open the tunnel, pull
            subprocess.run([sys.executable, "-m", "kubectl_oras", "pull", "bench/big:v1", "-o", str(fresh()), "-n", ns,
                            "--kubeconfig", str(cp.kubeconfig)], check=True, stdout=subprocess.DEVNULL,
                           cwd=Path(__file__).resolve().parents[1])

        ways = {"ours (PortForward + engine)": via_ours, "kubectl port-forward + oras": via_kubectl,
                "direct ClusterIP + engine": via_clusterip, "kubectl oras pull (command)": via_command}
        times: dict[str, list[float]] = {name: [] for name in ways}
        for way in ways.values():  # warm: page cache on the node, connections, the tunnel's pod
            way()
        for i in range(args.repeat):
            for name, way in ways.items():
                times[name].append(timed(way))
                print(f"run {i + 1} {name}: {times[name][-1]:.2f} s", flush=True)
        med = {name: statistics.median(t) for name, t in times.items()}
        print()
        for name, m in med.items():
            print(f"{name:32} median {m:6.2f} s  {args.size_mib / m:7.1f} MiB/s")
        a, b, c, d = med.values()
        print(f"ours / kubectl+oras = {a / b:.3f}   ours / direct = {a / c:.3f}")
        print(f"the command / kubectl+oras (its port-forward already running) = {d / b:.3f}   "
              f"the command / direct = {d / c:.3f}")
        t = pf.tunnel
        assert t is not None
        print(f"tunnel: {t.connections} connections, {t.frames} frames from the kubelet, largest {t.largest_frame} "
              f"bytes, last error {pf.last_error}")
    finally:
        pf.close()
        kpf.terminate()
        kpf.wait(10)


if __name__ == "__main__":
    main()
