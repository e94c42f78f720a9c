"""Start-up of the krew-installed plugin against the interpreter doing nothing.

Builds the release (scripts/release.sh, cached), installs it with the real krew into a fresh
KREW_ROOT, and times whole commands: `python -c pass` (the floor of anything in Python), the
source checkout (`python -m kubectl_oras`), the installed bundle run directly and through kubectl's
plugin discovery (`kubectl oras …`): --help, tags --help, version --client, and plain version
with no kubeconfig. Median wall time and median CPU time (user + system, less
disturbed by other work on the machine) of --repeat runs, after one warm-up run each.

    python bench/plugin_startup.py [--repeat 21]
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

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.packaging.release import krew, kubectl, release_build  # noqa: E402


def timed(argv: list[str], env: dict[str, str]) -> tuple[float, float]:
    start = time.perf_counter()
    proc = subprocess.Popen(argv, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{' '.join(argv)} exited {proc.returncode}")
    return time.perf_counter() - start, usage.ru_utime + usage.ru_stime


def medians(argv: list[str], env: dict[str, str], repeat: int) -> tuple[float, float]:
    timed(argv, env)  # warm-up: the page cache, not the first run, is what a user has
    runs = [timed(argv, env) for _ in range(repeat)]
    return statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=21)
    args = parser.parse_args()
    release = release_build()
    with tempfile.TemporaryDirectory(prefix="kubectl-oras-bench-") as tmp:
        root = Path(tmp) / "krew"
        env = {"PATH": f"{root}/bin:{krew()}:{kubectl().parent}:/usr/bin:/bin", "HOME": tmp, "KREW_ROOT": str(root),
               "KREW_NO_UPGRADE_CHECK": "1"}
        subprocess.run(["kubectl", "krew", "install", f"--manifest={release.manifest}", f"--archive={release.archive}"],
                       env=env, check=True, capture_output=True)
        source_env = dict(os.environ)
        commands = [["--help"], ["tags", "--help"], ["version", "--client"]]
        cases = [("python -c pass", [sys.executable, "-c", "pass"], source_env)]
        cases += [(f"source: python -m kubectl_oras {' '.join(c)}", [sys.executable, "-m", "kubectl_oras", *c], source_env)
                  for c in commands]
        cases += [(f"bundle: kubectl-oras {' '.join(c)}", [f"{root}/bin/kubectl-oras", *c], env) for c in commands]
        cases += [(f"kubectl oras {' '.join(c)}", ["kubectl", "oras", *c], env) for c in commands]
        # With no kubeconfig: the client's version, after finding there is no cluster to ask.
        cases += [("kubectl oras version (no cluster)", ["kubectl", "oras", "version"], env)]
        floor = None
        print(f"{'command':52s} {'wall s':>8s} {'cpu s':>8s} {'wall / python -c pass':>22s}")
        for name, argv, case_env in cases:
            wall, cpu = medians(argv, case_env, args.repeat)
            floor = floor or wall
            print(f"{name:52s} {wall:8.3f} {cpu:8.3f} {wall / floor:22.1f}", flush=True)


if __name__ == "__main__":
    main()
