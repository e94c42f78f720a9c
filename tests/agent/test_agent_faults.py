"""Tier 1: faults a step can meet in the pod protocol, as processes against a real registry.

Every failure of a run ends in a verdict the wrapper reports (it never waits forever), every
declared output is pushed or the step fails naming it, and links are resolved where the step
ran. The launcher runs as another uid where permissions matter (as in a real pod); the sidecar
always runs without root's permission bypasses (tests/agent/protocol.py).
"""

import os
import shutil
import signal
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.pods.share import PUSH_FAILED_EXIT
from tests.agent.protocol import LocalPod, wait_for
from tests.support.registries import start_registry
from tests.support.token_service import TokenService

NOBODY = 65534
STEP_TIMEOUT = 30  # a wrapper that waits for a verdict that never comes fails the test here


@pytest.fixture
def client(any_registry):
    return RegistryClient(any_registry.host, plain_http=True)


@pytest.fixture
def pod(any_registry, tmp_path):
    p = LocalPod(any_registry.host, tmp_path)
    yield p
    p.cleanup()


@pytest.fixture
def shared_pod(any_registry):
    """A pod whose share and working directory another uid can use (pytest's tmp is private to root)."""
    root = Path(tempfile.mkdtemp(prefix="kubectl-oras-uid-"))
    root.chmod(0o755)
    p = LocalPod(any_registry.host, root)
    yield p
    p.cleanup()
    shutil.rmtree(root, ignore_errors=True)


def pull_to(client, registry, name, dest):
    return pull_artifact(client, Reference(registry, *name.split(":")), str(dest))


def as_nobody(**popen):
    return dict(user=NOBODY, group=NOBODY, umask=0o077, **popen)


# -- 1. every failure is a verdict; outputs of any uid and mode are pushed ---------------------------


@pytest.mark.parametrize("script, output_path, output_pipe, expected", [
    ("echo private > out.txt", "out.txt", "", {"out.txt": "private\n"}),
    ("mkdir -p results/sub && echo a > results/a.txt && echo b > results/sub/b.txt && echo piped",
     "results", "log.txt", {"results/a.txt": "a\n", "results/sub/b.txt": "b\n", "log.txt": "piped\n"}),
], ids=["0600-file", "0700-directory-and-pipe"])
def test_outputs_a_launcher_of_another_uid_keeps_to_itself_are_pushed(shared_pod, client, any_registry, repo, tmp_path,
                                                                      script, output_path, output_pipe, expected):
    pod = shared_pod
    pod.output = f"{repo}:v1"
    pod.output_path, pod.output_pipe = output_path, output_pipe
    assert pod.init().returncode == 0
    pod.start_sidecar()
    pod.workdir.chmod(0o777)
    code, _, err = pod.run_step("sh", "-c", script, timeout=STEP_TIMEOUT, **as_nobody())
    assert code == 0, err
    assert oct((pod.workdir / output_path).stat().st_mode & 0o777) in ("0o600", "0o700")  # the fault was fed
    pull_to(client, any_registry.host, pod.output, tmp_path / "got")
    for rel, content in expected.items():
        assert (tmp_path / "got" / rel).read_text() == content


def forge_run(pod: LocalPod, *, done: str, outputs: dict[str, str]) -> Path:
    """A run directory as a launcher could leave it (the share is writable to the step)."""
    run = pod.share / "runs" / "1"
    (run / "outputs").mkdir(parents=True)
    for name, content in outputs.items():
        (run / "outputs" / name).write_text(content)
    (run / "done").write_text(done)
    return run


def unreadable_to_the_sidecar(run: Path) -> None:
    secret = run / "outputs" / "out.txt"
    os.chown(secret, NOBODY, NOBODY)
    secret.chmod(0o600)


