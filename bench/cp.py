"""`kubectl oras cp` against pull + push of the same artifact, in the same run.

Two registry processes on loopback (distribution v3); one artifact of one random file is pushed
to the first (not timed); then, each as a child process of this checkout's command line:
`cp` to the second registry, `pull` from the first and `push` of what was pulled to the second
(the way without cp), and `cp` within the first registry (to another repository: its blobs are
mounted, nothing is sent). Prints each time, the child's peak RSS, and cp's time as a ratio of
pull + push. Absolute times on these machines are noisy; the ratio within one run is what to read.

    python bench/cp.py                       # 1 GiB
    KUBECTL_ORAS_BENCH_CP_MIB=64 python bench/cp.py   # a quick run
"""

from __future__ import annotations

import os
import shutil
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.transfer import Sample, run  # noqa: E402
from tests.support.registries import start_registry  # noqa: E402

SIZE_VARIABLE = "KUBECTL_ORAS_BENCH_CP_MIB"
REPO = Path(__file__).resolve().parents[1]


def write_random(path: Path, mib: int) -> None:
    with open(path, "wb") as f:
        for _ in range(mib):
            f.write(os.urandom(1 << 20))


def main() -> None:
    mib = int(os.environ.get(SIZE_VARIABLE, "1024"))
    work = Path(tempfile.mkdtemp(prefix="bench-cp-"))
    source, destination = start_registry("distribution-3"), start_registry("distribution-3")
    env = dict(os.environ, PYTHONPATH=str(REPO))
    ours = [sys.executable, "-m", "kubectl_oras"]
    try:
        write_random(work / "data.bin", mib)
        src = f"{source.host}/bench/data:v1"
        run([*ours, "push", src, "data.bin", "--plain-http"], cwd=work, env=env)
        samples: dict[str, Sample] = {
            "cp (two registries)": run([*ours, "cp", src, f"{destination.host}/bench/copied", "--plain-http"],
                                       cwd=work, env=env),
            "pull": run([*ours, "pull", src, "-o", "pulled", "--plain-http"], cwd=work, env=env),
            "push (what was pulled)": run([*ours, "push", f"{destination.host}/bench/pushed:v1", "data.bin",
                                           "--plain-http"], cwd=work / "pulled", env=env),
            "cp (one registry: mounted)": run([*ours, "cp", src, f"{source.host}/bench/mounted", "--plain-http"],
                                              cwd=work, env=env),
        }
    finally:
        source.stop()
        destination.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(f"artifact: one file of {mib} MiB")
    for name, sample in samples.items():
        print(f"  {name:28} {sample.seconds:7.2f} s  peak RSS {sample.rss_mb:6.0f} MiB")
    both = samples["pull"].seconds + samples["push (what was pulled)"].seconds
    print(f"cp / (pull + push): {samples['cp (two registries)'].seconds / both:.2f}")


if __name__ == "__main__":
    main()
