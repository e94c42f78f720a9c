"""`python -m controller` as a user runs it: help with examples, and one line (never a traceback)
for flags, settings and clusters it cannot use."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
ENV = {**os.environ, "KUBECTL_ORAS_NAMESPACE": "kubectl-oras-system", "KUBECTL_ORAS_IMAGE": "kubectl-oras:test"}


def controller(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "controller", *args], cwd=REPO, env=env or ENV,
                          capture_output=True, text=True, timeout=60)


def test_help_shows_the_commands_and_examples():
    out = controller("--help")
    assert out.returncode == 0
    assert "run" in out.stdout and "webhook" in out.stdout and "examples:" in out.stdout


def test_settings_it_cannot_use_are_one_line_errors(tmp_path):
    cases = [
        (("run", "--lease-seconds", "-1"), ENV, 2, "argument --lease-seconds: must be more than zero, not '-1'"),
        (("run", "--listen", "nowhere"), ENV, 2, "is not HOST:PORT"),
        (("run", "--lease-seconds", "5", "--renew-seconds", "10"), ENV, 2, "leader election needs"),
        (("run",), {k: v for k, v in ENV.items() if k != "KUBECTL_ORAS_IMAGE"}, 2, "KUBECTL_ORAS_IMAGE"),
        (("run", "--kubeconfig", str(tmp_path / "missing")), ENV, 1, "no cluster to talk to"),
        (("run", "--log-level", "loud"), ENV, 2, "log level"),
    ]
    for args, env, code, words in cases:
        out = controller(*args, env=env)
        assert out.returncode == code, (args, out.stderr)
        assert words in out.stderr and "Traceback" not in out.stderr, (args, out.stderr)
