"""Ctrl-C and SIGTERM end a transfer at once (it took 203 s while downloads were in flight), and
leave nothing partial: no staging directory or file in the output directory, no temporary
archive, no tag pushed."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.pull import STAGING_PREFIX
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from tests.support.faulty_proxy import FaultyProxy
from tests.support.tools import interruptible

KUBECTL_ORAS = [sys.executable, "-m", "kubectl_oras"]
EXIT_WITHIN = 10  # seconds: generous for a loaded machine; the old code took minutes


@pytest.fixture
def stalling(any_registry):
    proxy = FaultyProxy(any_registry.host).start()
    yield proxy
    proxy.stop()


def wait_until(predicate, what: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"never happened: {what}")


def start(*args: str, tmpdir: Path) -> subprocess.Popen:
    return subprocess.Popen([*KUBECTL_ORAS, *args], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env=dict(os.environ, TMPDIR=str(tmpdir)), preexec_fn=interruptible)


def stop(proc: subprocess.Popen, sig: int) -> str:
    """Send ``sig``; the command's stderr once it has exited (a failure if it does not, soon)."""
    proc.send_signal(sig)
    try:
        return proc.communicate(timeout=EXIT_WITHIN)[1]
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.communicate()
        pytest.fail(f"still running {EXIT_WITHIN} s after signal {sig}")


@pytest.mark.parametrize("sig, code", [(signal.SIGINT, 130), (signal.SIGTERM, 143)])
def test_a_signal_ends_a_pull_in_flight_at_once_and_leaves_nothing(any_registry, stalling, repo, tmp_path, sig, code):
    (tmp_path / "big.bin").write_bytes(os.urandom(8 << 20))
    (tmp_path / "small.txt").write_text("small")
    client = RegistryClient(any_registry.host, plain_http=True)
    pushed = push_artifact(client, Reference(any_registry.host, repo, "v1"),
                           [str(tmp_path / "big.bin"), str(tmp_path / "small.txt")])
    big = next(layer.digest for layer in pushed.layers if layer.size == 8 << 20)
    stalling.add(lambda m, p: m == "GET" and p.endswith(big), "stall", 1 << 20, times=10)
    out = tmp_path / "out"
    (tmp_path / "tmp").mkdir()
    proc = start("pull", f"{repo}:v1", "-r", stalling.host, "--plain-http", "--read-timeout", "5m", "-o", str(out),
                 tmpdir=tmp_path / "tmp")
    # In flight: the staging directory holds the first MiB of the big blob, and the rest never comes.
    wait_until(lambda: any(f.stat().st_size >= 1 << 20 for d in out.glob(STAGING_PREFIX + "*") for f in d.iterdir()),
               "the download started")
    err = stop(proc, sig)
    assert proc.returncode == code
    assert err.strip() == "error: interrupted"
    assert list(out.iterdir()) == []  # no staging directory, no file placed
    assert list((tmp_path / "tmp").iterdir()) == []


def test_ctrl_c_ends_a_push_in_flight_at_once_and_pushes_no_tag(any_registry, stalling, repo, tmp_path):
    (tmp_path / "results").mkdir()
    (tmp_path / "results" / "data.bin").write_bytes(os.urandom(2 << 20))
    (tmp_path / "tmp").mkdir()
    stalling.add(lambda m, p: m in ("PUT", "PATCH") and "/blobs/uploads/" in p, "stall", times=10)
    proc = start("push", f"{repo}:v1", str(tmp_path / "results"), "-r", stalling.host, "--plain-http",
                 "--read-timeout", "5m", tmpdir=tmp_path / "tmp")
    wait_until(lambda: any(code == 0 for _, _, code in stalling.seen), "the upload reached the registry")
    err = stop(proc, signal.SIGINT)
    assert proc.returncode == 130
    assert err.strip() == "error: interrupted"
    assert list((tmp_path / "tmp").iterdir()) == []  # the directory's temporary archive is gone
    assert RegistryClient(any_registry.host, plain_http=True).resolve(repo, "v1", what="check") is None
