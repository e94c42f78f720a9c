"""Tier 1: a registry that fails the provenance statement, after the output is stored, never fails
the step nor holds it past its timeout: the verdict is `pushed` and the tag holds the output."""

from __future__ import annotations

import threading
import time

import pytest

from kubectl_oras.agent import outputs
from kubectl_oras.agent import provenance as agent_provenance
from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.errors import DeadlineExceeded
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.pods.step import STEP_ENV, StepDescription
from kubectl_oras.provenance import statement
from tests.agent.protocol import LocalPod
from tests.support.faulty_proxy import FaultyProxy

STEP_TIMEOUT = 4  # the step's `timeout` annotation, in seconds


def the_statement(repo: str):
    """The statement's manifest, put by digest (the output's own is put by its tag)."""
    return lambda method, path: method == "PUT" and path.startswith(f"/v2/{repo}/manifests/sha256:")


@pytest.fixture
def proxy(any_registry):
    p = FaultyProxy(any_registry.host).start()
    yield p
    p.stop()


@pytest.mark.parametrize("restart_policy, fault, arg", [
    ("Never", "status", 403), ("OnFailure", "status", 500),
    ("Never", "stall", 0), ("OnFailure", "stall", 0), ("Always", "stall", 0),
], ids=["refused-403-Never", "failing-500-OnFailure", "never-answering-Never", "never-answering-OnFailure",
        "never-answering-Always"])
def test_a_statement_the_registry_fails_leaves_the_output_pushed_within_the_timeout(
        proxy, any_registry, repo, tmp_path, restart_policy, fault, arg):
    proxy.add(the_statement(repo), fault, arg, times=100)
    pod = LocalPod(proxy.host, tmp_path, output=f"{repo}:v1", output_path="out.txt", timeout=STEP_TIMEOUT)
    if restart_policy == "Never":
        pod.runs_once = True
    else:
        pod.restart_policy = restart_policy
    try:
        pod.start_sidecar()
        assert pod.hook().returncode == 0
        began = time.monotonic()
        code, out, err = pod.run_step("sh", "-c", "echo result > out.txt", timeout=60)
        took = time.monotonic() - began
        assert code == 0, err
        assert "push-failed" not in out + err
        assert took < STEP_TIMEOUT + 5, took
        if restart_policy == "Always":
            code, log = pod.stop_sidecar()
        else:
            code, log = pod.sidecar.wait(timeout=30), pod.sidecar.communicate()[0]
        assert code == 0
        assert f"{repo}:v1" in log and "is pushed, but its provenance statement is not" in log, log
    finally:
        pod.cleanup()
    got = pull_artifact(RegistryClient(any_registry.host, plain_http=True), Reference(any_registry.host, repo, "v1"),
                        str(tmp_path / "got"))
    assert got is not None and (tmp_path / "got" / "out.txt").read_text() == "result\n"


def deadline_while_built(monkeypatch):
    """The step's timeout rings while the statement is built (outside the attach's own try)."""
    def ring(**_):
        raise DeadlineExceeded(f"push: not done within the {STEP_TIMEOUT} s its timeout allows")
    monkeypatch.setattr(statement, "statement", ring)


def deadline_after_attached(monkeypatch):
    """The step's timeout rings once the statement is attached, before the alarm is switched off."""
    attach = agent_provenance.attach_statement

    def attach_then_ring(*args, **kwargs):
        attach(*args, **kwargs)
        raise DeadlineExceeded(f"push: not done within the {STEP_TIMEOUT} s its timeout allows")
    monkeypatch.setattr(agent_provenance, "attach_statement", attach_then_ring)


@pytest.mark.parametrize("ring", [deadline_while_built, deadline_after_attached],
                         ids=["while-the-statement-is-built", "after-it-is-attached"])
def test_a_deadline_once_the_output_is_stored_is_a_warning_not_a_failed_push(
        any_registry, repo, tmp_path, monkeypatch, capsys, ring):
    pod = LocalPod(any_registry.host, tmp_path, output=f"{repo}:v1", output_path="out.txt", timeout=60)
    step = StepDescription.from_json(pod.env()[STEP_ENV])
    run = step.layout.run(1)
    (tmp_path / "share" / "runs" / "1" / "outputs").mkdir(parents=True)
    (tmp_path / "share" / "runs" / "1" / "outputs" / "out.txt").write_text("result\n")
    ring(monkeypatch)

    verdict = outputs.push_run(step, run, 0, "token-1", threading.Event())

    assert verdict.startswith(f"pushed {any_registry.host}/{repo}:v1@sha256:"), verdict
    assert (f"is pushed, but its provenance statement is not: push: not done within the {STEP_TIMEOUT} s"
            in capsys.readouterr().err)
    got = pull_artifact(RegistryClient(any_registry.host, plain_http=True), Reference(any_registry.host, repo, "v1"),
                        str(tmp_path / "got"))
    assert got is not None and (tmp_path / "got" / "out.txt").read_text() == "result\n"
