"""Tier 1: the agent waits, bounded and saying so, for a registry that does not answer yet (a
cache created with the workflow), as processes against real registries."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference, is_fallback_tag
from kubectl_oras.pods.share import Share
from tests.agent.protocol import LocalPod
from tests.support.faulty_proxy import FaultyProxy
from tests.support.net import free_port
from tests.support.registries import IMAGE_CONFIG, RegistryProcess, start_with_environment

LATE = 3.0  # seconds before the registry starts


def start_on(port: int, root) -> RegistryProcess:
    """distribution v3 on a port of our choosing, its data in ``root`` (kept across restarts)."""
    return start_with_environment("distribution-3", IMAGE_CONFIG, {
        "REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}", "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(root / "data"),
        "REGISTRY_LOG_LEVEL": "warn", "OTEL_TRACES_EXPORTER": "none"}, root)


def later(seconds: float, start):
    """Run ``start`` in ``seconds``; the thread's ``result`` holds what it returned."""
    box: dict = {}

    def run() -> None:
        time.sleep(seconds)
        box["result"] = start()

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, box


@pytest.fixture
def stored(tmp_path):
    """An artifact in a registry's storage, the registry stopped: (port, root, input name)."""
    port, root = free_port(), tmp_path / "registry"
    registry = start_on(port, root)
    try:
        (tmp_path / "input.txt").write_text("from an earlier step\n")
        push_artifact(RegistryClient(registry.host, plain_http=True), Reference(registry.host, "wf/a", "iter-0"),
                      [str(tmp_path / "input.txt")])
    finally:
        registry.stop()
    return port, root, "wf/a:iter-0"


def test_the_pull_waits_for_a_registry_that_starts_late(stored, tmp_path):
    port, root, name = stored
    pod = LocalPod(f"127.0.0.1:{port}", tmp_path / "pod", inputs=[name])
    thread, box = later(LATE, lambda: start_on(port, root))
    try:
        started = time.monotonic()
        init = pod.init()
        took = time.monotonic() - started
    finally:
        thread.join()
        box["result"].stop()
    assert init.returncode == 0, init.stderr
    assert (pod.share / "inputs" / "input.txt").read_text() == "from an earlier step\n"
    assert f"waiting for registry 127.0.0.1:{port} to answer (connection refused); giving up in 5 min" in init.stderr
    assert f"registry 127.0.0.1:{port} answered after" in init.stderr
    assert LATE - 0.5 < took < LATE + 10


def test_the_pull_gives_up_at_the_bound_with_one_line(tmp_path):
    port = free_port()  # nothing will listen there
    pod = LocalPod(f"127.0.0.1:{port}", tmp_path, inputs=["wf/a:iter-0"])
    started = time.monotonic()
    init = pod.init(KUBECTL_ORAS_REGISTRY_WAIT="3s")
    took = time.monotonic() - started
    assert init.returncode == 1
    last = init.stderr.strip().splitlines()[-1]
    assert last == (f"kubectl-oras pull: error: pull wf/a:iter-0: registry 127.0.0.1:{port} did not answer for 3 s "
                    "(connection refused); gave up (set KUBECTL_ORAS_REGISTRY_WAIT to wait longer)")
    assert "giving up in 3 s" in init.stderr
    assert 3 <= took < 10


def test_a_bound_that_is_not_a_duration_is_named(tmp_path):
    pod = LocalPod(f"127.0.0.1:{free_port()}", tmp_path, inputs=["wf/a:iter-0"])
    init = pod.init(KUBECTL_ORAS_REGISTRY_WAIT="five minutes")
    assert init.returncode == 1
    assert init.stderr.strip() == ("kubectl-oras pull: error: KUBECTL_ORAS_REGISTRY_WAIT: 'five minutes' is not a "
                                   "duration (write e.g. 90, 90s, 5m, 1h30m)")


