"""Tier 1: a sidecar that dies while it pushes, and a sidecar that never answers, as processes.

A sidecar over its memory limit is OOMKilled in the middle of a push; the kubelet starts it again
(it is a native sidecar), and it used to push the same run again, die again, and leave the step
waiting for ever with no condition and empty logs. Now the restarted sidecar answers push-failed
naming what happened, and the wrapper's wait for any verdict is bounded.
"""

from __future__ import annotations

import signal
import socket
import threading
import time

import pytest

from kubectl_oras.pods.share import PULL_FAILED_EXIT, PUSH_FAILED_EXIT
from tests.agent.protocol import LocalPod, wait_for
from tests.support.slow_servers import serve_on_loopback

STEP_TIMEOUT = 60


@pytest.fixture
def registry_that_holds_the_push():
    """A registry that accepts the sidecar's connection and never answers: the push stays under way
    for as long as the test needs (the sidecar is killed there, as the kubelet kills one out of memory)."""
    connected = threading.Event()

    def hold(conn: socket.socket, stop: threading.Event) -> None:
        connected.set()
        stop.wait()

    for host in serve_on_loopback(hold):
        yield host, connected


@pytest.fixture
def pod(tmp_path, registry_that_holds_the_push):
    host, _ = registry_that_holds_the_push
    p = LocalPod(host, tmp_path, output="wf/out:v1", output_path="out.txt")
    yield p
    p.cleanup()


@pytest.mark.parametrize("runs_once", [False, True], ids=["init-container-pulls", "launcher-runs-once"])
def test_a_sidecar_killed_mid_push_answers_push_failed_when_started_again(pod, registry_that_holds_the_push,
                                                                        runs_once):
    _, connected = registry_that_holds_the_push
    pod.runs_once = runs_once
    pod.verdict_wait = STEP_TIMEOUT  # without an answer, the wrapper would still end (saying no verdict came)
    if runs_once:
        pod.start_sidecar()
        assert pod.hook().returncode == 0
    else:
        assert pod.init().returncode == 0
        pod.start_sidecar()
    launcher = pod.launcher("sh", "-c", "echo result > out.txt")
    assert connected.wait(30), "the sidecar never began the push"
    pod.sidecar.send_signal(signal.SIGKILL)  # what the kubelet does to a container over its memory limit
    pod.sidecar.wait()

    pod.start_sidecar()  # the kubelet starts a native sidecar again, on the same share
    _, err = launcher.communicate(timeout=STEP_TIMEOUT)
    verdict = (pod.share / "runs" / "1" / "verdict").read_text().split("\n")[0]  # then the run's token
    assert verdict.startswith("push-failed: the push of run 1 was interrupted: the sidecar died while pushing "
                              "(out of memory, or killed) in an attempt started at 20"), verdict
    assert "not tried again in this pod" in verdict and "last state" in verdict
    assert launcher.returncode == PUSH_FAILED_EXIT, err
    assert pod.termination_log.read_text() == verdict + "\n"
    if runs_once:  # it ends by itself once the wrapper has read the answer
        assert pod.sidecar.wait(timeout=10) == 0
        log = pod.sidecar.stdout.read()
    else:
        code, log = pod.stop_sidecar()
        assert code == 0
    assert "push-failed: the push of run 1 was interrupted" in log


def fails_at_the_bound(pod: LocalPod, seconds: int, exit_code: int, said: str, *argv: str) -> str:
    """Runs the step and checks the wrapper waited ``seconds`` for an answer that never came, then
    exited ``exit_code`` saying ``said`` in the log and as the termination message; the log."""
    started = time.monotonic()
    code, _, err = pod.run_step(*argv, timeout=STEP_TIMEOUT)
    assert time.monotonic() - started >= seconds
    assert code == exit_code, err
    assert f"kubectl-oras: {said}" in err
    assert pod.termination_log.read_text() == said + "\n"
    return err


def test_the_wrapper_stops_waiting_for_a_verdict_at_its_bound(pod):
    pod.verdict_wait = 2  # the injection sets it from the step's timeout; here, short
    assert pod.init().returncode == 0  # and no sidecar ever answers (it could not even start)
    said = ("push-failed: the sidecar (oras-push) gave no verdict within 2 s of the step's end, so its outputs are "
            "not known to be stored (kubectl logs POD -c oras-push; kubectl describe pod: its last state)")
    err = fails_at_the_bound(pod, 2, PUSH_FAILED_EXIT, said, "sh", "-c", "echo result > out.txt")
    assert f"kubectl-oras: {said}\n" in err


def test_a_step_that_fails_keeps_its_own_code_when_no_verdict_comes(pod):
    pod.verdict_wait = 1
    assert pod.init().returncode == 0
    code, _, err = pod.run_step("sh", "-c", "echo partial > out.txt; exit 7", timeout=STEP_TIMEOUT)
    assert code == 7, err
    assert "gave no verdict within 1 s" in err


@pytest.mark.parametrize("wait", ["99999999999999999999", "0010"])
def test_a_verdict_wait_past_the_shells_numbers_still_waits(pod, wait):
    """A bound past what the shell's numbers hold (a pod spec written by hand) is a long wait, not
    none: the comparison failed ("out of range") and the wrapper gave up as soon as done was written."""
    pod.verdict_wait = wait  # type: ignore[assignment]  # the variable as a pod spec may hold it
    assert pod.init().returncode == 0
    step = pod.launcher("sh", "-c", "echo result > out.txt")
    run = pod.share / "runs" / "1"
    wait_for(lambda: (run / "done").exists())
    token = (run / "done").read_text().split()[1]
    (run / "verdict").write_text(f"not-pushed: as the sidecar would say\n{token}\n")  # the sidecar's answer, by hand
    _, err = step.communicate(timeout=STEP_TIMEOUT)
    assert step.returncode == 0 and "out of range" not in err, err


def test_the_wrapper_stops_waiting_for_the_pulls_answer_at_its_bound(pod):
    pod.inputs = ["wf/in:v1"]
    pod.runs_once = True  # the sidecar pulls, and the wrapper waits for its answer before the step
    pod.pull_wait = 2  # the injection sets it from the step's timeout; here, short
    assert pod.hook().returncode == 0  # the share is prepared, and no sidecar ever starts (it dies on every start)
    said = ("pull-failed: the sidecar (oras-push) gave no answer to the inputs' pull within 2 s "
            "(kubectl describe pod: its last state)")
    err = fails_at_the_bound(pod, 2, PULL_FAILED_EXIT, said, "sh", "-c", "echo ran > ran.txt")
    assert f"kubectl-oras: {said}; the step was not run" in err
    assert not (pod.workdir / "ran.txt").exists()
