"""Tier 1: a launcher the kubelet may start again (restartPolicy OnFailure or Always), as processes
against a real registry. The sidecar pulls as it does for a launcher that runs once; a launcher
started again after a failed pull asks it to pull again; under OnFailure the sidecar ends by
itself after a run that succeeded, and under Always it serves every run."""

import shutil
import signal

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.pods.share import PULL_FAILED_EXIT, PUSH_FAILED_EXIT
from tests.agent.protocol import LocalPod
from tests.support.faulty_proxy import FaultyProxy

STEP_TIMEOUT = 30


@pytest.fixture
def local_pod(any_registry, tmp_path, request):
    """A pod of the restart policy the test names (indirect parametrization)."""
    p = LocalPod(any_registry.host, tmp_path, restart_policy=request.param)
    yield p
    p.cleanup()


ON_FAILURE = pytest.mark.parametrize("local_pod", ["OnFailure"], indirect=True)
ALWAYS = pytest.mark.parametrize("local_pod", ["Always"], indirect=True)


def seed(host, name, tmp_path, text):
    path = tmp_path / "seed.txt"
    path.write_text(text)
    push_artifact(RegistryClient(host, plain_http=True), Reference(host, *name.split(":")), [str(path)])


def pulled_text(host, name, tmp_path, file):
    pull_artifact(RegistryClient(host, plain_http=True), Reference(host, *name.split(":")), str(tmp_path / "got"))
    return (tmp_path / "got" / file).read_text()


def started_with_an_input(pod: LocalPod, host: str, repo: str, tmp_path) -> LocalPod:
    """The pod's sidecar started, for a step that reads seed.txt (input REPO-in:v1) and pushes
    out.txt to REPO-out:v1."""
    seed(host, f"{repo}-in:v1", tmp_path, "seed\n")
    pod.inputs, pod.output, pod.output_path = [f"{repo}-in:v1"], f"{repo}-out:v1", "out.txt"
    pod.start_sidecar()
    assert pod.hook().returncode == 0
    return pod


def start_again(pod: LocalPod) -> None:
    """What the kubelet gives a container it starts again: a new filesystem (the share stays)."""
    shutil.rmtree(pod.workdir)
    pod.workdir.mkdir()


@ON_FAILURE
def test_a_launcher_started_again_after_a_failed_pull_gets_its_inputs_pushes_and_the_sidecar_ends(
        local_pod, any_registry, repo, tmp_path):
    pod = local_pod
    pod.inputs, pod.output, pod.output_path = [f"{repo}-in:v1"], f"{repo}-out:v1", "out.txt"
    pod.start_sidecar()
    assert pod.hook().returncode == 0
    code, _, err = pod.run_step("sh", "-c", "cp seed.txt out.txt", timeout=STEP_TIMEOUT)
    assert code == PULL_FAILED_EXIT and f"{repo}-in:v1" in err, err  # not pushed yet: the step was not run
    assert pod.sidecar.poll() is None  # the launcher will run again: the sidecar stays
    seed(any_registry.host, f"{repo}-in:v1", tmp_path, "iterations=3\n")
    start_again(pod)
    code, _, err = pod.run_step("sh", "-c", "cp seed.txt out.txt", timeout=STEP_TIMEOUT)
    assert code == 0, err
    assert "the inputs' pull failed for run 1; asking the sidecar to pull them again" in err
    assert (pod.share / "pull" / "verdict").read_text() == "pulled\n2\n"  # the answer names the run that asked
    assert pod.sidecar.wait(timeout=10) == 0  # ended by itself after the run that succeeded
    log = pod.sidecar.stdout.read()
    assert "run 2 asks for the inputs again" in log and "run 2 succeeded and its verdict is read" in log, log
    assert pulled_text(any_registry.host, f"{repo}-out:v1", tmp_path, "out.txt") == "iterations=3\n"


@ON_FAILURE
def test_a_pull_that_fails_again_answers_the_run_that_asked_and_the_next_run_asks_again(local_pod, repo):
    pod = local_pod
    pod.inputs = [f"{repo}-never:v1"]
    pod.start_sidecar()
    assert pod.hook().returncode == 0
    for run in (1, 2, 3):
        start_again(pod)
        code, _, err = pod.run_step("sh", "-c", "touch ran", timeout=STEP_TIMEOUT)
        assert code == PULL_FAILED_EXIT and not (pod.workdir / "ran").exists(), err
        lines = (pod.share / "pull" / "verdict").read_text().splitlines()
        assert lines[0].startswith("pull-failed: ") and lines[1:] == ([] if run == 1 else [str(run)])
    assert pod.sidecar.poll() is None
    _, log = pod.stop_sidecar()
    assert log.count("asks for the inputs again") == 2, log


