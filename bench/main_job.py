"""The README's main job, warm (Go builds and the project image cached): `bash scripts/demo.sh`
from no cluster, its wall time by phase; then, on the cluster it leaves up, the baseline in the
same script: the experiment's two Jobs (scripts/demo-jobs.sh) without annotations (nothing stored, nothing pulled),
applied and waited for the same way, against the demo's experiment phase.

Needs root and the machine's network to itself (one local cluster at a time); it takes the local
cluster down before and after:
    flock /tmp/kubectl-oras-node.lock python bench/main_job.py [--repeat 2]
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
KUBECONFIG = Path.home() / ".kube" / "kubectl-oras-local.yaml"


def down() -> None:
    subprocess.run(["bash", str(REPO / "scripts" / "local-cluster.sh"), "down"], check=True, stderr=subprocess.DEVNULL)


def demo(out: Path) -> dict[str, float]:
    timings = out / "timings"
    began = time.perf_counter()
    subprocess.run(["bash", str(REPO / "scripts" / "demo.sh"), "--out", str(out / "data")], check=True,
                   stdout=subprocess.DEVNULL, env={**os.environ, "DEMO_TIMINGS": str(timings)})
    phases = {line.split()[0]: float(line.split()[1]) for line in timings.read_text().splitlines()}
    phases["total"] = time.perf_counter() - began
    return phases


def baseline() -> float:
    """The experiment's two Jobs, unannotated, in a fresh namespace: apply, then wait for both."""
    env = {**os.environ, "KUBECONFIG": str(KUBECONFIG)}
    ns = f"baseline-{time.monotonic_ns() % 100000}"
    subprocess.run(["kubectl", "create", "namespace", ns], env=env, check=True, stdout=subprocess.DEVNULL)
    while subprocess.run(["kubectl", "get", "serviceaccount", "default", "-n", ns], env=env,
                         capture_output=True).returncode != 0:
        time.sleep(0.1)
    began = time.perf_counter()
    manifest = "---\n".join(subprocess.run(["bash", str(REPO / "scripts" / "demo-jobs.sh"), n], check=True,
                                            capture_output=True, text=True).stdout for n in ("hwloc", "lammps"))
    subprocess.run(["kubectl", "apply", "-n", ns, "-f", "-"], input=manifest.encode(), env=env, check=True,
                   stdout=subprocess.DEVNULL)
    subprocess.run(["kubectl", "wait", "-n", ns, "--for=condition=Complete", "job/hwloc", "job/lammps",
                    "--timeout=300s"], env=env, check=True, stdout=subprocess.DEVNULL)
    seconds = time.perf_counter() - began
    subprocess.run(["kubectl", "delete", "namespace", ns, "--wait=false"], env=env, stdout=subprocess.DEVNULL)
    return seconds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=2)
    args = parser.parse_args()
    runs: list[dict[str, float]] = []
    plain: list[float] = []
    try:
        for i in range(args.repeat):
            down()
            with tempfile.TemporaryDirectory() as out:
                runs.append(demo(Path(out)))
            plain += [baseline(), baseline()]
            print(f"run {i + 1}: " + ", ".join(f"{k} {v:.0f}s" for k, v in runs[-1].items()), flush=True)
    finally:
        down()
    print(f"\nREADME main job, warm, from no cluster: medians of {args.repeat} runs (seconds)")
    for phase in runs[0]:
        print(f"  {phase:<11}{statistics.median(r[phase] for r in runs):6.1f}")
    experiment, base = statistics.median(r["experiment"] for r in runs), statistics.median(plain)
    print(f"baseline: the same two Jobs unannotated, apply -> both Complete: {base:.1f} s; "
          f"experiment phase / baseline = {experiment / base:.2f}x (whole-second phase times)")


if __name__ == "__main__":
    sys.exit(main())
