"""Python API benchmark on the test node: N calls through one ``kubectl_oras.session`` against the
same N calls at module level (each opens its own port-forward: find the cache, read its Secret,
resolve the Service's pod, probe, listen), to an OrasCache's registry pod. Each round times both,
interleaved after one warm-up; medians and the ratio.

Needs a whole local cluster (root; one at a time on a machine):
    flock /tmp/kubectl-oras-tier3.lock flock /tmp/kubectl-oras-node.lock \\
        python bench/session.py [--calls 10] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import kubectl_oras  # noqa: E402
from bench.portforward import on_the_test_node  # noqa: E402
from kubectl_oras.oci.push import push_artifact  # noqa: E402
from kubectl_oras.oci.reference import Reference  # noqa: E402
from localcluster.controlplane import ControlPlane  # noqa: E402
from tests.cluster.apply import new_namespace  # noqa: E402
from tests.e2e.test_workflow_on_a_node import orascache  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    on_the_test_node("bench-session-", lambda cp, work: run(cp, work, args))


def run(cp: ControlPlane, work: Path, args: argparse.Namespace) -> None:
    ns = new_namespace(cp, "bench")
    host, direct = orascache(cp, ns, "oras")
    (work / "a.txt").write_text("alpha\n")
    push_artifact(direct, Reference(host, "bench/small", "v1"), [str(work / "a.txt")])
    where = {"namespace": ns, "kubeconfig": str(cp.kubeconfig)}

    def one_by_one() -> None:
        for _ in range(args.calls):
            assert kubectl_oras.tags("bench/small", **where) == ["v1"]

    def in_a_session() -> None:
        with kubectl_oras.session(**where) as oras:
            for _ in range(args.calls):
                assert oras.tags("bench/small") == ["v1"]

    runs: dict[str, list[float]] = {"module-level calls": [], "one session": []}
    one_by_one()
    in_a_session()  # warm-up: imports, the first connections
    for _ in range(args.repeat):
        for name, body in (("module-level calls", one_by_one), ("one session", in_a_session)):
            start = time.perf_counter()
            body()
            runs[name].append(time.perf_counter() - start)
    medians = {name: statistics.median(times) for name, times in runs.items()}
    print(f"{args.calls} tags() calls to cache {ns}/oras, median of {args.repeat}:")
    for name, seconds in medians.items():
        print(f"  {name:20} {seconds:7.2f} s  ({seconds / args.calls * 1000:6.0f} ms a call)")
    print(f"ratio one session / module-level calls: {medians['one session'] / medians['module-level calls']:.2f}")


if __name__ == "__main__":
    main()
