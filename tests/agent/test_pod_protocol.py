"""Tier 1: the whole pod protocol (pull init, wrapper, push sidecar) as processes, real registry."""

import json
import os
import signal
import sys

import pytest

from kubectl_oras.agent.tools import find_busybox
from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.pods.entrypoint import PLATFORM_ARGV_ENV, LauncherCommand
from tests.agent.protocol import LocalPod, wait_for
from tests.support.net import free_port
from tests.support.trees import make_tree, snapshot


@pytest.fixture
def client(any_registry):
    return RegistryClient(any_registry.host, plain_http=True)


@pytest.fixture
def pod(any_registry, tmp_path, repo):
    p = LocalPod(any_registry.host, tmp_path)
    yield p
    p.cleanup()


def pull_to(client, registry, name, dest):
    return pull_artifact(client, Reference(registry, *name.split(":")), str(dest))


def test_inputs_from_two_parents_and_file_and_directory_outputs(pod, client, any_registry, repo, tmp_path):
    parents = tmp_path / "parents"
    make_tree(parents / "sim")
    (parents / "metrics.json").write_text('{"loss": 0.1}')
    push_artifact(client, Reference(any_registry.host, f"{repo}-a", "iter-0"), [str(parents / "sim")])
    push_artifact(client, Reference(any_registry.host, f"{repo}-b", "iter-0"), [str(parents / "metrics.json")])
    pod.inputs = [f"{repo}-a:iter-0", f"{repo}-b:iter-0"]
    pod.output = f"{repo}-out:iter-0"
    pod.output_path = "report"
    init = pod.init()
    assert init.returncode == 0, init.stderr
    pod.start_sidecar()
    script = ("mkdir -p report && cp metrics.json report/ && ls sim > report/listing.txt "
              "&& cat sim/metrics.json > report/sim-metrics.json")
    code, out, err = pod.run_step("sh", "-c", script)
    assert code == 0, err
    assert pod.stop_sidecar()[0] == 0
    pulled = pull_to(client, any_registry.host, pod.output, tmp_path / "got")
    assert [f.title for f in pulled.files] == ["report"]
    report = tmp_path / "got" / "report"
    assert (report / "metrics.json").read_text() == '{"loss": 0.1}'
    assert "metrics.json" in (report / "listing.txt").read_text()
    assert snapshot(pod.workdir / "sim") == snapshot(parents / "sim")


def test_output_pipe_tees_stdout_to_a_file_that_is_pushed(pod, client, any_registry, repo, tmp_path):
    pod.output = f"{repo}:pipe"
    pod.output_path = pod.output_pipe = "pancakes.txt"  # as the predecessor's Job example
    assert pod.init().returncode == 0
    pod.start_sidecar()
    code, out, err = pod.run_step("echo", "blueberry")
    assert code == 0, err
    assert out == "blueberry\n"  # the log still shows it
    pull_to(client, any_registry.host, pod.output, tmp_path / "got")
    assert (tmp_path / "got" / "pancakes.txt").read_text() == "blueberry\n"


ARGV = ["two words", "it's \"quoted\"", "$HOME and $(not a command)", "line\nbreak", "*.txt", "", "-n", "back\\slash"]


def test_argv_reaches_the_step_exactly(pod, tmp_path):
    assert pod.init().returncode == 0
    (pod.workdir / "a.txt").write_text("glob bait")
    code, out, err = pod.run_step(sys.executable, "-c", "import json,sys; print(json.dumps(sys.argv[1:]))", *ARGV)
    assert code == 0, err
    assert json.loads(out) == ARGV


def test_a_failing_step_passes_its_code_through_and_pushes_nothing(pod, client, any_registry, repo):
    pod.output = f"{repo}:iter-0"
    pod.output_path = "out.txt"
    assert pod.init().returncode == 0
    pod.start_sidecar()
    code, _, err = pod.run_step("sh", "-c", "echo partial > out.txt; exit 3")
    assert code == 3
    assert client.resolve(repo, "iter-0", what="check") is None
    assert client.resolve(repo, "iter-0-failed", what="check") is None


