"""Transfer benchmark: our engine vs plain oras-py vs the Go oras CLI vs raw HTTP (curl).

Runs every tool as a child process against the same registry process on loopback, in one run,
and prints each time as a ratio to the raw-HTTP limit with the child's peak RSS. Absolute times
on these machines are noisy; the ratios within one run are what to read.

    python bench/transfer.py [--size-mib 1024] [--files 2000] [--repeat 3] [--registry-kind distribution-2.8]
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.registries import start_registry  # noqa: E402
from tests.support.tools import oras_cli  # noqa: E402

ORAS_PY_PUSH = """
import sys, oras.provider
reg = oras.provider.Registry(hostname=sys.argv[1], insecure=True)
reg.push(target=f"{sys.argv[1]}/{sys.argv[2]}", files=sys.argv[3:], disable_path_validation=True, quiet=True)
"""
ORAS_PY_PULL = """
import sys, oras.provider
reg = oras.provider.Registry(hostname=sys.argv[1], insecure=True)
reg.pull(target=f"{sys.argv[1]}/{sys.argv[2]}", outdir=sys.argv[3])
"""


@dataclass
class Sample:
    seconds: float
    rss_mb: float


def run(cmd: list[str] | str, *, cwd: Path, env: dict | None = None) -> Sample:
    """Run a child to completion; its wall time and its own peak RSS (wait4, not the children total)."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=cwd, env=env, shell=isinstance(cmd, str), stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - start
    proc.returncode = os.waitstatus_to_exitcode(status)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if proc.returncode != 0:
        raise RuntimeError(f"{cmd!r} failed ({proc.returncode}): {err[-2000:]}")
    return Sample(elapsed, usage.ru_maxrss / 1024)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


class Bench:
    def __init__(self, host: str, work: Path) -> None:
        self.host = host
        self.work = work
        self.oras = oras_cli()
        self.counter = 0
        self.env = dict(os.environ, KUBECTL_ORAS_CACHE=str(work / "cache-unused"))
        # The console script itself, not a version-manager shim in front of it (the Go CLI has none).
        self.ours = str(Path(sys.executable).parent / "kubectl-oras")

    def repo(self) -> str:
        self.counter += 1
        return f"bench/r{self.counter}"

    def fresh_env(self) -> dict:
        """Each of our pushes starts with an empty digest cache, as a first push would."""
        return dict(self.env, KUBECTL_ORAS_CACHE=tempfile.mkdtemp(dir=self.work))

    # -- push: each tool pushes `name` (in self.work) to a new repository ---------------------
    def push_ours(self, name: str) -> Sample:
        return run([self.ours, "push", f"{self.repo()}:v1", name, "-r", self.host, "--plain-http"],
                   cwd=self.work, env=self.fresh_env())

    def push_oras_py(self, name: str) -> Sample:
        return run([sys.executable, "-c", ORAS_PY_PUSH, self.host, f"{self.repo()}:v1", name], cwd=self.work)

    def push_go(self, name: str) -> Sample:
        return run([self.oras, "push", "--plain-http", f"{self.host}/{self.repo()}:v1", name], cwd=self.work)

    def push_raw_file(self, name: str, digest: str) -> Sample:
        """The limit: one POST, then curl streams the file in a PUT (digest known beforehand)."""
        repo = self.repo()
        script = (
            f"loc=$(curl -sf -X POST -D - -o /dev/null http://{self.host}/v2/{repo}/blobs/uploads/ "
            "| tr -d '\\r' | awk 'tolower($1)==\"location:\"{print $2}') && "
            f"case $loc in http*) ;; *) loc=http://{self.host}$loc;; esac && "
            f"curl -sf -X PUT -H 'Content-Type: application/octet-stream' -T {name} \"$loc&digest={digest}\""
        )
        return run(["bash", "-c", script], cwd=self.work)

    def push_raw_dir(self, name: str) -> Sample:
        """The limit for a directory: tar+gzip it, then the raw file upload."""
        script = (f"tar -C {self.work} -czf {self.work}/raw.tgz {name} && "
                  f"d=sha256:$(sha256sum {self.work}/raw.tgz | cut -d' ' -f1) && "
                  f"loc=$(curl -sf -X POST -D - -o /dev/null http://{self.host}/v2/{self.repo()}/blobs/uploads/ "
                  "| tr -d '\\r' | awk 'tolower($1)==\"location:\"{print $2}') && "
                  f"case $loc in http*) ;; *) loc=http://{self.host}$loc;; esac && "
                  f"curl -sf -X PUT -T {self.work}/raw.tgz \"$loc&digest=$d\"")
        return run(["bash", "-c", script], cwd=self.work)

    # -- pull: each tool pulls repo:v1 into a fresh directory ---------------------------------
    def out(self) -> Path:
        d = Path(tempfile.mkdtemp(dir=self.work, prefix="out-"))
        return d

    def pull_ours(self, repo: str) -> Sample:
        out = self.out()
        try:
            return run([self.ours, "pull", f"{repo}:v1", "-o", str(out), "-r", self.host, "--plain-http"],
                       cwd=self.work, env=self.env)
        finally:
            shutil.rmtree(out)

    def pull_oras_py(self, repo: str) -> Sample:
        out = self.out()
        try:
            return run([sys.executable, "-c", ORAS_PY_PULL, self.host, f"{repo}:v1", str(out)], cwd=self.work)
        finally:
            shutil.rmtree(out)

    def pull_go(self, repo: str) -> Sample:
        out = self.out()
        try:
            return run([self.oras, "pull", "--plain-http", "-o", str(out), f"{self.host}/{repo}:v1"], cwd=self.work)
        finally:
            shutil.rmtree(out)

    def pull_raw_unverified(self, repo: str, digest: str) -> Sample:
        """For context only: curl GET straight to a file, nothing verified."""
        out = self.out()
        try:
            return run(["curl", "-sf", "-o", f"{out}/blob", f"http://{self.host}/v2/{repo}/blobs/{digest}"], cwd=self.work)
        finally:
            shutil.rmtree(out)

    def pull_raw(self, repo: str, digest: str, *, untar: bool = False) -> Sample:
        """The limit: curl GET streamed to a file and through OpenSSL's sha256 at once (then untar).

        OpenSSL, not coreutils' sha256sum: it is the faster of the two here, and hashlib uses it too.
        """
        out = self.out()
        sink = f"| tee {out}/blob | openssl dgst -sha256 -r | grep -q {digest.split(':')[1]}"
        untar_cmd = f" && tar -C {out} -xzf {out}/blob" if untar else ""
        try:
            return run(["bash", "-o", "pipefail", "-c",
                        f"curl -sf http://{self.host}/v2/{repo}/blobs/{digest} {sink}{untar_cmd}"], cwd=self.work)
        finally:
            shutil.rmtree(out)


