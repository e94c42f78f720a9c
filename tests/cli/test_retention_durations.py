"""Tier 1: one rule for a retention duration, whichever command takes it (kubectl_oras/durations.py)."""

from __future__ import annotations

import os
import subprocess

import pytest


@pytest.mark.parametrize("zero", ["0", "0s", "0h0m"])
def test_a_max_age_of_zero_is_refused_alike_by_gc_and_create_cache(tmp_path, zero):
    # neither asks anything first: no registry listens on port 9, and there is no kubeconfig
    env = dict(os.environ, KUBECONFIG=str(tmp_path / "no-kubeconfig"))
    gc = subprocess.run(["kubectl-oras", "gc", "-r", "127.0.0.1:9", "--plain-http", "--max-age", zero],
                        capture_output=True, text=True, env=env, timeout=60)
    create = subprocess.run(["kubectl-oras", "create-cache", "--max-age", zero], capture_output=True, text=True,
                            env=env, timeout=60)
    for r in (gc, create):
        assert r.returncode == 1 and r.stdout == ""
        assert r.stderr == f"error: --max-age: must be more than zero, not {zero!r}\n"
