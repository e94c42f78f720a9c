"""Tier 1: a pod deleted after its step finished, while the push runs: the step's exit says what the
registry holds (docs/pod-protocol.md, "A pod deleted after its step").

On a pod's deletion the kubelet sends SIGTERM to the launcher first and stops a native sidecar only
once the launcher has ended (or at the end of the grace period, with SIGKILL before it). So the
wrapper is signalled while the sidecar still pushes, and the sidecar is signalled only when the
wrapper is gone. The tests signal the processes in that order; a proxy in front of the real
registry holds the push's check of its config blob, the last request before its manifest, for as
long as a test wants.
"""

from __future__ import annotations

import os
import signal
import subprocess

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.manifest import EMPTY_CONFIG_BLOB
from tests.agent.protocol import LocalPod, follow, wait_for
from tests.support.faulty_proxy import FaultyProxy

WAITING = "waiting for its push to end"


@pytest.fixture
def client(any_registry):
    return RegistryClient(any_registry.host, plain_http=True)


@pytest.fixture
def held(any_registry, repo):
    """A proxy that holds the push's last request before its manifest (the config blob's check)."""
    proxy = FaultyProxy(any_registry.host).start()
    proxy.add(lambda method, path: method == "HEAD" and path == f"/v2/{repo}/blobs/{EMPTY_CONFIG_BLOB.digest}", "hold")
    yield proxy
    proxy.stop()


@pytest.fixture
def pod(tmp_path, repo):
    made = []

    def make(registry: str) -> LocalPod:
        p = LocalPod(registry, tmp_path, output=f"{repo}:iter-0", output_path="out.txt")
        made.append(p)
        return p

    yield make
    for p in made:
        p.cleanup()


def test_sigterm_after_the_step_finished_does_not_stop_the_wait_for_its_verdict(any_registry, pod, client, repo):
    # no sidecar yet: the push is in flight for as long as the test wants
    local = pod(any_registry.host)
    assert local.init().returncode == 0
    step = local.launcher("sh", "-c", "echo result > out.txt")
    err = follow(step.stderr)
    wait_for(lambda: (local.share / "runs" / "1" / "done").exists())
    step.send_signal(signal.SIGTERM)  # the pod is deleted
    wait_for(lambda: err.has(WAITING) or err.ended)
    assert not err.ended, "".join(err.lines)  # it did not give up on the push
    local.start_sidecar()  # the sidecar, which the kubelet has not stopped yet, pushes
    assert step.wait(timeout=60) == 0, "".join(err.lines)
    assert (local.share / "runs" / "1" / "done").read_text().split(" ")[0] == "0"  # the code, then the run's token
    assert client.resolve(repo, "iter-0", what="check") is not None


def pushing(held: FaultyProxy, pod) -> tuple[LocalPod, subprocess.Popen]:
    """A step that finished, whose push has uploaded its layer and waits on the held request."""
    local = pod(held.host)
    assert local.init().returncode == 0
    local.start_sidecar()
    step = local.launcher("sh", "-c", "echo result > out.txt")
    wait_for(held.holding.is_set, timeout=60)  # the manifest is not put yet
    return local, step


def test_the_pod_deleted_mid_push_exits_0_once_the_tag_is_stored(held, pod, client, repo):
    local, step = pushing(held, pod)
    err = follow(step.stderr)
    step.send_signal(signal.SIGTERM)  # the launcher first, as the kubelet does
    wait_for(lambda: err.has(WAITING) or err.ended)
    assert not err.ended, "".join(err.lines)
    assert client.resolve(repo, "iter-0", what="check") is None
    held.let_go()
    assert step.wait(timeout=60) == 0, "".join(err.lines)
    assert (local.share / "runs" / "1" / "verdict").read_text().startswith(f"pushed {held.host}/{repo}:iter-0@")
    assert client.resolve(repo, "iter-0", what="check") is not None


def test_a_push_the_pods_end_cuts_tags_nothing(held, pod, client, repo):
    local, step = pushing(held, pod)
    os.killpg(step.pid, signal.SIGKILL)  # the grace period is over: the launcher is killed
    assert step.wait(timeout=10) == -signal.SIGKILL
    local.sidecar.send_signal(signal.SIGTERM)  # then the sidecar's turn
    held.let_go()  # the request it waited on is answered
    log, _ = local.sidecar.communicate(timeout=60)
    assert local.sidecar.returncode == 0, log
    verdict = (local.share / "runs" / "1" / "verdict").read_text()
    assert verdict.startswith(f"push-failed: pushing {held.host}/{repo}:iter-0: the pod is going away (SIGTERM): "
                              "stopped before its manifest; nothing was tagged"), verdict
    assert client.resolve(repo, "iter-0", what="check") is None
    assert not any(path.endswith("/manifests/iter-0") for _, path, _ in held.seen)


def test_a_signal_once_the_steps_code_is_decided_keeps_the_wait(any_registry, pod, client, repo):
    """A signal between the moment the wrapper settles the run's code and the moment `done` holds it
    (here while it clears a tree the step left at done.tmp) comes after the step finished: done says
    0 and the sidecar pushes, so the wrapper waits for the push instead of exiting 143 while the tag
    is then stored."""
    local = pod(any_registry.host)
    assert local.init().returncode == 0
    local.start_sidecar()
    plant = ("import os\nfor i in range(200):\n d = os.environ['KUBECTL_ORAS_SHARE_RUNS'] + f'/1/done.tmp/{i}'\n"
             " os.makedirs(d)\n"
             " for j in range(400): open(f'{d}/{j}', 'w').close()\n")
    step = local.launcher("sh", "-c", f"python3 -c \"{plant}\" && echo result > out.txt")
    err = follow(step.stderr)
    run = local.share / "runs" / "1"
    wait_for(lambda: (run / "wake").exists(), timeout=60)  # made just before the run's code is settled
    wait_for(lambda: not (run / "done.tmp").exists() or len(os.listdir(run / "done.tmp")) < 190, timeout=60)
    step.send_signal(signal.SIGTERM)  # the pod is deleted
    code = step.wait(timeout=60)
    assert (run / "done").exists(), "".join(err.lines)
    wait_for(lambda: (run / "verdict").exists(), timeout=60)
    in_done = (run / "done").read_text().split(" ")[0]
    stored = client.resolve(repo, "iter-0", what="check") is not None
    assert (code == 0) == stored == (in_done == "0"), (code, in_done, stored, "".join(err.lines))
    assert code == 0 and err.has(WAITING), "".join(err.lines)