def test_the_pull_waits_out_a_registry_answering_503(stored, tmp_path):
    port, root, name = stored
    registry = start_on(port, root)
    proxy = FaultyProxy(registry.host).start()
    proxy.add(lambda method, path: path == "/v2/", "status", 503, times=5)
    try:
        init = LocalPod(proxy.host, tmp_path / "pod", inputs=[name]).init()
    finally:
        proxy.stop()
        registry.stop()
    assert init.returncode == 0, init.stderr
    assert f"waiting for registry {proxy.host} to answer (it answers 503 Service Unavailable)" in init.stderr
    assert f"registry {proxy.host} answered after" in init.stderr
    assert [seen[:2] for seen in proxy.seen[:6]] == [("GET", "/v2/")] * 6


def test_the_pull_never_waits_longer_than_the_steps_timeout(tmp_path):
    port = free_port()
    pod = LocalPod(f"127.0.0.1:{port}", tmp_path, inputs=["wf/a:iter-0"], timeout=2)
    init = pod.init()
    assert init.returncode == 1
    assert (f"registry 127.0.0.1:{port} did not answer for 2 s (connection refused); gave up (the step's timeout)"
            in init.stderr)


def test_a_registry_that_answers_at_once_is_not_mentioned(stored, tmp_path):
    port, root, name = stored
    registry = start_on(port, root)
    try:
        init = LocalPod(registry.host, tmp_path / "pod", inputs=[name]).init()
    finally:
        registry.stop()
    assert init.returncode == 0, init.stderr
    assert "waiting" not in init.stderr


def imports_of(pod: LocalPod, command: str) -> set[str]:
    """The modules one run of the agent's ``command`` loads (it must succeed)."""
    pod.share.mkdir(parents=True, exist_ok=True)
    r = subprocess.run([sys.executable, "-X", "importtime", "-m", "kubectl_oras.agent", command], env=pod.env(),
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr
    assert "waiting" not in r.stderr
    return {line.rsplit("|", 1)[-1].strip() for line in r.stderr.splitlines() if line.startswith("import time:")}


@pytest.mark.parametrize("command", ["pull", "prepare"], ids=["init container", "sidecar hook"])
def test_a_pull_with_no_inputs_neither_waits_nor_loads_the_http_stack(tmp_path, command):
    """Both run before the launcher can start: neither may load what it does not need."""
    pod = LocalPod(f"127.0.0.1:{free_port()}", tmp_path)  # nothing listens: nothing is asked of it
    imported = imports_of(pod, command)
    assert ("kubectl_oras.agent.pull_in_sidecar" if command == "prepare" else "kubectl_oras.agent.inputs") in imported
    assert not {"requests", "urllib3", "kubectl_oras.oci.transport"} & imported


def test_the_sidecar_hook_loads_nothing_of_the_pull(tmp_path):
    """The kubelet starts the launcher only once the hook has returned: it installs the tools and
    loads neither the pull (annotations, patterns, references, provenance) nor the HTTP stack."""
    pod = LocalPod(f"127.0.0.1:{free_port()}", tmp_path, runs_once=True)
    imported = imports_of(pod, "prepare")
    assert not {"kubectl_oras.agent.inputs", "kubectl_oras.pods.annotations", "kubectl_oras.oci.reference"} & imported
    share = Share(str(pod.share))
    assert os.access(share.busybox, os.X_OK) and os.access(share.wrapper, os.X_OK)


def test_the_push_sidecar_waits_for_a_registry_that_starts_late(tmp_path):
    port, root = free_port(), tmp_path / "registry"
    pod = LocalPod(f"127.0.0.1:{port}", tmp_path / "pod", output="wf/b:iter-0", output_path="out.txt")
    assert pod.init().returncode == 0
    pod.start_sidecar()
    thread, box = later(LATE, lambda: start_on(port, root))
    try:
        code, _, err = pod.run_step("sh", "-c", "echo result > out.txt", timeout=60)
        thread.join()
        registry = box["result"]
        try:
            assert code == 0, err
            tags = RegistryClient(registry.host, plain_http=True).list_tags("wf/b")
            assert [tag for tag in tags if not is_fallback_tag(tag)] == ["iter-0"]  # and its provenance's index
        finally:
            registry.stop()
        _, log = pod.stop_sidecar()
    finally:
        thread.join()
        pod.cleanup()
    assert f"waiting for registry 127.0.0.1:{port} to answer (connection refused)" in log
    assert "1: pushed" in log
