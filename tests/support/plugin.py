"""This checkout's `kubectl-oras` on PATH, as kubectl's plugin discovery finds it: `kubectl oras …`
runs it, and nothing else of ours is on PATH or PYTHONPATH."""

from __future__ import annotations

import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def plugin_environment(bin_dir: Path) -> dict[str, str]:
    """An environment whose PATH has this checkout's `kubectl-oras` (written into ``bin_dir``) and kubectl."""
    plugin = bin_dir / "kubectl-oras"
    plugin.write_text(f"#!/bin/sh\nexec {sys.executable} -m kubectl_oras \"$@\"\n")
    plugin.chmod(0o755)
    return {"PATH": f"{bin_dir}:/usr/local/bin:/usr/bin:/bin", "PYTHONPATH": str(REPO), "HOME": str(bin_dir),
            "PYTHONDONTWRITEBYTECODE": "1"}
