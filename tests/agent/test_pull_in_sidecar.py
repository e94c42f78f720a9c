"""Tier 1: a launcher that runs once (restartPolicy Never), as processes against a real registry.

The sidecar's postStart hook (``prepare``) puts the wrapper and busybox into the share and never
fails; the sidecar pulls before it watches for runs and writes its answer to the share, where
the wrapper waits for it; and the sidecar ends by itself once the run's verdict is read.
"""

import os
import signal
import subprocess
import sys
import time

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.pods.share import PULL_FAILED_EXIT, PUSH_FAILED_EXIT
from tests.agent.protocol import LocalPod, drop_file_capabilities, wait_for

STEP_TIMEOUT = 30
NOBODY = 65534


@pytest.fixture
def client(any_registry):
    return RegistryClient(any_registry.host, plain_http=True)


@pytest.fixture
def pod(any_registry, tmp_path):
    p = LocalPod(any_registry.host, tmp_path, runs_once=True)
    yield p
    p.cleanup()


def verdict(pod: LocalPod) -> str:
    return (pod.share / "pull" / "verdict").read_text()


def seed(client, host, name, tmp_path, text="iterations=3\n"):
    path = tmp_path / "seed.txt"
    path.write_text(text)
    push_artifact(client, Reference(host, *name.split(":")), [str(path)])


def test_the_sidecar_pulls_the_step_runs_and_the_sidecar_ends_once_its_verdict_is_read(pod, client, any_registry,
                                                                                         repo, tmp_path):
    seed(client, any_registry.host, f"{repo}-in:v1", tmp_path)
    pod.inputs, pod.input_keys = [f"{repo}-in:v1"], ["x/input-uri"]
    pod.output, pod.output_path = f"{repo}-out:v1", "out.txt"
    pod.start_sidecar()  # as the kubelet does: the sidecar starts, then its hook runs beside it
    hook = pod.hook()
    assert (hook.returncode, hook.stdout, hook.stderr) == (0, "", "")
    assert oct((pod.share / "pull").stat().st_mode & 0o777) == "0o755"
    code, out, err = pod.run_step("sh", "-c", "cp seed.txt out.txt && echo ran", timeout=STEP_TIMEOUT)
    assert (code, out) == (0, "ran\n"), err
    assert verdict(pod) == "pulled\n"
    assert pod.sidecar.wait(timeout=10) == 0  # it ended by itself, after the wrapper read the verdict
    log = pod.sidecar.stdout.read()
    assert f"pulled {repo}-in:v1" in log  # the pull's log is the sidecar's own
    assert "run 1 has its verdict and the launcher runs once" in log
    assert (pod.share / "runs" / "1" / "seen").exists()
    pull_artifact(client, Reference(any_registry.host, f"{repo}-out", "v1"), str(tmp_path / "got"))
    assert (tmp_path / "got" / "out.txt").read_text() == "iterations=3\n"


def test_the_wrapper_waits_for_a_pull_that_ends_after_it_started(pod, client, any_registry, repo, tmp_path):
    """The launcher starts as soon as the hook returns, usually before the pull has ended."""
    seed(client, any_registry.host, f"{repo}-late:v1", tmp_path)
    pod.inputs = [f"{repo}-late:v1"]
    assert pod.hook().returncode == 0
    launcher = pod.launcher("cat", "seed.txt")
    time.sleep(5.5)  # long enough for the wrapper to say what it waits for
    assert launcher.poll() is None  # waiting for the answer
    pod.start_sidecar()
    out, err = launcher.communicate(timeout=STEP_TIMEOUT)
    assert (launcher.returncode, out) == (0, "iterations=3\n"), err
    assert "waiting for the inputs to be pulled" in err  # said once the wait is long enough to notice


