"""Locate the Go-built test binaries; build them on demand with tests/cluster/build.sh.

A binary that cannot be built fails the test run loudly: nothing here skips.
"""

from __future__ import annotations

import functools
import os
import subprocess
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "tests" / "cluster" / "build.sh"


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


def oras_cli() -> str:
    return str(built("oras") / "oras")


def distribution_v3() -> str:
    return str(built("distribution") / "registry")


def debian_registry() -> str:
    path = "/usr/bin/docker-registry"
    if not os.access(path, os.X_OK):
        raise RuntimeError("docker-registry is not installed: apt-get install docker-registry (tests/setup.sh does)")
    return path
