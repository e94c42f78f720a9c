"""Tier 1: the launcher's exit code says who failed the run (docs/pod-protocol.md, Exit codes): the
inputs could not be pulled (211), the outputs could not be pushed (212), or the step itself (its
own code, as before); the termination message says which, and a missing input's names the tags
there are."""

from __future__ import annotations

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.pods.annotations import PREFIX
from kubectl_oras.pods.share import PULL_FAILED_EXIT, PUSH_FAILED_EXIT
from tests.agent.protocol import LocalPod
from tests.support.net import free_port

STEP_TIMEOUT = 60


@pytest.fixture
def pod(any_registry, tmp_path):
    p = LocalPod(any_registry.host, tmp_path, runs_once=True)  # the shape a podFailurePolicy needs: restartPolicy Never
    yield p
    p.cleanup()


def push_tags(registry, repo, tags, tmp_path):
    client = RegistryClient(registry.host, plain_http=True)
    (tmp_path / "made").mkdir(exist_ok=True)
    (tmp_path / "made" / "x.txt").write_text("x\n")
    for tag in tags:
        push_artifact(client, Reference(registry.host, repo, tag), [str(tmp_path / "made" / "x.txt")])


def test_a_missing_input_exits_with_the_pull_code_and_its_message_lists_the_tags_there_are(pod, any_registry, repo,
                                                                                           tmp_path):
    push_tags(any_registry, repo, ["v0", "v2"], tmp_path)
    pod.inputs, pod.input_keys = [f"{repo}:v1"], [PREFIX + "input-uri"]
    pod.start_sidecar()
    assert pod.hook().returncode == 0
    code, out, err = pod.run_step("sh", "-c", "touch ran", timeout=STEP_TIMEOUT)
    assert code == PULL_FAILED_EXIT == 211, err
    assert not (pod.workdir / "ran").exists() and out == ""
    message = pod.termination_log.read_text()
    assert message.startswith("pull-failed: ") and message.count("\n") == 1, message
    before, _, listed = message.rstrip().rpartition(f"; tags in {repo}: ")  # in the registry's order
    assert before and sorted(listed.split(", ")) == ["v0", "v2"], message
    assert f"{repo}:v1" in message and "Traceback" not in err


def test_outputs_that_cannot_be_pushed_exit_with_the_push_code_saying_push_failed(tmp_path, repo):
    pod = LocalPod(f"127.0.0.1:{free_port()}", tmp_path, runs_once=True)  # nothing listens there
    pod.output, pod.output_path = f"{repo}:v1", "out.txt"
    try:
        pod.start_sidecar(KUBECTL_ORAS_REGISTRY_WAIT="1s")
        assert pod.hook().returncode == 0
        code, _, err = pod.run_step("sh", "-c", "echo result > out.txt", timeout=STEP_TIMEOUT)
        assert code == PUSH_FAILED_EXIT == 212, err
        message = pod.termination_log.read_text()
        assert message.startswith(f"push-failed: pushing 127.0.0.1:{pod.registry.split(':')[1]}/{repo}:v1: "), message
    finally:
        pod.cleanup()


@pytest.mark.parametrize("own", [1, 3, PULL_FAILED_EXIT])
def test_the_steps_own_failure_keeps_its_code_and_the_termination_message_is_not_ours(pod, any_registry, repo, own):
    pod.output, pod.output_path = f"{repo}:v1", "out.txt"
    pod.start_sidecar()
    assert pod.hook().returncode == 0
    code, _, err = pod.run_step("sh", "-c", f"echo half > out.txt; exit {own}", timeout=STEP_TIMEOUT)
    assert code == own, err
    assert not pod.termination_log.exists()  # nothing of ours to say: the step's own failure
    assert RegistryClient(any_registry.host, plain_http=True).resolve(repo, "v1", what="check") is None


def test_the_init_containers_failed_pull_exits_1_and_lists_the_tags_there_are(any_registry, repo, tmp_path):
    """Under OnFailure the kubelet runs a failed init container again (no podFailurePolicy there): its code stays 1."""
    push_tags(any_registry, repo, ["v0"], tmp_path)
    pod = LocalPod(any_registry.host, tmp_path, inputs=[f"{repo}:v1"], input_keys=[PREFIX + "input-uri"])
    init = pod.init()
    assert init.returncode == 1
    last = init.stderr.strip().splitlines()[-1]
    assert last.startswith("kubectl-oras pull: error: ") and last.endswith(f"; tags in {repo}: v0"), last
