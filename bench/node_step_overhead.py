"""Step overhead on a real node: a Job whose step writes a 1 KB file, with and without injection
(the annotated one pushes the file to the namespace's cache), created in turn and timed from
create to the Job's Complete condition as a client watching it sees. Medians of --repeat pairs,
their difference and ratio. The controller runs as `kubectl oras install` puts it, in pods.

Needs root and the machine's network to itself (one local cluster at a time):
    flock /tmp/kubectl-oras-node.lock python bench/node_step_overhead.py [--repeat 7]

The predecessor's design polls marker files every 5 s on both sides of the step: at least 10 s
added (its own documentation; not measured here). Target: <= 1 s added.
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

from kubectl_oras import __version__  # noqa: E402
from kubectl_oras.pods.annotations import PREFIX  # noqa: E402
from localcluster.cluster import LocalCluster  # noqa: E402
from localcluster.project_image import project_archive  # noqa: E402
from tests.cluster.apply import apply, new_namespace, wait_for  # noqa: E402
from tests.e2e.test_workflow_on_a_node import GROUP, SHELL, ready  # noqa: E402
from tests.support.cluster_fixtures import TEST_NETWORK  # noqa: E402

STEP = "head -c 1024 /dev/urandom > result.bin"


def job(ns: str, name: str, annotated: bool) -> dict:
    annotations = {PREFIX + "output-uri": f"bench/step:{name}", PREFIX + "output-path": "result.bin"} if annotated else {}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": ns, "annotations": annotations},
            "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "step", "image": SHELL, "imagePullPolicy": "Never", "command": ["sh", "-c", STEP]}]}}}}


def run(cp, ns: str, name: str, annotated: bool) -> float:
    session = cp.session()
    url = f"{cp.server}/apis/batch/v1/namespaces/{ns}/jobs/{name}"
    began = time.perf_counter()
    apply(cp, job(ns, name, annotated))
    while True:
        conditions = (session.get(url).json().get("status") or {}).get("conditions") or []
        done = {c["type"] for c in conditions if c["status"] == "True"}
        if "Complete" in done:
            return time.perf_counter() - began
        if "Failed" in done:
            raise SystemExit(f"job {name} failed")
        time.sleep(0.05)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=7)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-node-step-"))
    cluster = LocalCluster.start(work / "cluster", TEST_NETWORK, nodes=1,
                                 images=((project_archive(), (f"docker.io/library/kubectl-oras:{__version__}",)),))
    try:
        cp = cluster.cp
        env = {**os.environ, "KUBECONFIG": str(cp.kubeconfig)}
        subprocess.run(["kubectl-oras", "install"], env=env, check=True, stdout=subprocess.DEVNULL)
        ns = new_namespace(cp, "bench")
        apply(cp, {"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache",
                   "metadata": {"name": "oras", "namespace": ns}, "spec": {}})
        wait_for(cp, f"/{GROUP}/namespaces/{ns}/orascaches/oras", ready)
        run(cp, ns, "warm-plain", False)
        run(cp, ns, "warm-injected", True)
        times: dict[str, list[float]] = {"plain": [], "injected": []}
        for i in range(args.repeat):
            times["plain"].append(run(cp, ns, f"plain-{i}", False))
            times["injected"].append(run(cp, ns, f"injected-{i}", True))
            print(f"pair {i + 1}: plain {times['plain'][-1]:.2f} s, injected {times['injected'][-1]:.2f} s", flush=True)
        plain, injected = (statistics.median(times[k]) for k in ("plain", "injected"))
        print(f"\na Job writing 1 KB, create -> Complete, median of {args.repeat} interleaved pairs (one node)")
        print(f"  plain            {plain:6.2f} s")
        print(f"  injected (push)  {injected:6.2f} s")
        print(f"  added            {injected - plain:6.2f} s   ratio injected/plain {injected / plain:.2f}x   "
              f"target <= 1 s added: {'ok' if injected - plain <= 1 else 'MISSED'}")
    finally:
        cluster.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
