"""A registry that accepts connections and never answers: every command and the agent give up
in bounded time, naming the registry and what was being done; the limits are the user's."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from kubectl_oras.pods.step import STEP_ENV, StepDescription

KUBECTL_ORAS = [sys.executable, "-m", "kubectl_oras"]


def run(*args: str, env: dict[str, str] | None = None, limit: float = 60) -> subprocess.CompletedProcess:
    """The command as a user runs it; ``limit`` only keeps a hung command from hanging the suite."""
    return subprocess.run([*KUBECTL_ORAS, *args], capture_output=True, text=True, timeout=limit,
                          env=dict(os.environ, **(env or {})))


def test_a_silent_registry_fails_a_pull_naming_it_and_the_wait(silent_registry, tmp_path):
    r = run("pull", "metric/hwloc:iter-0", "-r", silent_registry, "--plain-http", "--read-timeout", "1",
            "-o", str(tmp_path / "out"))
    assert r.returncode == 1
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr
    assert f"pull {silent_registry}/metric/hwloc:iter-0" in r.stderr
    assert f"registry {silent_registry} did not answer within 1 s" in r.stderr
    assert "gave up after 5 tries" in r.stderr
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_the_read_timeout_can_come_from_the_environment(silent_registry):
    r = run("tags", "metric/hwloc", "-r", silent_registry, "--plain-http",
            env={"KUBECTL_ORAS_READ_TIMEOUT": "500ms", "KUBECTL_ORAS_TIMEOUT": "1s"})
    assert r.returncode == 1
    assert f"list tags of {silent_registry}/metric/hwloc" in r.stderr
    assert "not done within the 1 s its timeout allows" in r.stderr


def test_a_total_timeout_ends_a_push_whatever_the_read_timeout(silent_registry, tmp_path):
    (tmp_path / "f.txt").write_text("x")
    r = run("push", "metric/hwloc:iter-0", str(tmp_path / "f.txt"), "-r", silent_registry, "--plain-http",
            "--timeout", "2s", "--read-timeout", "10m")
    assert r.returncode == 1
    assert "not done within the 2 s its timeout allows" in r.stderr


@pytest.mark.parametrize("option, value", [("--timeout", "soon"), ("--read-timeout", "0"), ("--connect-timeout", "-3s")])
def test_a_bad_time_limit_is_refused_naming_the_option(option, value):
    r = run("tags", "metric/hwloc", "-r", "127.0.0.1:1", "--plain-http", option, value, limit=30)
    assert r.returncode == 1
    assert r.stderr.startswith(f"error: {option}: ") and "Traceback" not in r.stderr


def test_the_agents_pull_gives_up_within_the_steps_timeout(silent_registry, tmp_path):
    step = StepDescription(registry=silent_registry, plain_http=True, inputs=("experiment/simulate:iter-0",), output=None,
                           unpack=True, push_on_failure="never", debug=True, share=str(tmp_path / "share"), timeout=2)
    r = subprocess.run([sys.executable, "-m", "kubectl_oras.agent", "pull"], capture_output=True, text=True, timeout=60,
                       env=dict(os.environ, **{STEP_ENV: step.to_json()}))
    assert r.returncode == 1
    # A registry that does not answer /v2/ is waited for (docs/pod-protocol.md), up to the step's timeout.
    assert f"error: pull experiment/simulate:iter-0: registry {silent_registry} did not answer for 2 s" in r.stderr
    assert "(the step's timeout)" in r.stderr


@pytest.mark.parametrize("command", [("pull", "metric/hwloc:iter-0", "-o", "out"), ("tags", "metric/hwloc")])
def test_the_timeout_holds_against_a_registry_that_only_drips(dripping_registry, workdir, command):
    r = run(*command, "-r", dripping_registry, "--plain-http", "--timeout", "3s", limit=40)
    assert r.returncode == 1
    assert "not done within the 3 s its timeout allows" in r.stderr and r.stderr.count("\n") == 1


def test_the_agents_timeout_holds_against_a_registry_that_only_drips(dripping_registry, tmp_path):
    step = StepDescription(registry=dripping_registry, plain_http=True, inputs=("experiment/simulate:iter-0",),
                           output=None, unpack=True, push_on_failure="never", debug=True, share=str(tmp_path / "share"),
                           timeout=2)
    r = subprocess.run([sys.executable, "-m", "kubectl_oras.agent", "pull"], capture_output=True, text=True, timeout=40,
                       env=dict(os.environ, **{STEP_ENV: step.to_json()}))
    assert r.returncode == 1
    assert "not done within the 2 s its timeout allows" in r.stderr