def test_a_failed_pull_is_answered_the_wrapper_runs_nothing_saying_why_and_the_sidecar_ends(pod, repo):
    pod.inputs, pod.input_keys = [f"{repo}-missing:v1"], ["x/input-uri"]
    pod.output, pod.output_path = f"{repo}-out:v1", "out.txt"
    pod.start_sidecar()
    assert pod.hook().returncode == 0
    code, out, err = pod.run_step("sh", "-c", "touch ran", timeout=STEP_TIMEOUT)
    assert code == PULL_FAILED_EXIT and out == ""
    assert not (pod.workdir / "ran").exists()
    answer = verdict(pod)
    assert answer.startswith("pull-failed: ") and f"{repo}-missing:v1" in answer, answer
    assert answer.strip() in err and "the step was not run" in err, err
    assert pod.termination_log.read_text() == answer  # for the pod's status
    run = pod.share / "runs" / "1"
    assert (run / "seen").exists() and not (run / "done").exists()  # nothing for the sidecar to push
    assert pod.sidecar.wait(timeout=10) == 0  # it ends once the wrapper has read the answer
    log = pod.sidecar.stdout.read()
    assert "kubectl-oras pull: error:" in log and f"{repo}-missing:v1" in log, log
    assert "read the failed pull's answer" in log


def test_an_answer_the_share_refuses_reaches_the_waiting_wrapper_through_the_fifo(pod):
    """A full disk, say: the sidecar cannot write pull/verdict. The wrapper must not wait for ever."""
    pod.inputs = ["lab/in:v1"]
    assert pod.hook().returncode == 0
    os.chown(pod.share / "pull", NOBODY, NOBODY)  # the sidecar (no root bypasses) can no longer write there
    launcher = pod.launcher("sh", "-c", "touch ran")
    time.sleep(0.3)  # the wrapper holds the fifo and waits
    pod.start_sidecar()
    out, err = launcher.communicate(timeout=STEP_TIMEOUT)
    assert launcher.returncode == PULL_FAILED_EXIT and not (pod.workdir / "ran").exists()
    assert "pull-failed: cannot write the pull's answer into" in err, err
    assert not (pod.share / "pull" / "verdict").exists()
    assert pod.sidecar.wait(timeout=10) == 0  # alive until the wrapper read it, never a crash loop
    assert "trying again every second" in pod.sidecar.stdout.read()


@pytest.mark.parametrize("planted", ["directory", "fifo"])
def test_an_answer_that_is_not_a_file_fails_the_wrapper_and_holds_no_one(pod, planted):
    assert pod.hook().returncode == 0
    target = pod.share / "pull" / "verdict"
    target.mkdir() if planted == "directory" else os.mkfifo(target)
    pod.start_sidecar()  # started again after it was planted: it must neither block on it nor wait for ever
    code, _, err = pod.run_step("sh", "-c", "touch ran", timeout=STEP_TIMEOUT)
    assert code == PULL_FAILED_EXIT and not (pod.workdir / "ran").exists()
    assert f"{target} is not a file the sidecar wrote" in err, err
    assert pod.sidecar.wait(timeout=10) == 0


def test_the_steps_own_termination_message_is_kept_when_the_push_fails(pod, repo):
    pod.registry, pod.timeout = "127.0.0.1:9", 2  # nothing listens: the push fails after the step's timeout
    pod.output, pod.output_path = f"{repo}-out:v1", "out.txt"
    pod.start_sidecar()
    assert pod.hook().returncode == 0
    code, _, err = pod.run_step("sh", "-c", f"echo x > out.txt; echo result=42 > {pod.termination_log}",
                                timeout=STEP_TIMEOUT)
    assert code == PUSH_FAILED_EXIT and "push-failed" in err, err
    assert pod.termination_log.read_text() == "result=42\n"  # a tool may read results from it


def test_extra_run_directories_neither_keep_the_sidecar_nor_stand_for_the_run(pod, repo, client, any_registry,
                                                                              tmp_path):
    pod.output, pod.output_path = f"{repo}-out:v1", "out.txt"
    (pod.share / "runs" / "9").mkdir(parents=True)  # no done: not a finished run
    (pod.share / "runs" / "8").mkdir()
    (pod.share / "runs" / "8" / "verdict").write_text("pushed forged\n")  # a verdict without done
    pod.start_sidecar()
    assert pod.hook().returncode == 0
    code, _, err = pod.run_step("sh", "-c", "echo x > out.txt", timeout=STEP_TIMEOUT)
    assert code == 0, err
    assert pod.sidecar.wait(timeout=10) == 0
    assert "run 1 has its verdict" in pod.sidecar.stdout.read()