def best(samples: list[Sample]) -> Sample:
    """The fastest of the repeats (least disturbed by noise), with the largest RSS seen."""
    return Sample(min(s.seconds for s in samples), max(s.rss_mb for s in samples))


def report(title: str, results: dict[str, Sample], limit: str) -> None:
    base = results[limit].seconds
    print(f"\n{title}")
    print(f"  {'tool':<34}{'best s':>9}{'x limit':>9}{'peak RSS MB':>13}")
    for name, s in results.items():
        rss = f"{s.rss_mb:>13.0f}" if s.rss_mb else f"{'-':>13}"
        print(f"  {name:<34}{s.seconds:>9.2f}{s.seconds / base:>9.2f}{rss}")


def layer_digest(b: Bench, repo: str) -> str:
    import json
    import urllib.request

    req = urllib.request.Request(f"http://{b.host}/v2/{repo}/manifests/v1",
                                 headers={"Accept": "application/vnd.oci.image.manifest.v1+json"})
    return json.load(urllib.request.urlopen(req))["layers"][0]["digest"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--size-mib", type=int, default=1024)
    parser.add_argument("--files", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--registry-kind", default="distribution-2.8")
    parser.add_argument("--skip-oras-py-big", action="store_true", help="oras-py holds the whole blob in memory")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="kubectl-oras-bench-"))
    registry = start_registry(args.registry_kind, root=work / "registry")
    b = Bench(registry.host, work)
    try:
        big = work / "big.bin"
        with open(big, "wb") as f:
            for _ in range(args.size_mib):
                f.write(os.urandom(1 << 20))
        digest = sha256_file(big)
        small = work / "small"
        small.mkdir()
        for i in range(args.files):
            sub = small / f"d{i % 20:02d}"
            sub.mkdir(exist_ok=True)
            (sub / f"f{i:05d}.txt").write_bytes(os.urandom(512).hex().encode())
        print(f"registry: {args.registry_kind} at {registry.host}; {args.size_mib} MiB file; "
              f"{args.files} small files; best of {args.repeat}")

        tools_push = {
            "raw HTTP (curl)": lambda: b.push_raw_file("big.bin", digest),
            "kubectl-oras": lambda: b.push_ours("big.bin"),
            "oras (Go CLI)": lambda: b.push_go("big.bin"),
        }
        if not args.skip_oras_py_big:
            tools_push["oras-py"] = lambda: b.push_oras_py("big.bin")
        big_push = {name: best([fn() for _ in range(args.repeat)]) for name, fn in tools_push.items()}
        report(f"push {args.size_mib} MiB file", big_push, "raw HTTP (curl)")

        b.push_ours("big.bin")
        repo = f"bench/r{b.counter}"
        tools_pull = {
            "raw HTTP (curl)": lambda: b.pull_raw(repo, digest),
            "curl GET, no verify (context)": lambda: b.pull_raw_unverified(repo, digest),
            "kubectl-oras": lambda: b.pull_ours(repo),
            "oras (Go CLI)": lambda: b.pull_go(repo),
            "oras-py": lambda: b.pull_oras_py(repo),
        }
        big_pull = {name: best([fn() for _ in range(args.repeat)]) for name, fn in tools_pull.items()}
        report(f"pull {args.size_mib} MiB file (raw = GET + sha256 verify)", big_pull, "raw HTTP (curl)")

        def round_trip(push, pull_for) -> Sample:
            p = push()
            q = pull_for(f"bench/r{b.counter}")
            return Sample(p.seconds + q.seconds, max(p.rss_mb, q.rss_mb))

        def raw_round_trip() -> Sample:
            p = b.push_raw_dir("small")
            repo = f"bench/r{b.counter}"
            d = "sha256:" + hashlib.sha256((work / "raw.tgz").read_bytes()).hexdigest()
            q = b.pull_raw(repo, d, untar=True)
            return Sample(p.seconds + q.seconds, max(p.rss_mb, q.rss_mb))

        def in_process() -> Sample:
            """Our engine without interpreter start-up: what one agent process does per step."""
            from kubectl_oras.oci.client import RegistryClient
            from kubectl_oras.oci.pull import pull_artifact
            from kubectl_oras.oci.push import push_artifact
            from kubectl_oras.oci.reference import Reference

            client = RegistryClient(b.host, plain_http=True)
            ref = Reference(b.host, b.repo(), "v1")
            out = b.out()
            cwd = os.getcwd()
            os.chdir(work)
            start = time.perf_counter()
            try:
                push_artifact(client, ref, ["small"])
                pull_artifact(client, ref, str(out))
            finally:
                os.chdir(cwd)
            elapsed = time.perf_counter() - start
            shutil.rmtree(out)
            return Sample(elapsed, 0.0)

        tools_rt = {
            "kubectl-oras (engine, in-process)": in_process,
            "raw HTTP (curl)": raw_round_trip,
            "kubectl-oras": lambda: round_trip(lambda: b.push_ours("small"), b.pull_ours),
            "oras (Go CLI)": lambda: round_trip(lambda: b.push_go("small"), b.pull_go),
            "oras-py": lambda: round_trip(lambda: b.push_oras_py("small"), b.pull_oras_py),
        }
        rt = {name: best([fn() for _ in range(args.repeat)]) for name, fn in tools_rt.items()}
        report(f"{args.files}-file directory push + pull", rt, "raw HTTP (curl)")

        print("\ntargets:")
        checks = [
            ("push ≤ 1.15× raw", big_push["kubectl-oras"].seconds / big_push["raw HTTP (curl)"].seconds, 1.15),
            ("push peak RSS ≤ 80 MB", big_push["kubectl-oras"].rss_mb, 80),
            ("pull ≤ 1.15× raw", big_pull["kubectl-oras"].seconds / big_pull["raw HTTP (curl)"].seconds, 1.15),
            ("dir round trip ≤ Go oras (CLI)", rt["kubectl-oras"].seconds / rt["oras (Go CLI)"].seconds, 1.0),
            ("dir round trip ≤ Go oras (engine)",
             rt["kubectl-oras (engine, in-process)"].seconds / rt["oras (Go CLI)"].seconds, 1.0),
        ]
        for label, value, limit in checks:
            print(f"  {label:<36} {value:8.2f}  {'ok' if value <= limit else 'MISSED'}")
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