def test_push_on_failure_sends_outputs_to_the_failed_tag_with_the_exit_code(pod, client, any_registry, repo):
    pod.output = f"{repo}:iter-0"
    pod.output_path = "out.txt"
    pod.push_on_failure = "failed-tag"
    assert pod.init().returncode == 0
    pod.start_sidecar()
    code, _, _ = pod.run_step("sh", "-c", "echo partial > out.txt; exit 4")
    assert code == 4
    assert client.resolve(repo, "iter-0", what="check") is None
    manifest, _, _ = client.fetch_manifest(repo, "iter-0-failed", what="check")
    assert manifest["annotations"]["dev.kubectl-oras.exit-code"] == "4"


def test_a_failed_push_fails_the_step(tmp_path, repo):
    pod = LocalPod(f"127.0.0.1:{free_port()}", tmp_path)  # nothing listens there
    pod.output = f"{repo}:iter-0"
    pod.output_path = "out.txt"
    assert pod.init().returncode == 0
    pod.start_sidecar(KUBECTL_ORAS_REGISTRY_WAIT="1s")  # the sidecar waits for a registry not up yet
    try:
        code, _, err = pod.run_step("sh", "-c", "echo result > out.txt", timeout=120)
        assert code != 0
        assert "push-failed" in err and "did not answer for 1 s (connection refused)" in err
    finally:
        pod.cleanup()


def test_a_missing_output_fails_a_successful_step(pod, client, repo):
    pod.output = f"{repo}:iter-0"
    pod.output_path = "never-written.txt"
    assert pod.init().returncode == 0
    pod.start_sidecar()
    code, _, err = pod.run_step("true")
    assert code == 1
    assert "never-written.txt does not exist" in err
    assert client.resolve(repo, "iter-0", what="check") is None


def test_sidecar_stopped_before_the_step_finishes_pushes_nothing(pod, client, repo):
    pod.output = f"{repo}:iter-0"
    pod.output_path = "out.txt"
    assert pod.init().returncode == 0
    pod.start_sidecar()
    step = pod.launcher("sh", "-c", "echo early > out.txt; exec sleep 30")
    wait_for(lambda: (pod.workdir / "out.txt").exists())
    code, _ = pod.stop_sidecar()
    assert code == 0
    step.send_signal(signal.SIGTERM)  # as the kubelet does to the container's PID 1; the wrapper forwards it
    _, err = step.communicate(timeout=10)
    assert step.returncode == 128 + signal.SIGTERM
    assert "not waiting for the push" in err
    assert client.resolve(repo, "iter-0", what="check") is None


def test_a_restarted_launcher_runs_the_protocol_again_cleanly(pod, client, any_registry, repo, tmp_path):
    pod.output = f"{repo}:iter-0"
    pod.output_path = "out.txt"
    assert pod.init().returncode == 0
    pod.start_sidecar()
    code, _, _ = pod.run_step("sh", "-c", "echo first > out.txt; exit 1")
    assert code == 1
    code, _, err = pod.run_step("sh", "-c", "echo second > out.txt")
    assert code == 0, err
    pull_to(client, any_registry.host, pod.output, tmp_path / "got")
    assert (tmp_path / "got" / "out.txt").read_text() == "second\n"
    code, _, err = pod.run_step("sh", "-c", "echo third > out.txt")
    assert code == 0, err
    pull_to(client, any_registry.host, pod.output, tmp_path / "got2")
    assert (tmp_path / "got2" / "out.txt").read_text() == "third\n"
    assert sorted(os.listdir(pod.share / "runs")) == ["1", "2", "3"]


def test_a_bad_input_reference_fails_the_init_container_with_one_line(pod, repo):
    pod.inputs = [f"{repo}-missing:iter-0"]
    init = pod.init()
    assert init.returncode == 1
    assert init.stderr.strip().count("\n") == 0 and "not found" in init.stderr


def test_a_launcher_running_as_another_user_gets_its_inputs_and_pushes(client, any_registry, repo, tmp_path):
    import shutil
    import tempfile
    from pathlib import Path

    root = Path(tempfile.mkdtemp(prefix="kubectl-oras-uid-"))  # pytest's own tmp is private to root
    root.chmod(0o755)
    pod = LocalPod(any_registry.host, root)
    try:
        parents = tmp_path / "parents"
        parents.mkdir()
        (parents / "tool.sh").write_text("#!/bin/sh\necho tool ran\n")
        push_artifact(client, Reference(any_registry.host, f"{repo}-in", "v1"), [str(parents / "tool.sh")])
        pod.inputs = [f"{repo}-in:v1"]
        pod.output = f"{repo}:v1"
        pod.output_path = "out.txt"
        assert pod.init().returncode == 0
        pod.start_sidecar()
        pod.workdir.chmod(0o777)
        # single-file layers carry no mode (as with the oras CLI): run it through sh
        proc = pod.launcher("sh", "-c", "sh tool.sh > out.txt", user=65534, group=65534)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 0, err
        assert "can't preserve" not in err
        pull_to(client, any_registry.host, pod.output, tmp_path / "got")
        assert (tmp_path / "got" / "out.txt").read_text() == "tool ran\n"
    finally:
        pod.cleanup()
        shutil.rmtree(root, ignore_errors=True)


