"""Peak memory of packing a directory of many empty files: the streaming packer against the
listing one it replaced, and against itself on 1,000 files.

A sidecar with a 256Mi limit was OOMKilled packing 600,000 empty files: the packer listed every
path first and tarfile kept every member it wrote (~0.45 KB a file). Each packing runs in a child
process of its own (its peak RSS and CPU time from wait4, the archive written to /dev/null); the
trees are built once, in /dev/shm unless --dir says where. "listing" is the same code with the
two things that grew put back: the whole tree listed before archiving, and every member kept.

    python bench/archive_memory.py [--files 1000 100000 1000000] [--shape flat|spread] [--dir DIR]
                                   [--no-listing]
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
SPREAD = 1000  # files per directory with --shape spread


def make_files(root: Path, count: int, shape: str) -> None:
    root.mkdir()
    directory = root
    for i in range(count):
        if shape == "spread" and i % SPREAD == 0:
            directory = root / f"dir-{i // SPREAD:06d}"
            directory.mkdir()
        os.close(os.open(directory / f"file-{i:07d}", os.O_WRONLY | os.O_CREAT, 0o644))


def listing_walk(root: str) -> Iterator[tuple[str, os.stat_result]]:
    """The walk before the streaming one: every relative path listed (recursively) before the first is archived."""
    listed: list[str] = []

    def visit(rel: str) -> None:
        path = os.path.join(root, rel) if rel else root
        for entry in sorted(os.listdir(path)):
            child = f"{rel}/{entry}" if rel else entry
            listed.append(child)
            if os.path.isdir(os.path.join(root, child)) and not os.path.islink(os.path.join(root, child)):
                visit(child)

    visit("")
    return ((rel, os.lstat(os.path.join(root, rel))) for rel in listed)


def child(packer: str, source: str) -> None:
    """In the child: pack ``source`` to /dev/null with the named packer."""
    sys.path.insert(0, str(REPO))
    from kubectl_oras.oci import archive

    if packer == "listing":
        archive._walk_sorted = listing_walk  # type: ignore[assignment]
        archive._ExactTarFile.addfile = tarfile.TarFile.addfile  # type: ignore[method-assign]  # keeps every member
    with open(os.devnull, "wb") as sink:
        archive.pack_directory(source, sink, name="outputs")


def measure(packer: str, source: Path) -> tuple[float, float]:
    """Peak RSS (MB) and CPU seconds (user + system: steadier than wall time on a shared machine)
    of one packing in a child process."""
    proc = subprocess.Popen([sys.executable, __file__, "--child", packer, str(source)], stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    err = proc.stderr.read().decode() if proc.stderr else ""
    if os.waitstatus_to_exitcode(status) != 0:
        raise RuntimeError(f"packing {source} with the {packer} packer failed: {err[-2000:]}")
    return usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--files", type=int, nargs="+", default=[1000, 100_000, 1_000_000])
    parser.add_argument("--shape", choices=("flat", "spread"), default="flat",
                        help=f"all files in one directory, or {SPREAD} per directory")
    parser.add_argument("--dir", default="/dev/shm" if os.path.isdir("/dev/shm") else None)
    parser.add_argument("--no-listing", action="store_true", help="skip the listing packer (slow past 100,000 files)")
    parser.add_argument("--child", nargs=2, metavar=("PACKER", "SOURCE"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(*args.child)
        return
    counts = sorted(set(args.files))
    work = Path(tempfile.mkdtemp(prefix="kubectl-oras-bench-", dir=args.dir))
    try:
        print(f"{sys.executable}; {args.shape} trees of empty files in {work}; peak RSS of the packing process")
        baseline: float | None = None
        for count in counts:
            source = work / f"n{count}"
            start = time.perf_counter()
            make_files(source, count, args.shape)
            made = time.perf_counter() - start
            rss, seconds = measure("streaming", source)
            baseline = baseline or rss
            line = (f"  {count:>9,} files (made in {made:5.1f} s)  streaming {rss:6.1f} MB {seconds:6.1f} s CPU "
                    f"({rss / baseline:4.2f}x {counts[0]:,} files)")
            if not args.no_listing:
                old_rss, old_seconds = measure("listing", source)
                line += (f"  listing {old_rss:6.1f} MB {old_seconds:6.1f} s CPU "
                         f"(streaming is {rss / old_rss:4.2f}x its memory, {seconds / old_seconds:4.2f}x its CPU)")
            print(line, flush=True)
            shutil.rmtree(source)
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
