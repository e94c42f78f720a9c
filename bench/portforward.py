"""Port-forward benchmark on the test node, both directions in one run: a push and a pull of an
artifact (default 512 MiB in 4 layers) to and from an OrasCache's registry pod, each way timed:

- ours: our PortForward + our engine;
- kubectl port-forward svc/oras + our engine (the same engine: only the tunnel differs; the
  ratio the tunnel is held to);
- kubectl port-forward + the Go oras CLI;
- our engine straight to the Service's ClusterIP (no tunnel);
- the whole `kubectl oras push` / `pull` command (find the cache, read its Secret, open the tunnel).

Interleaved runs after one warm-up each, medians and ratios. Each push goes to a repository of its
own, so that every byte crosses the tunnel (a registry skips a blob its repository holds already).

Needs a whole local cluster (root; one at a time on a machine):
    flock /tmp/kubectl-oras-tier3.lock flock /tmp/kubectl-oras-node.lock \
        python bench/portforward.py [--size-mib 512] [--layers 4] [--repeat 3]
"""

from __future__ import annotations

import argparse
import itertools
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
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

DIRECTIONS = ("push", "pull")


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
    parser.add_argument("--size-mib", type=int, default=512)
    parser.add_argument("--layers", type=int, default=4)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    on_the_test_node("bench-pf-", lambda cp, work: run(cp, work, args))


def on_the_test_node(prefix: str, body: Callable[[ControlPlane, Path], None]) -> None:
    """``body(control_plane, work)`` on a local cluster started for it, the controller running;
    the cluster and the work directory are gone afterwards (bench/session.py uses it too)."""
    work = Path(tempfile.mkdtemp(prefix=prefix))
    cluster = LocalCluster.start(work / "cluster", TEST_NETWORK, images=((project_archive(), ()),))
    try:
        with controller_process(cluster.cp, work / "controller.log", agent_image=IMAGE_NAME):
            body(cluster.cp, work)
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


def run(cp: ControlPlane, work: Path, args: argparse.Namespace) -> None:
    ns = new_namespace(cp, "bench")
    host, direct = orascache(cp, ns, "oras")
    creds = credentials(cp, ns, "oras")
    src = work / "src"
    src.mkdir()
    names = [f"layer-{i}.bin" for i in range(args.layers)]
    per = (args.size_mib << 20) // args.layers
    for name in names:
        with open(src / name, "wb") as out:
            for _ in range(per >> 20):
                out.write(os.urandom(1 << 20))
    files = [str(src / name) for name in names]
    push_artifact(direct, Reference(host, "bench/big", "v1"), files)
    print(f"pushed {args.size_mib} MiB in {args.layers} layers to {ns}/oras", flush=True)

    port = free_port()
    kpf = subprocess.Popen([kubectl(), "--kubeconfig", str(cp.kubeconfig), "-n", ns, "port-forward", "svc/oras",
                            f"{port}:5000", "--address", "127.0.0.1"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    pf = PortForward(namespace=ns, service="oras", port=5000, kubeconfig=str(cp.kubeconfig))
    pf.start()
    try:
        wait_listening("127.0.0.1", port, proc=kpf, timeout=30)
        kubectl_host = f"127.0.0.1:{port}"
        ours = RegistryClient(pf.address, plain_http=True, credentials=creds)
        theirs = RegistryClient(kubectl_host, plain_http=True, credentials=creds)
        out = work / "out"
        pushes = itertools.count()

        def fresh() -> Path:
            shutil.rmtree(out, ignore_errors=True)
            return out

        def repository() -> str:  # a repository of its own for each push: no blob is there yet
            return f"bench/up-{next(pushes)}"

        def command(*words: str) -> None:  # the whole command: find the cache, read its Secret, open the tunnel
            subprocess.run([sys.executable, "-m", "kubectl_oras", *words, "-n", ns, "--kubeconfig", str(cp.kubeconfig)],
                           check=True, stdout=subprocess.DEVNULL, cwd=Path(__file__).resolve().parents[1])

        def oras(*words: str) -> None:  # the password on stdin: never in a command line
            subprocess.run([oras_cli(), *words, "--plain-http", "-u", creds.username, "--password-stdin"], check=True,
                           input=creds.password.encode(), stdout=subprocess.DEVNULL, cwd=src)

        def engine_pull(client: RegistryClient, at: str) -> None:
            pull_artifact(client, Reference(at, "bench/big", "v1"), str(fresh()))

        def engine_push(client: RegistryClient, at: str) -> None:
            push_artifact(client, Reference(at, repository(), "v1"), files)

        ways = {
            "ours (PortForward + engine)": (lambda: engine_push(ours, pf.address), lambda: engine_pull(ours, pf.address)),
            "kubectl port-forward + engine": (lambda: engine_push(theirs, kubectl_host),
                                              lambda: engine_pull(theirs, kubectl_host)),
            "kubectl port-forward + oras": (lambda: oras("push", f"{kubectl_host}/{repository()}:v1", *names),
                                            lambda: oras("pull", "-o", str(fresh()), f"{kubectl_host}/bench/big:v1")),
            "direct ClusterIP + engine": (lambda: engine_push(direct, host), lambda: engine_pull(direct, host)),
            "kubectl oras (the command)": (lambda: command("push", f"{repository()}:v1", *files),
                                           lambda: command("pull", "bench/big:v1", "-o", str(fresh()))),
        }
        times: dict[tuple[str, str], list[float]] = {}
        for direction in DIRECTIONS:
            for name, way in ways.items():  # warm: page cache on the node, connections, the tunnel's pod
                way[DIRECTIONS.index(direction)]()
                times[direction, name] = []
        for i in range(args.repeat):
            for direction in DIRECTIONS:
                for name, way in ways.items():
                    times[direction, name].append(timed(way[DIRECTIONS.index(direction)]))
                    print(f"run {i + 1} {direction} {name}: {times[direction, name][-1]:.2f} s", flush=True)
        print()
        for direction in DIRECTIONS:
            med = {name: statistics.median(times[direction, name]) for name in ways}
            for name, m in med.items():
                spread = ", ".join(f"{t:.2f}" for t in times[direction, name])
                print(f"{direction} {name:32} median {m:6.2f} s  {args.size_mib / m:7.1f} MiB/s  ({spread})")
            a, same, go, clusterip, whole = med.values()
            ours_runs, same_runs = (times[direction, name] for name in list(ways)[:2])
            paired = statistics.median(o / k for o, k in zip(ours_runs, same_runs, strict=True))
            print(f"{direction}: ours / kubectl port-forward (same engine) = {a / same:.3f} "
                  f"(run by run, median {paired:.3f})   "
                  f"ours / kubectl+oras = {a / go:.3f}   ours / direct = {a / clusterip:.3f}   "
                  f"the command / kubectl+oras = {whole / go:.3f}")
            print()
        t = pf.tunnel
        assert t is not None
        print(f"tunnel: {t.connections} connections, {t.frames} frames from the kubelet, largest {t.largest_frame} "
              f"bytes; {t.frames_sent} frames to it, {t.bytes_sent / max(t.frames_sent, 1) / 1024:.0f} KiB of data "
              f"each on average; last error {pf.last_error}")
    finally:
        pf.close()
        kpf.terminate()
        kpf.wait(10)


if __name__ == "__main__":
    main()