def test_a_launcher_given_an_argv_per_platform_runs_its_own_through_the_whole_wrapper(pod, monkeypatch):
    """A launcher without a command whose image's platforms differ (docs/pod-protocol.md): the
    wrapper gets no argv but a line per platform, and runs the one of the machine it runs on."""
    goarch = {"x86_64": "amd64", "aarch64": "arm64"}[os.uname().machine]
    printer = (sys.executable, "-c", "import json,sys; print(json.dumps(sys.argv[1:]))")
    lines = LauncherCommand((), (("linux/s390x", ("/not/this/one",)), (f"linux/{goarch}", (*printer, *ARGV))))
    monkeypatch.setenv(PLATFORM_ARGV_ENV, lines.platform_lines())
    assert pod.init().returncode == 0
    code, out, err = pod.run_step()
    assert code == 0, err
    assert json.loads(out) == ARGV


@pytest.mark.parametrize(("machine", "platforms", "chosen"), [
    ("armv7l", ("linux/arm64", "linux/arm/v6", "linux/arm/v5"), "linux/arm/v6"),
    ("armv7l", ("linux/arm/v6", "linux/arm/v7"), "linux/arm/v7"),
    ("armv6l", ("linux/arm/v7", "linux/arm/v5"), "linux/arm/v5"),
    ("x86_64", ("linux/arm64", "linux/386"), "linux/386"),
    ("aarch64", ("linux/amd64", "linux/arm64"), "linux/arm64"),
    ("aarch64", ("linux/amd64", "linux/arm/v6", "linux/arm/v7"), "linux/arm/v7"),
])
def test_the_wrapper_takes_the_platform_containerd_would_run_on_its_node(pod, monkeypatch, tmp_path, machine,
                                                                           platforms, chosen):
    """An armv7 node runs an arm/v6 image when the index has no arm/v7 one (an arm64 node an arm
    one, an amd64 node a 386 one): containerd's choice, so the wrapper takes that platform's argv, not none."""
    real = find_busybox()
    fake = tmp_path / "busybox-on-another-machine"  # answers `uname -m` as that node's kernel would
    fake.write_text(f'#!/bin/sh\n[ "$1 $2" = "uname -m" ] && {{ echo {machine}; exit 0; }}\nexec {real} "$@"\n')
    fake.chmod(0o755)
    printer = (sys.executable, "-c", "import sys; print(sys.argv[1])")
    lines = LauncherCommand((), tuple((p, (*printer, p)) for p in platforms))
    monkeypatch.setenv(PLATFORM_ARGV_ENV, lines.platform_lines())
    assert pod.init(KUBECTL_ORAS_BUSYBOX=str(fake)).returncode == 0
    code, out, err = pod.run_step()
    assert code == 0, err
    assert out.strip() == chosen


def test_a_launcher_given_an_argv_per_platform_and_args_runs_its_platforms_words_then_the_args_exactly(pod, monkeypatch):
    """The pod's own args (as the kubelet expanded them: a quote, a newline, a `;`) come to the
    wrapper as its argv and follow its platform's words, each one word, run by no shell."""
    goarch = {"x86_64": "amd64", "aarch64": "arm64"}[os.uname().machine]
    printer = (sys.executable, "-c", "import json,sys; print(json.dumps(sys.argv[1:]))")
    lines = LauncherCommand(("it's; echo pwned", "line\nbreak", "$HOME", ""),
                            (("linux/s390x", ("/not/this/one",)), (f"linux/{goarch}", (*printer, "from the image"))))
    monkeypatch.setenv(PLATFORM_ARGV_ENV, lines.platform_lines())
    assert pod.init().returncode == 0
    code, out, err = pod.run_step(*lines.argv)
    assert code == 0, err
    assert json.loads(out) == ["from the image", *lines.argv]