def test_a_run_directory_that_cannot_be_made_fails_at_once_saying_so(pod):
    pod.inputs = []
    pod.start_sidecar()
    assert pod.hook().returncode == 0
    runs = pod.share / "runs"
    runs.rmdir()
    runs.write_text("")  # mkdir in it fails, and not because a run took the number
    began = time.monotonic()
    code, _, err = pod.run_step("true", timeout=STEP_TIMEOUT)
    assert code == 1 and f"cannot create a run directory in {runs}" in err, err
    assert time.monotonic() - began < 5  # not 10,000 tries


def test_a_pod_spec_from_before_the_seen_marker_still_runs_its_step(pod, repo):
    """A node may still run an older pod spec against this wrapper: no KUBECTL_ORAS_RUN_SEEN."""
    pod.runs_once = False
    pod.output, pod.output_path = f"{repo}-old:v1", "out.txt"
    assert pod.init().returncode == 0
    pod.start_sidecar()
    env = {**os.environ, **launcher_env(pod)}
    del env["KUBECTL_ORAS_RUN_SEEN"]
    r = subprocess.run([str(pod.share / "bin" / "busybox"), "sh", str(pod.share / "bin" / "oras-wrap"), "sh", "-c",
                        "echo y > out.txt"], cwd=pod.workdir, env=env, capture_output=True, text=True,
                       timeout=STEP_TIMEOUT)
    assert r.returncode == 0 and "verdict: pushed" in r.stderr, r.stderr


def test_a_pod_spec_without_the_verdict_words_does_not_run_its_step(pod, repo):
    """A pod spec made by an older injection than its image does not give the wrapper the words of
    the sidecar's answers: it could not tell a stored output from a failed push, so the step is not
    run, and the container's status says why."""
    pod.runs_once = False
    pod.output, pod.output_path = f"{repo}-words:v1", "out.txt"
    assert pod.init().returncode == 0
    env = {k: v for k, v in {**os.environ, **launcher_env(pod)}.items() if not k.startswith("KUBECTL_ORAS_VERDICT_")}
    r = subprocess.run([str(pod.share / "bin" / "busybox"), "sh", str(pod.share / "bin" / "oras-wrap"), "sh", "-c",
                        "echo y > out.txt"], cwd=pod.workdir, env=env, capture_output=True, text=True,
                       timeout=STEP_TIMEOUT)
    assert r.returncode == 1 and "KUBECTL_ORAS_VERDICT_*" in r.stderr and "the step was not run" in r.stderr, r.stderr
    assert not (pod.workdir / "out.txt").exists()
    assert "injected by an older kubectl-oras" in pod.termination_log.read_text()


def launcher_env(pod: LocalPod) -> dict[str, str]:
    from kubectl_oras.pods.share import Share
    from kubectl_oras.pods.step import WrapperSettings, wrapper_environment

    settings = WrapperSettings(input_path="", output_path=pod.output_path, output_pipe="", push=True, debug=True,
                               termination_log=str(pod.termination_log))
    return wrapper_environment(settings, Share(str(pod.share)))


def test_a_sidecar_started_again_after_the_answer_pulls_nothing(pod, client, any_registry, repo, tmp_path):
    seed(client, any_registry.host, f"{repo}-in:v1", tmp_path)
    pod.inputs = [f"{repo}-in:v1"]
    pod.start_sidecar()
    wait_for(lambda: (pod.share / "pull" / "verdict").exists())
    pod.stop_sidecar()
    (pod.share / "inputs" / "seed.txt").write_text("changed by nobody else")
    pod.start_sidecar()  # restarted later in the pod's life
    assert pod.hook().returncode == 0
    _, log = pod.stop_sidecar()
    assert "pulled" not in log
    assert verdict(pod) == "pulled\n"
    assert (pod.share / "inputs" / "seed.txt").read_text() == "changed by nobody else"