@pytest.mark.parametrize("done, spoil, reason", [
    ("oops\n", None, "'oops'"),
    ("0\n", unreadable_to_the_sidecar, "out.txt"),
], ids=["done-is-not-an-exit-code", "output-unreadable"])
def test_an_error_the_sidecar_does_not_expect_is_a_verdict_and_it_serves_the_next_run(
        pod, client, any_registry, repo, tmp_path, done, spoil, reason):
    pod.output = f"{repo}:v1"
    pod.output_path = "out.txt"
    assert pod.init().returncode == 0
    forged = forge_run(pod, done=done, outputs={"out.txt": "forged\n"})
    if spoil:
        spoil(forged)
    pod.start_sidecar()
    wait_for(lambda: (forged / "verdict").exists())
    verdict = (forged / "verdict").read_text()
    assert verdict.startswith("push-failed: ") and reason in verdict and "Traceback" not in verdict
    assert pod.sidecar.poll() is None  # still serving
    code, _, err = pod.run_step("sh", "-c", "echo real > out.txt", timeout=STEP_TIMEOUT)
    assert code == 0, err
    pull_to(client, any_registry.host, pod.output, tmp_path / "got")
    assert (tmp_path / "got" / "out.txt").read_text() == "real\n"
    # Restarted, the sidecar finds every run answered: nothing is tried again (no crash loop).
    assert pod.stop_sidecar()[0] == 0
    pod.start_sidecar()
    code, log = pod.stop_sidecar()
    assert code == 0 and "push-failed" not in log and "pushed" not in log, log


class ListAnsweringTokenService:
    """A token service that answers every request with a JSON list instead of {"token": …}."""

    def __init__(self, port: int) -> None:
        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"[]")

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def test_a_token_service_answering_a_list_fails_the_step_naming_the_service(tmp_path, repo):
    tokens = TokenService(tmp_path, user="u", password="p")  # its signing certificate and realm; never started
    fake = ListAnsweringTokenService(tokens.port)
    registry = start_registry("distribution-2.8", auth=tokens.registry_auth_config())
    pod = LocalPod(registry.host, tmp_path / "pod")
    try:
        pod.output = f"{repo}:v1"
        pod.output_path = "out.txt"
        assert pod.init().returncode == 0
        pod.start_sidecar(ORAS_USER="u", ORAS_PUSH_PASS="p")
        code, _, err = pod.run_step("sh", "-c", "echo result > out.txt", timeout=STEP_TIMEOUT)
        assert code == PUSH_FAILED_EXIT
        assert "push-failed" in err and tokens.realm in err and "Traceback" not in err
        assert pod.sidecar.poll() is None
    finally:
        pod.cleanup()
        registry.stop()
        fake.stop()


# -- 2. every declared output is pushed, or the step fails naming it ---------------------------------


def test_two_outputs_with_the_same_name_fail_the_step_naming_both(pod, client, repo):
    pod.output = f"{repo}:v1"
    pod.output_path, pod.output_pipe = "results/log.txt", "log.txt"
    assert pod.init().returncode == 0
    pod.start_sidecar()
    code, _, err = pod.run_step("sh", "-c", "mkdir results && echo inner > results/log.txt && echo piped",
                                timeout=STEP_TIMEOUT)
    assert code == 1
    line = next(x for x in err.splitlines() if "results/log.txt" in x)
    assert "output-path" in line and "output-pipe" in line and "log.txt" in line.replace("results/log.txt", "")
    assert client.resolve(repo, "v1", what="check") is None


@pytest.mark.parametrize("output_pipe", ["", "log.txt"], ids=["alone", "with-output-pipe"])
def test_output_path_dot_pushes_the_working_directory(pod, client, any_registry, repo, tmp_path, output_pipe):
    pod.output = f"{repo}:v1"
    pod.output_path, pod.output_pipe = ".", output_pipe
    assert pod.init().returncode == 0
    pod.start_sidecar()
    code, _, err = pod.run_step("sh", "-c", "mkdir sub && echo a > a.txt && echo b > sub/b.txt && echo piped",
                                timeout=STEP_TIMEOUT)
    assert code == 0, err
    pulled = pull_to(client, any_registry.host, pod.output, tmp_path / "got")
    titles = sorted(f.title for f in pulled.files)
    assert titles == sorted(["work", *([output_pipe] if output_pipe else [])])
    got = tmp_path / "got"
    assert (got / "work" / "a.txt").read_text() == "a\n" and (got / "work" / "sub" / "b.txt").read_text() == "b\n"
    if output_pipe:
        assert (got / "log.txt").read_text() == "piped\n"


# -- 3. paths starting with '-' are paths ------------------------------------------------------------