@ON_FAILURE
def test_a_failed_push_fails_the_run_and_the_sidecar_stays_for_the_next(local_pod, repo):
    pod = local_pod
    pod.registry, pod.timeout = "127.0.0.1:9", 2  # nothing listens: the push fails after the step's timeout
    pod.output, pod.output_path = f"{repo}-out:v1", "out.txt"
    pod.start_sidecar()
    assert pod.hook().returncode == 0
    code, _, err = pod.run_step("sh", "-c", "echo x > out.txt", timeout=STEP_TIMEOUT)
    assert code == PUSH_FAILED_EXIT and "push-failed" in err, err
    assert pod.sidecar.poll() is None  # OnFailure starts the launcher again: it must be served
    code, _, err = pod.run_step("sh", "-c", "exit 3", timeout=STEP_TIMEOUT)
    assert code == 3 and pod.sidecar.poll() is None
    start_again(pod)
    code, _, err = pod.run_step("true", timeout=STEP_TIMEOUT)  # nothing to push: output-path missing
    assert code == 1 and pod.sidecar.poll() is None, err


@ALWAYS
def test_under_always_every_run_gets_the_inputs_again_and_pushes_and_the_sidecar_stays(
        local_pod, any_registry, repo, tmp_path):
    pod = started_with_an_input(local_pod, any_registry.host, repo, tmp_path)
    digests = []
    for run in (1, 2):
        start_again(pod)
        code, _, err = pod.run_step("sh", "-c", f"cat seed.txt > out.txt; echo run{run} >> out.txt",
                                    timeout=STEP_TIMEOUT)
        assert code == 0, err
        verdict = (pod.share / "runs" / str(run) / "verdict").read_text()
        assert verdict.startswith(f"pushed {any_registry.host}/{repo}-out:v1@"), verdict
        digests.append(verdict.split("@")[1].split()[0])
    assert digests[0] != digests[1]  # each run pushed its own outputs
    assert pod.sidecar.poll() is None  # a Deployment's launcher runs again after a success too
    assert pulled_text(any_registry.host, f"{repo}-out:v1", tmp_path, "out.txt") == "seed\nrun2\n"
    _, log = pod.stop_sidecar()
    assert log.count("pulled ") == 1, log  # the inputs were pulled once; each run copied them again


@ON_FAILURE
def test_a_request_to_pull_again_planted_in_the_share_costs_one_pull_not_a_loop(local_pod, repo):
    pod = local_pod
    pod.inputs = [f"{repo}-never:v1"]
    (pod.share / "runs" / "7").mkdir(parents=True)
    (pod.share / "runs" / "7" / "pull-again").write_text("")
    pod.start_sidecar()
    assert pod.hook().returncode == 0
    code, _, err = pod.run_step("true", timeout=STEP_TIMEOUT)  # run 1: takes the first answer, or run 7's
    assert code == PULL_FAILED_EXIT, err
    start_again(pod)
    code, _, err = pod.run_step("true", timeout=STEP_TIMEOUT)
    assert code == PULL_FAILED_EXIT, err
    _, log = pod.stop_sidecar()
    assert log.count("run 7 asks for the inputs again") == 1, log


@ON_FAILURE
def test_runs_that_fail_push_nothing_and_the_run_that_succeeds_after_them_is_the_tag(
        local_pod, any_registry, repo, tmp_path):
    pod = started_with_an_input(local_pod, any_registry.host, repo, tmp_path)
    # three failed runs, the first leaving an output behind it; each finds its inputs again
    for run, script in enumerate(("cat seed.txt > out.txt; echo bad >> out.txt; exit 3", "test -f seed.txt && exit 4",
                                  "test ! -f out.txt && exit 5"), start=1):
        start_again(pod)
        code, _, err = pod.run_step("sh", "-c", script, timeout=STEP_TIMEOUT)
        assert code == run + 2, err
        verdict = (pod.share / "runs" / str(run) / "verdict").read_text()
        assert verdict.startswith(f"not-pushed: the step exited with {run + 2}"), verdict
        assert pod.sidecar.poll() is None  # the launcher runs again after a failure
    assert RegistryClient(any_registry.host, plain_http=True).resolve(f"{repo}-out", "v1", what="check") is None
    start_again(pod)
    code, _, err = pod.run_step("sh", "-c", "cat seed.txt > out.txt; echo good >> out.txt", timeout=STEP_TIMEOUT)
    assert code == 0, err
    assert pod.sidecar.wait(timeout=30) == 0  # it ends after the run that succeeded
    assert pulled_text(any_registry.host, f"{repo}-out:v1", tmp_path, "out.txt") == "seed\ngood\n"
    assert pod.sidecar.communicate()[0].count("pulled ") == 1  # pulled once; each run copied the inputs again


