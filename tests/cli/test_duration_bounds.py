"""Tier 1: a duration past the bound is one error line naming where it came from, run as the real
program (which arms a process alarm for --timeout: a 3000000h one ended in OverflowError)."""

import os
import subprocess
import sys

import pytest

TOO_LONG = "3000000h"
BOUND_SAID = f"'{TOO_LONG}' is longer than 87600h (10 years), the longest duration taken"


def run(*args: str, **env: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubectl_oras", *args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, **env))


@pytest.mark.parametrize("flags, env, culprit", [
    (("--timeout", TOO_LONG), {}, "--timeout"),
    ((), {"KUBECTL_ORAS_TIMEOUT": TOO_LONG}, "--timeout or KUBECTL_ORAS_TIMEOUT"),
    (("--read-timeout", TOO_LONG), {}, "--read-timeout"),
], ids=["flag", "variable", "read-timeout"])
def test_tags_with_a_timeout_past_the_bound_is_one_error_line(any_registry, repo, flags, env, culprit):
    done = run("tags", repo, "-r", any_registry.host, "--plain-http", *flags, **env)
    assert (done.returncode, done.stdout, done.stderr) == (1, "", f"error: {culprit}: {BOUND_SAID}\n")


def test_a_timeout_at_the_bound_arms_the_alarm_and_the_command_runs(any_registry, repo, tmp_path):
    (tmp_path / "a.txt").write_text("a")
    pushed = subprocess.run([sys.executable, "-m", "kubectl_oras", "push", f"{repo}:v1", "a.txt", "-r",
                             any_registry.host, "--plain-http", "--timeout", "87600h"], capture_output=True, text=True,
                            timeout=60, cwd=tmp_path)
    assert pushed.returncode == 0, pushed.stderr
    done = run("tags", repo, "-r", any_registry.host, "--plain-http", "--timeout", "87600h")
    assert (done.returncode, done.stdout) == (0, "v1\n"), done.stderr