def test_paths_starting_with_a_dash_are_paths_not_options(pod, client, any_registry, repo, tmp_path):
    (tmp_path / "tool.txt").write_text("a tool\n")
    push_artifact(client, Reference(any_registry.host, f"{repo}-in", "v1"), [str(tmp_path / "tool.txt")])
    pod.inputs = [f"{repo}-in:v1"]
    pod.output = f"{repo}:v1"
    pod.input_path, pod.output_path, pod.output_pipe = "-p", "-results", "-log"
    assert pod.init().returncode == 0
    pod.start_sidecar()
    code, _, err = pod.run_step("sh", "-c", "mkdir ./-results && cp ./-p/tool.txt ./-results/ && echo piped",
                                timeout=STEP_TIMEOUT)
    assert code == 0, err
    pull_to(client, any_registry.host, pod.output, tmp_path / "got")
    assert (tmp_path / "got" / "-results" / "tool.txt").read_text() == "a tool\n"
    assert (tmp_path / "got" / "-log").read_text() == "piped\n"


# -- 4. links: resolved in the launcher's filesystem, refused when they leave an output --------------


def test_a_relative_symlink_output_pushes_what_it_points_to(pod, client, any_registry, repo, tmp_path):
    pod.output = f"{repo}:v1"
    pod.output_path = "out.txt"
    assert pod.init().returncode == 0
    pod.start_sidecar()
    code, _, err = pod.run_step("sh", "-c", "mkdir data && echo real > data/real.txt && ln -s data/real.txt out.txt",
                                timeout=STEP_TIMEOUT)
    assert code == 0, err
    pull_to(client, any_registry.host, pod.output, tmp_path / "got")
    got = tmp_path / "got" / "out.txt"
    assert not got.is_symlink() and got.read_text() == "real\n"


def test_an_absolute_symlink_output_is_resolved_in_the_launchers_filesystem(pod, client, any_registry, repo, tmp_path):
    """The launcher runs in a mount namespace of its own, as a container does: the path the link
    names holds one file there and another in the sidecar's view."""
    view = tmp_path / "view"
    view.mkdir()
    (view / "data").write_text("the sidecar's file\n")
    pod.output = f"{repo}:v1"
    pod.output_path = "out.txt"
    assert pod.init().returncode == 0
    pod.start_sidecar()
    script = f"mount -t tmpfs none {view} && echo \"the launcher's file\" > {view}/data && ln -s {view}/data out.txt"
    code, _, err = pod.run_step("sh", "-c", script, timeout=STEP_TIMEOUT,
                                prefix=("unshare", "--mount", "--propagation", "private"))
    assert code == 0, err
    assert (view / "data").read_text() == "the sidecar's file\n"  # the two views did differ
    pull_to(client, any_registry.host, pod.output, tmp_path / "got")
    assert (tmp_path / "got" / "out.txt").read_text() == "the launcher's file\n"


@pytest.mark.parametrize("link, target", [("abs", "/etc/hostname"), ("up", "../outside.txt")])
def test_a_link_out_of_an_output_directory_fails_the_producer_naming_it(pod, client, repo, link, target):
    pod.output = f"{repo}:v1"
    pod.output_path = "results"
    assert pod.init().returncode == 0
    pod.start_sidecar()
    script = f"mkdir results && echo x > results/data.txt && ln -s data.txt results/latest && ln -s {target} results/{link}"
    code, _, err = pod.run_step("sh", "-c", script, timeout=STEP_TIMEOUT)
    assert code == PUSH_FAILED_EXIT
    line = next(x for x in err.splitlines() if "push-failed" in x)
    assert f"results/{link}" in line and target in line and "results/latest" not in line
    assert client.resolve(repo, "v1", what="check") is None


def test_the_sidecar_never_follows_a_link_in_the_share(pod, client, repo, tmp_path):
    """A step can write the share: a run it forges must not make the sidecar push its own files."""
    private = tmp_path / "sidecar-only"
    private.mkdir()
    (private / "credentials").write_text("ORAS_PUSH_PASS=hunter2\n")
    pod.output = f"{repo}:v1"
    pod.output_path = "out.txt"
    assert pod.init().returncode == 0
    run = forge_run(pod, done="0\n", outputs={})
    (run / "outputs" / "out.txt").symlink_to(private / "credentials")
    pod.start_sidecar()
    wait_for(lambda: (run / "verdict").exists())
    verdict = (run / "verdict").read_text()
    assert verdict.startswith("push-failed: ") and "out.txt" in verdict and "link" in verdict
    assert client.resolve(repo, "v1", what="check") is None