@ALWAYS
def test_under_always_a_run_that_fails_after_one_that_succeeded_leaves_the_tag_to_the_success(
        local_pod, any_registry, repo, tmp_path):
    pod = local_pod
    pod.output, pod.output_path = f"{repo}-out:v1", "out.txt"
    pod.start_sidecar()
    assert pod.hook().returncode == 0
    start_again(pod)
    assert pod.run_step("sh", "-c", "echo one > out.txt", timeout=STEP_TIMEOUT)[0] == 0
    start_again(pod)
    code, _, err = pod.run_step("sh", "-c", "echo two > out.txt; exit 3", timeout=STEP_TIMEOUT)
    assert code == 3, err
    assert (pod.share / "runs" / "2" / "verdict").read_text().startswith("not-pushed: the step exited with 3")
    assert pulled_text(any_registry.host, f"{repo}-out:v1", tmp_path, "out.txt") == "one\n"
    assert pod.sidecar.poll() is None


@pytest.mark.parametrize("local_pod", ["OnFailure"], indirect=True)
def test_a_sidecar_killed_while_it_pulls_again_answers_that_run_and_the_next_run_gets_its_inputs(
        local_pod, any_registry, repo, tmp_path):
    proxy = FaultyProxy(any_registry.host).start()
    try:
        pod = local_pod
        pod.registry = proxy.host
        pod.inputs, pod.output, pod.output_path = [f"{repo}-in:v1"], f"{repo}-out:v1", "out.txt"
        pod.start_sidecar()
        assert pod.hook().returncode == 0
        assert pod.run_step("sh", "-c", "cp seed.txt out.txt", timeout=STEP_TIMEOUT)[0] == PULL_FAILED_EXIT
        seed(any_registry.host, f"{repo}-in:v1", tmp_path, "iterations=3\n")
        proxy.add(lambda method, path: path == f"/v2/{repo}-in/manifests/v1", "hold")
        start_again(pod)
        run2 = pod.launcher("sh", "-c", "cp seed.txt out.txt")
        proxy.holding.wait(timeout=30)  # the sidecar pulls again for run 2
        assert (pod.share / "pull" / "started").read_text().strip() == "2"
        pod.sidecar.send_signal(signal.SIGKILL)  # as the OOM killer would
        pod.sidecar.communicate()
        pod.start_sidecar()  # the kubelet starts it again: it answers run 2 without pulling
        _, err = run2.communicate(timeout=STEP_TIMEOUT)
        assert run2.returncode == PULL_FAILED_EXIT and "ended without an answer" in err, err
        proxy.let_go()
        start_again(pod)
        code, _, err = pod.run_step("sh", "-c", "cp seed.txt out.txt", timeout=STEP_TIMEOUT)
        assert code == 0 and "asking the sidecar to pull them again" in err, err
        assert (pod.share / "pull" / "verdict").read_text() == "pulled\n3\n"
        assert pod.sidecar.wait(timeout=30) == 0
        assert pulled_text(any_registry.host, f"{repo}-out:v1", tmp_path, "out.txt") == "iterations=3\n"
    finally:
        proxy.stop()


@ON_FAILURE
def test_a_pull_again_starts_from_no_inputs_not_from_what_the_failed_pull_left(local_pod, any_registry, repo, tmp_path):
    pod = local_pod
    client = RegistryClient(any_registry.host, plain_http=True)
    (tmp_path / "old.txt").write_text("old\n")
    (tmp_path / "new.txt").write_text("new\n")
    push_artifact(client, Reference(any_registry.host, f"{repo}-a", "v1"), [str(tmp_path / "old.txt")])
    pod.inputs, pod.output, pod.output_path = [f"{repo}-a:v1", f"{repo}-b:v1"], f"{repo}-out:v1", "out.txt"
    pod.start_sidecar()
    assert pod.hook().returncode == 0
    code, _, err = pod.run_step("ls", timeout=STEP_TIMEOUT)  # a:v1 pulled, b:v1 not pushed yet
    assert code == PULL_FAILED_EXIT and f"{repo}-b:v1" in err, err
    push_artifact(client, Reference(any_registry.host, f"{repo}-a", "v1"), [str(tmp_path / "new.txt")])
    seed(any_registry.host, f"{repo}-b:v1", tmp_path, "b\n")
    start_again(pod)
    code, _, err = pod.run_step("sh", "-c", "ls > out.txt", timeout=STEP_TIMEOUT)
    assert code == 0, err
    assert sorted((pod.workdir / "out.txt").read_text().split()) == ["new.txt", "out.txt", "seed.txt"]