def test_a_sidecar_killed_mid_pull_is_answered_by_the_next_one_without_trying_again(pod, silent_registry):
    pod.registry = silent_registry  # the pull waits for an answer that never comes
    pod.inputs = ["lab/in:v1"]
    pod.start_sidecar()
    wait_for(lambda: (pod.share / "pull" / "started").exists())
    pod.sidecar.send_signal(signal.SIGKILL)  # as the OOM killer would
    pod.sidecar.communicate()
    assert not (pod.share / "pull" / "verdict").exists()
    began = time.monotonic()
    pod.start_sidecar()
    wait_for(lambda: (pod.share / "pull" / "verdict").exists())
    assert time.monotonic() - began < 10  # no second wait for the registry
    assert verdict(pod).startswith("pull-failed: an earlier pull in this pod ended without an answer")
    assert pod.hook().returncode == 0
    code, _, err = pod.run_step("sh", "-c", "touch ran", timeout=STEP_TIMEOUT)
    assert code == PULL_FAILED_EXIT and "ended without an answer" in err and not (pod.workdir / "ran").exists()


def test_sigterm_stops_the_sidecars_pull_at_once_and_the_waiting_wrapper_too(pod, silent_registry):
    pod.registry = silent_registry
    pod.inputs = ["lab/in:v1"]
    pod.start_sidecar()
    assert pod.hook().returncode == 0
    wait_for(lambda: (pod.share / "pull" / "started").exists())
    launcher = pod.launcher("sh", "-c", "touch ran")
    time.sleep(0.5)
    assert launcher.poll() is None  # waiting for the answer
    began = time.monotonic()
    code, log = pod.stop_sidecar(timeout=10)  # the pod is deleted: SIGTERM to both
    launcher.send_signal(signal.SIGTERM)
    assert launcher.wait(timeout=10) in (PULL_FAILED_EXIT, 143)  # woken by the answer "stopped", or by its own SIGTERM
    assert time.monotonic() - began < 5  # not the registry wait's 300 s
    assert code == 0
    assert verdict(pod).startswith("pull-failed: stopped by SIGTERM")
    assert not (pod.workdir / "ran").exists()


def test_a_hook_that_cannot_prepare_still_succeeds(pod):
    pod.share.mkdir(parents=True)
    (pod.share / "bin").write_text("not a directory")  # the busybox cannot go in
    hook = pod.hook()
    assert hook.returncode == 0  # a failing hook would restart the sidecar for ever
    assert "kubectl-oras prepare: error:" in hook.stderr
    bad = subprocess.run([sys.executable, "-m", "kubectl_oras.agent", "prepare"], env={**os.environ},
                         capture_output=True, text=True, timeout=60, preexec_fn=drop_file_capabilities)
    assert bad.returncode == 0 and "KUBECTL_ORAS_STEP is not set" in bad.stderr


def test_a_sidecar_whose_wrapper_never_reads_the_verdict_still_ends(pod, repo):
    pod.output, pod.output_path = f"{repo}-out:v1", "out.txt"
    run = pod.share / "runs" / "1"
    run.mkdir(parents=True)
    (run / "done").write_text("3 5b1c4a52-run-token\n")  # a wrapper that wrote done, then was killed
    pod.start_sidecar()
    assert pod.sidecar.wait(timeout=10) == 0
    assert (run / "verdict").read_text() == "not-pushed: the step exited with 3\n5b1c4a52-run-token\n"


def test_a_step_with_inputs_and_no_output_ends_its_sidecar_too(pod, client, any_registry, repo, tmp_path):
    seed(client, any_registry.host, f"{repo}-in:v1", tmp_path)
    pod.inputs = [f"{repo}-in:v1"]
    pod.start_sidecar()
    assert pod.hook().returncode == 0
    code, out, err = pod.run_step("cat", "seed.txt", timeout=STEP_TIMEOUT)
    assert (code, out) == (0, "iterations=3\n"), err
    assert pod.sidecar.wait(timeout=10) == 0
    verdict = (pod.share / "runs" / "1" / "verdict").read_text().splitlines()
    assert verdict == ["not-pushed: no output-uri", (pod.share / "runs" / "1" / "done").read_text().split()[1]]
    assert not (pod.share / "runs" / "1" / "seen").exists()  # the wrapper waited for no verdict
