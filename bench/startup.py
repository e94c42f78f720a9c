"""How long `kubectl oras --help` and `kubectl oras version` take to start, against the interpreter alone.

Runs each command as a new process, interleaved round by round, and prints the median of --runs
wall times with its ratio to the interpreter's own start (`python -c pass`, with site and its .pth
files) and to a bare one (`python -S -c pass`). The package is this tree's (PYTHONPATH), the
interpreter is the real one, not a version manager's shim: pass another with --python. The
installed `kubectl-oras` console script is timed too, both beside the interpreter and as PATH
finds it, and the bench says through which import finder the script reaches the package (an
editable install's finder is imported by a .pth file at every start of that interpreter).

    python bench/startup.py [--runs 21] [--python PATH]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]

FINDER_OF = """\
import sys
for finder in sys.meta_path:
    spec = finder.find_spec("kubectl_oras", None)
    if spec is not None:
        print(getattr(finder, "__module__", "") + "." + getattr(finder, "__name__", type(finder).__name__), spec.origin)
        break
"""


def seconds(command: list[str], env: dict[str, str]) -> float:
    start = time.perf_counter()
    done = subprocess.run(command, cwd=REPO, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    elapsed = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed ({done.returncode}): {done.stderr.decode()[-500:]}")
    return elapsed


def site_imports_ms(python: str, env: dict[str, str], runs: int) -> dict[str, float]:
    """Median cumulative import time (ms) of what site imports at start-up (its .pth files too)."""
    samples: dict[str, list[float]] = {}
    for _ in range(runs):
        done = subprocess.run([python, "-X", "importtime", "-c", "pass"], env=env, capture_output=True, text=True)
        children: list[tuple[str, float]] = []
        for line in done.stderr.splitlines():
            fields = line.removeprefix("import time:").split("|")
            if len(fields) != 3 or not fields[1].strip().isdigit():
                continue
            name = fields[2][1:]  # after one space, two more for each level: importtime lists children first
            if not name.startswith(" "):
                if name == "site":
                    for child, ms in children:
                        samples.setdefault(child, []).append(ms)
                children = []
            elif not name.startswith("   "):
                children.append((name.strip(), int(fields[1]) / 1000))
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=21)
    parser.add_argument("--python", default=os.path.realpath(sys.executable),
                        help="the interpreter (default: this one, its real path)")
    args = parser.parse_args()
    python = args.python
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    env.pop("PYTHONSTARTUP", None)

    cases: dict[str, list[str]] = {
        "python -S -c pass": [python, "-S", "-c", "pass"],
        "python -c pass": [python, "-c", "pass"],
        "python -m kubectl_oras --help": [python, "-m", "kubectl_oras", "--help"],
        "python -m kubectl_oras version --client": [python, "-m", "kubectl_oras", "version", "--client"],
        "python -m kubectl_oras pull --help": [python, "-m", "kubectl_oras", "pull", "--help"],
    }
    beside = Path(python).parent / "kubectl-oras"
    if beside.exists():
        cases[f"{beside} --help"] = [str(beside), "--help"]
        cases[f"{beside} version --client"] = [str(beside), "version", "--client"]
    # as a user's shell finds it: a version manager runs its interpreter with its own bin first on PATH
    elsewhere = os.pathsep.join(p for p in os.environ.get("PATH", "").split(os.pathsep)
                                if p and Path(p).resolve() != beside.parent.resolve())
    on_path = shutil.which("kubectl-oras", path=elsewhere)
    if on_path and Path(on_path).resolve() != beside.resolve():
        cases[f"{on_path} version --client (as PATH finds it)"] = [on_path, "version", "--client"]

    times: dict[str, list[float]] = {name: [] for name in cases}
    for command in cases.values():  # once each, unmeasured: warm the file cache
        seconds(command, env)
    for _ in range(args.runs):
        for name, command in cases.items():
            times[name].append(seconds(command, env))

    medians = {name: statistics.median(values) for name, values in times.items()}
    bare, interpreter = medians["python -S -c pass"], medians["python -c pass"]
    print(f"{python}, median of {args.runs} runs, package from {REPO}")
    width = max(len(name) for name in medians)
    for name, median in medians.items():
        print(f"  {name:<{width}}  {median * 1000:7.1f} ms  {median / interpreter:5.2f}x python  "
              f"{median / bare:6.2f}x python -S  (min {min(times[name]) * 1000:.1f} ms)")

    print("what site imports at every start of this interpreter (median cumulative ms):")
    for module, ms in sorted(site_imports_ms(python, env, 5).items(), key=lambda item: -item[1])[:6]:
        print(f"  {module:<{width}}  {ms:7.1f} ms")
    if beside.exists():
        plain = {k: v for k, v in env.items() if k != "PYTHONPATH"}
        found = subprocess.run([python, "-c", FINDER_OF], cwd=beside.parent, env=plain,
                               capture_output=True, text=True).stdout.strip()
        print(f"the console script {beside} finds kubectl_oras (without PYTHONPATH) through: {found or 'nothing'}")


if __name__ == "__main__":
    main()