# -- 5. inputs never replace the step's own files unless asked ---------------------------------------


@pytest.fixture
def clashing_input(pod, client, any_registry, repo, tmp_path):
    """An input holding run.sh, and a working directory whose own run.sh the step runs."""
    (tmp_path / "run.sh").write_text("echo theirs\n")
    push_artifact(client, Reference(any_registry.host, f"{repo}-in", "v1"), [str(tmp_path / "run.sh")])
    pod.inputs = [f"{repo}-in:v1"]
    assert pod.init().returncode == 0
    (pod.workdir / "run.sh").write_text("echo mine\n")
    return pod


def test_an_input_does_not_replace_the_steps_own_file(clashing_input):
    pod = clashing_input
    code, out, err = pod.run_step("sh", "run.sh", timeout=STEP_TIMEOUT)
    assert code == 1
    assert out == ""  # the step did not run
    line = next(x for x in err.splitlines() if "run.sh" in x)
    assert "input-overwrite" in line
    assert (pod.workdir / "run.sh").read_text() == "echo mine\n"


def test_an_input_replaces_the_steps_file_when_asked_and_says_so(clashing_input):
    pod = clashing_input
    pod.input_overwrite = True
    code, out, err = pod.run_step("sh", "run.sh", timeout=STEP_TIMEOUT)
    assert code == 0, err
    assert out == "theirs\n"
    assert any("replaced" in x and "run.sh" in x for x in err.splitlines()), err


def test_an_input_equal_to_the_file_in_place_is_no_replacement(clashing_input):
    pod = clashing_input  # e.g. a launcher restarted with its working directory on a volume
    (pod.workdir / "run.sh").write_text("echo theirs\n")
    code, out, err = pod.run_step("sh", "run.sh", timeout=STEP_TIMEOUT)
    assert code == 0, err
    assert out == "theirs\n" and "replaced" not in err


# -- 6. the share is writable to the step: nothing the sidecar opens there is trusted ----------------


def forge_done(kind: str):
    def forge(done: Path) -> None:
        if kind == "fifo":
            os.mkfifo(done)
        else:
            done.symlink_to("/dev/zero")
    return forge


@pytest.mark.parametrize("kind, reason", [("fifo", "fifo"), ("link-to-dev-zero", "symbolic link")])
def test_a_done_marker_that_is_no_file_is_a_verdict_and_the_next_run_is_served(pod, client, any_registry, repo,
                                                                              tmp_path, kind, reason):
    pod.output = f"{repo}:v1"
    pod.output_path = "out.txt"
    assert pod.init().returncode == 0
    forged = pod.share / "runs" / "1"
    (forged / "outputs").mkdir(parents=True)
    forge_done(kind)(forged / "done")
    pod.start_sidecar()
    wait_for(lambda: (forged / "verdict").exists())
    verdict = (forged / "verdict").read_text()
    assert verdict.startswith("push-failed: ") and "done marker" in verdict and reason in verdict, verdict
    code, _, err = pod.run_step("sh", "-c", "echo real > out.txt", timeout=10)  # the genuine run gets its verdict
    assert code == 0, err
    pull_to(client, any_registry.host, pod.output, tmp_path / "got")
    assert (tmp_path / "got" / "out.txt").read_text() == "real\n"


def test_the_sidecar_writes_its_verdict_through_no_link_the_step_planted(pod, repo, tmp_path):
    victim = tmp_path / "sidecar-own-file"
    victim.write_text("the sidecar's own file\n")
    pod.output = f"{repo}:v1"
    pod.output_path = "out.txt"
    assert pod.init().returncode == 0
    run = forge_run(pod, done="1\n", outputs={})
    (run / "verdict.tmp").symlink_to(victim)
    (run / "wake").symlink_to(victim)
    pod.start_sidecar()
    wait_for(lambda: (run / "verdict").exists())
    assert victim.read_text() == "the sidecar's own file\n"
    assert not (run / "verdict").is_symlink() and (run / "verdict").read_text().startswith("not-pushed: ")


