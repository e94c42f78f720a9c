"""Locate the Go-built binaries (Kubernetes, etcd, CoreDNS, and the tests' peers); build them on
demand with localcluster/build.sh, from pinned Go modules, cached in ~/.cache/kubectl-oras/.

A binary that cannot be built fails loudly: nothing here skips.
"""

from __future__ import annotations

import functools
import subprocess
from pathlib import Path

BUILD = Path(__file__).resolve().parent / "build.sh"


@functools.cache
def built(component: str) -> Path:
    """The cache directory holding ``component``'s binaries (building them if needed)."""
    result = subprocess.run(["bash", str(BUILD), component], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"building {component} failed:\n{result.stderr[-4000:]}")
    for line in result.stdout.splitlines():
        name, _, path = line.partition("=")
        if name == component:
            return Path(path)
    raise RuntimeError(f"build.sh printed no path for {component}: {result.stdout!r}")
