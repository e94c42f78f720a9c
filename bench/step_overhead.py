"""Step overhead: what the pod protocol adds around a step that writes a 1 KB file.

Runs, as processes against a real registry on loopback, in the order a kubelet starts them, in
both shapes the injection gives a pod (docs/pod-protocol.md):

- a launcher that may run again (restartPolicy OnFailure/Always): the oras-push native sidecar
  (started, not waited for), the oras-pull init container (no inputs), then the launcher (wrapper
  + step), until the wrapper exits with the output stored;
- a launcher that runs once (restartPolicy Never): the sidecar, which pulls (no inputs) before
  it watches for runs, its postStart hook that prepares the share (waited for, as the kubelet
  does), then the launcher, which waits for the sidecar's answer, until both the wrapper and the
  sidecar, which then ends by itself, have exited.

The baseline, in the same run, is the bare step. Median of --repeat runs.

    python bench/step_overhead.py [--repeat 15]

For comparison, the predecessor's design polls marker files every 5 s on both sides of the
step, so it adds at least 10 s (its own documentation; not measured here).
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.agent.protocol import LocalPod  # noqa: E402
from tests.support.registries import start_registry  # noqa: E402


def step(seconds: float) -> list[str]:
    return ["sh", "-c", f"sleep {seconds}; head -c 1024 /dev/urandom > result.bin"]


def measure(registry, *, seconds: float, repeat: int, tag: str, once: bool) -> dict[str, list[float]]:
    pull = "prepare (postStart hook)" if once else "pull (oras-pull init)"
    rows: dict[str, list[float]] = {"bare step": [], pull: [],
                                    "launcher (wrapper + step + push hand-off)": [], "total": []}
    argv = step(seconds)
    for i in range(repeat):
        work = Path(tempfile.mkdtemp())
        (work / "bare").mkdir()
        t = time.perf_counter()
        subprocess.run(argv, cwd=work / "bare", check=True)
        rows["bare step"].append(time.perf_counter() - t)

        pod = LocalPod(registry.host, work, output=f"bench/step:{tag}-{i}", output_path="result.bin", runs_once=once)
        pod.share.mkdir(parents=True)
        try:
            t0 = time.perf_counter()
            pod.sidecar = subprocess.Popen([sys.executable, "-m", "kubectl_oras.agent", "push"], env=pod.env(),
                                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            pulled = pod.hook() if once else pod.init()
            assert pulled.returncode == 0, pulled.stderr
            t1 = time.perf_counter()
            code, _, err = pod.run_step(*argv)
            assert code == 0, err
            if once:  # the pod ends when the sidecar has ended too
                assert pod.sidecar.wait(timeout=30) == 0
            t2 = time.perf_counter()
        finally:
            pod.cleanup()
        rows[pull].append(t1 - t0)
        rows["launcher (wrapper + step + push hand-off)"].append(t2 - t1)
        rows["total"].append(t2 - t0)
    return rows


def report(title: str, rows: dict[str, list[float]], repeat: int) -> float:
    bare = statistics.median(rows["bare step"])
    print(f"\n{title} (median of {repeat})")
    for name, values in rows.items():
        print(f"  {name:<44}{statistics.median(values) * 1000:>9.1f} ms")
    added = statistics.median(rows["total"]) - bare
    print(f"  added by the protocol (total - bare)        {added * 1000:>9.1f} ms"
          f"   ratio total/bare {statistics.median(rows['total']) / bare:.2f}x")
    return added


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeat", type=int, default=15)
    args = parser.parse_args()
    registry = start_registry("distribution-2.8")
    results = {}
    try:
        for once in (False, True):
            for seconds in (0, 1):
                results[once, seconds] = measure(registry, seconds=seconds, repeat=args.repeat,
                                                 tag=f"{'once' if once else 'again'}-{seconds}", once=once)
    finally:
        registry.stop()
    print("pod protocol around a step writing a 1 KB output; registry: distribution 2.8 on loopback")
    verdicts = []
    for once in (False, True):
        shape = "runs once (sidecar pulls and ends)" if once else "may run again (init pull, sidecar stays)"
        for seconds in (0, 1):
            when = "an instant step (the sidecar's start-up is not over when it ends)" if seconds == 0 else \
                "a 1-second step (the sidecar is ready when it ends)"
            added = report(f"launcher that {shape}, {when}", results[once, seconds], args.repeat)
            verdicts.append(f"{'once' if once else 'again'}/{seconds}s {'ok' if added <= 0.3 else 'MISSED'}")
    print(f"\ntarget <= 300 ms added: {', '.join(verdicts)}")


if __name__ == "__main__":
    main()