def test_an_outputs_directory_that_is_a_link_is_refused(pod, client, repo, tmp_path):
    private = tmp_path / "sidecar-only"
    private.mkdir()
    (private / "credentials").write_text("ORAS_PUSH_PASS=hunter2\n")
    pod.output = f"{repo}:v1"
    pod.output_path = "credentials"
    assert pod.init().returncode == 0
    run = pod.share / "runs" / "1"
    run.mkdir(parents=True)
    (run / "outputs").symlink_to(private)
    (run / "done").write_text("0\n")
    pod.start_sidecar()
    wait_for(lambda: (run / "verdict").exists())
    verdict = (run / "verdict").read_text()
    assert verdict.startswith("push-failed: ") and "outputs directory" in verdict and "link" in verdict, verdict
    assert client.resolve(repo, "v1", what="check") is None


# -- 7. a step's leftovers and signals never hang the wrapper nor push a partial log -----------------


def test_a_background_process_holding_stdout_does_not_hang_the_wrapper(pod, client, any_registry, repo, tmp_path):
    pod.output = f"{repo}:v1"
    pod.output_pipe = "log.txt"
    assert pod.init().returncode == 0
    pod.start_sidecar()
    code, out, err = pod.run_step("sh", "-c", "sleep 60 2>/dev/null & echo hi", timeout=10)
    assert code == 0, err
    assert out == "hi\n" and "still held open" in err and "log.txt" in err
    pull_to(client, any_registry.host, pod.output, tmp_path / "got")
    assert (tmp_path / "got" / "log.txt").read_text() == "hi\n"


@pytest.mark.parametrize("step", [
    # SIGTERM while the wrapper waits for tee (a leftover process holds the step's stdout)
    "echo hi; sleep 60 2>/dev/null & touch ended",
    # SIGTERM forwarded to a step that then exits 0
    "trap 'echo bye; exit 0' TERM; echo hi; touch ended; sleep 60 >/dev/null 2>&1 & wait",
], ids=["while-waiting-for-tee", "step-exits-0-on-sigterm"])
def test_a_wrapper_stopped_by_sigterm_never_reports_success(pod, client, repo, step):
    pod.output = f"{repo}:v1"
    pod.output_pipe = "log.txt"
    assert pod.init().returncode == 0
    pod.start_sidecar()
    proc = pod.launcher("sh", "-c", step)
    wait_for(lambda: (pod.workdir / "ended").exists())
    proc.send_signal(signal.SIGTERM)  # the wrapper only, as the kubelet does to a container's first process
    _, err = proc.communicate(timeout=10)
    assert proc.returncode == 143, err
    run = pod.share / "runs" / "1"
    wait_for(lambda: (run / "verdict").exists())
    assert (run / "done").read_text().split()[0] == "143"  # the exit code, then the run's token
    assert client.resolve(repo, "v1", what="check") is None  # nothing partial under the success tag


def test_output_path_dot_dot_through_a_link_is_named_after_the_directory_copied(pod, client, any_registry, repo,
                                                                                tmp_path):
    pod.output = f"{repo}:v1"
    pod.output_path = "sub/.."
    assert pod.init().returncode == 0
    pod.start_sidecar()
    script = "mkdir -p real/inner && echo r > real/r.txt && ln -s real/inner sub"
    code, _, err = pod.run_step("sh", "-c", script, timeout=STEP_TIMEOUT)
    assert code == 0, err
    pulled = pull_to(client, any_registry.host, pod.output, tmp_path / "got")
    assert [f.title for f in pulled.files] == ["real"]
    assert (tmp_path / "got" / "real" / "r.txt").read_text() == "r\n"


def test_a_push_to_a_registry_that_only_drips_ends_within_the_steps_timeout(dripping_registry, tmp_path, repo):
    pod = LocalPod(dripping_registry, tmp_path, output=f"{repo}:v1", output_path="out.txt", timeout=2)
    try:
        assert pod.init().returncode == 0
        pod.start_sidecar()
        started = time.monotonic()
        code, _, err = pod.run_step("sh", "-c", "echo result > out.txt", timeout=60)
        assert code == PUSH_FAILED_EXIT and "verdict: push-failed" in err
        # Its every answer is a 200 whose body drips: the push ends at its 2 s, by the timeout or
        # by the manifest's PUT answered 200 (its body read no longer than the time left).
        assert "not done within the 2 s its timeout allows" in err or "registry answered 200 OK" in err, err
        assert time.monotonic() - started < 30
    finally:
        pod.cleanup()
