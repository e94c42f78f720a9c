"""The registry container's supervisor (controller/core/registry_supervisor.py), run as the pod runs
it: `sh -c SCRIPT` around a real registry binary named `registry` on PATH, with the official
image's config file (in-memory blob descriptor cache on) and the REGISTRY_* environment.

Retention deletes tags, the controller's marker asks for reclamation, and meanwhile a client keeps
pushing: every push succeeds, every kept artifact pulls byte for byte, and the storage shrinks by
the deleted artifacts' size.
"""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import threading
import time
from pathlib import Path

import pytest

from controller.core.registry_supervisor import SUPERVISOR
from controller.runtime.retention import request_reclaim
from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.retention.choice import Policy, choose
from kubectl_oras.retention.registry import DELETED, delete_chosen, delete_mode, scan
from tests.support.net import free_port, wait_listening
from tests.support.registries import IMAGE_CONFIG, KINDS
from tests.support.tools import debian_registry, distribution_v3

MIB = 1 << 20


def disk_usage(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file())


class Supervised:
    def __init__(self, kind: str, directory: Path, *, pause: int = 60, full_percent: int = 90,
                 registry_binary: str | None = None, keep: bool = False) -> None:
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.data = directory / "data"
        bin_dir = directory / "bin"
        # a second start on the same storage (keep: a container restarted) keeps what is there
        bin_dir.mkdir(parents=True, exist_ok=keep)
        binary = registry_binary or (debian_registry() if kind == "distribution-2.8" else distribution_v3())
        (bin_dir / "registry").unlink(missing_ok=True)
        (bin_dir / "registry").symlink_to(binary)
        (directory / "config.yml").write_text(IMAGE_CONFIG)
        self.log = directory / ("supervisor-again.log" if keep else "supervisor.log")
        env = {"PATH": f"{bin_dir}:/usr/bin:/bin", "REGISTRY_HTTP_ADDR": self.host,
               "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(self.data), "REGISTRY_STORAGE_DELETE_ENABLED": "true",
               "REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR": "inmemory", "REGISTRY_HTTP_DRAINTIMEOUT": "10s",
               "REGISTRY_LOG_LEVEL": "warn", "OTEL_TRACES_EXPORTER": "none",
               "KUBECTL_ORAS_REGISTRY_CONFIG": str(directory / "config.yml"), "KUBECTL_ORAS_RECLAIM_PAUSE": str(pause),
               "KUBECTL_ORAS_RECLAIM_FULL_PERCENT": str(full_percent), "TMPDIR": str(directory)}
        self.proc = subprocess.Popen(["/bin/sh", "-c", SUPERVISOR, "kubectl-oras-registry"], env=env,
                                     stdout=open(self.log, "ab"), stderr=subprocess.STDOUT, start_new_session=True)
        wait_listening("127.0.0.1", self.port, proc=self.proc)

    def said(self, text: str) -> bool:
        return text in self.log.read_text(errors="replace")

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
                raise
        return self.proc.returncode


@pytest.mark.parametrize("kind", KINDS)
def test_reclamation_frees_the_deleted_artifacts_while_pushes_go_on(kind, tmp_path):
    registry = Supervised(kind, tmp_path / "registry")
    try:
        client = RegistryClient(registry.host, plain_http=True)
        files = tmp_path / "files"
        files.mkdir()
        for i in range(10):
            (files / f"iter-{i}").write_bytes(os.urandom(MIB))
            push_artifact(client, Reference(registry.host, "exp/big", f"iter-{i}"), [str(files / f"iter-{i}")])
        found = scan(client, ["exp/big"])
        verdicts = choose(found.tags, Policy(keep_last=3), dt.datetime.now(dt.UTC))
        outcomes = delete_chosen(client, verdicts, mode=delete_mode(client, "exp/big"))
        assert sum(o.result == DELETED for o in outcomes) == 7
        deleted_layers = [blob for t in found.tags if t.tag in {o.tag for o in outcomes} for blob, size in t.blobs
                          if size == MIB]
        assert len(deleted_layers) == 7
        blobs = registry.data / "docker" / "registry" / "v2" / "blobs"
        before = disk_usage(blobs)

        pushed: list[str] = []
        spans: list[tuple[float, float]] = []
        failures: list[BaseException] = []
        stop = threading.Event()

        def keep_pushing() -> None:
            pusher = RegistryClient(registry.host, plain_http=True)  # the engine's default retry policy
            n = 0
            while not stop.is_set():
                path = files / f"during-{n}"
                path.write_bytes(os.urandom(256 << 10))
                try:
                    began = time.monotonic()
                    push_artifact(pusher, Reference(registry.host, "exp/during", f"p-{n}"), [str(path)])
                    spans.append((began, time.monotonic()))
                    pushed.append(f"p-{n}")
                except BaseException as e:  # noqa: BLE001 - every failure is the finding
                    failures.append(e)
                n += 1

        pusher = threading.Thread(target=keep_pushing)
        pusher.start()
        time.sleep(1)
        request_reclaim(client, dt.datetime.now(dt.UTC))
        deadline = time.monotonic() + 60
        while not registry.said("kubectl-oras: reclaiming") and time.monotonic() < deadline:
            time.sleep(0.02)
        stopped_at = time.monotonic()
        while not registry.said("kubectl-oras: reclaimed") and time.monotonic() < deadline:
            time.sleep(0.02)
        back_at = time.monotonic()
        time.sleep(2)  # pushes go on after the registry is back
        stop.set()
        pusher.join(120)
        assert registry.said("kubectl-oras: reclaimed"), registry.log.read_text()
        assert not failures, failures
        assert len(pushed) >= 3
        # some push was under way while the registry was stopped: it waited, then succeeded
        assert any(began < back_at and ended > stopped_at for began, ended in spans), (spans, stopped_at, back_at)

        # the seven deleted 1 MiB layers are gone from the disk; the pushes meanwhile added theirs
        # (and a manifest each, under 1 KiB)
        for digest in deleted_layers:
            algorithm, hexdigest = digest.split(":")
            assert not (blobs / algorithm / hexdigest[:2] / hexdigest).exists(), digest
        added = sum((files / f"during-{t.removeprefix('p-')}").stat().st_size for t in pushed)
        after = disk_usage(blobs)
        freed = before + added - after
        assert 7 * MIB - len(pushed) * 1024 <= freed <= 7 * MIB + 4096, (before, added, after)
        for i in range(7, 10):
            out = tmp_path / "pulled" / f"iter-{i}"
            pull_artifact(client, Reference(registry.host, "exp/big", f"iter-{i}"), str(out))
            assert (out / f"iter-{i}").read_bytes() == (files / f"iter-{i}").read_bytes()
        for tag in pushed:
            out = tmp_path / "pulled" / tag
            pull_artifact(client, Reference(registry.host, "exp/during", tag), str(out))
            name = f"during-{tag.removeprefix('p-')}"
            assert (out / name).read_bytes() == (files / name).read_bytes()
        assert registry.proc.poll() is None  # still serving
    finally:
        code = registry.stop()
    assert code == 0  # SIGTERM stops the registry and the script at once, as a pod's deletion does


def test_a_registry_that_dies_ends_the_container_so_the_kubelet_restarts_it(tmp_path):
    registry = Supervised("distribution-3", tmp_path / "registry")
    try:
        out = subprocess.run(["pkill", "-KILL", "-f", f"registry serve {tmp_path}"], capture_output=True)
        assert out.returncode == 0
        registry.proc.wait(10)
        assert registry.proc.returncode != 0 and registry.said("the registry exited")
    finally:
        registry.stop()


def test_markers_pushed_in_a_burst_stop_the_registry_at_most_once_a_pause(tmp_path):
    """Anyone with the cache's password can push the marker: a burst of them is one stop, and the
    last one is still served once the pause is over."""
    registry = Supervised("distribution-3", tmp_path / "registry", pause=5)
    try:
        client = RegistryClient(registry.host, plain_http=True)
        request_reclaim(client, dt.datetime.now(dt.UTC))
        deadline = time.monotonic() + 30
        while not registry.said("kubectl-oras: reclaimed") and time.monotonic() < deadline:
            time.sleep(0.1)
        for _ in range(5):
            request_reclaim(client, dt.datetime.now(dt.UTC))
        time.sleep(2.5)
        assert registry.log.read_text().count("kubectl-oras: reclaiming") == 1
        while registry.log.read_text().count("kubectl-oras: reclaimed") < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        time.sleep(3)
        assert registry.log.read_text().count("kubectl-oras: reclaiming") == 2
    finally:
        registry.stop()


def test_what_the_collector_frees_and_what_it_never_touches(tmp_path):
    """Untagged manifests (an index's children pushed before it, as buildx and oras do) stay: the
    collector runs without --delete-untagged. A nearly full disk is reclaimed without a marker
    (here "full" from 0%) once the dry run finds something to free."""
    import hashlib
    import json

    registry = Supervised("distribution-3", tmp_path / "registry", pause=1)
    registry.proc.terminate()
    registry.proc.wait()
    registry = Supervised("distribution-3", tmp_path / "registry2", pause=1, full_percent=0)
    try:
        client = RegistryClient(registry.host, plain_http=True)
        (tmp_path / "f").write_bytes(os.urandom(MIB))
        push_artifact(client, Reference(registry.host, "app/img", "old"), [str(tmp_path / "f")])
        child = client.fetch_manifest("app/img", "old", what="t")
        client.delete_manifest("app/img", "old")  # v3: untagged only; its manifest stays, by digest
        time.sleep(5)  # the disk counts as full: the dry run finds nothing eligible (untagged is not)
        assert not registry.said("reclaiming")
        body = json.dumps({"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                           "config": child[0]["config"], "layers": child[0]["layers"]}).encode()
        assert hashlib.sha256(body).hexdigest()  # a child pushed by digest, its index not yet
        client.put_manifest("app/img", "sha256:" + hashlib.sha256(body).hexdigest(), body)
        (tmp_path / "g").write_bytes(os.urandom(MIB))
        push_artifact(client, Reference(registry.host, "app/other", "gone"), [str(tmp_path / "g")])
        digest = client.resolve("app/other", "gone", what="t")
        client.delete_manifest("app/other", digest)  # by digest: its blobs are now eligible
        deadline = time.monotonic() + 30
        while not registry.said("kubectl-oras: reclaimed") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert registry.said("the disk is 0% full") or registry.said("% full"), registry.log.read_text()
        assert client.fetch_manifest("app/img", child[2], what="t")[2] == child[2]  # untagged: kept
        assert client.fetch_manifest("app/img", "sha256:" + hashlib.sha256(body).hexdigest(), what="t")
        out = tmp_path / "pulled"
        pull_artifact(client, Reference(registry.host, "app/img", None, child[2]), str(out))
        assert (out / "f").read_bytes() == (tmp_path / "f").read_bytes()
    finally:
        registry.stop()


def test_a_marker_the_collector_did_not_finish_is_acted_on_after_a_restart(tmp_path):
    """SIGTERM while the collector runs stops everything at once; the marker is still pending
    when the container starts again (the kubelet restarts it), and is acted on then."""
    slow = tmp_path / "slow-bin"
    slow.mkdir()
    real = distribution_v3()
    (slow / "registry").write_text(f'#!/bin/sh\nif [ "$1" = garbage-collect ]; then sleep 30; fi\nexec {real} "$@"\n')
    (slow / "registry").chmod(0o755)
    registry = Supervised("distribution-3", tmp_path / "registry", pause=1, registry_binary=str(slow / "registry"))
    client = RegistryClient(registry.host, plain_http=True)
    request_reclaim(client, dt.datetime.now(dt.UTC))
    deadline = time.monotonic() + 20
    while not registry.said("reclaiming") and time.monotonic() < deadline:
        time.sleep(0.1)
    started = time.monotonic()
    assert registry.stop() == 0
    assert time.monotonic() - started < 5  # not after the 30 s collection
    again = Supervised("distribution-3", tmp_path / "registry", pause=1, keep=True)  # same storage
    try:
        deadline = time.monotonic() + 30
        while not again.said("kubectl-oras: reclaimed") and time.monotonic() < deadline:
            time.sleep(0.2)
        assert again.said("kubectl-oras: reclaimed"), again.log.read_text()
    finally:
        again.stop()


def test_an_agent_push_waits_through_a_long_stop(tmp_path):
    """A big store keeps the registry stopped for a while (about 5 ms a manifest): the agent's
    policy tries a refused port again for minutes; a command at a terminal says so at once."""
    from kubectl_oras.agent.connection import REFUSED_FOR
    from kubectl_oras.oci.client import RetryPolicy
    from kubectl_oras.oci.errors import RegistryUnreachable

    slow = tmp_path / "slow-bin"
    slow.mkdir()
    (slow / "registry").write_text(f'#!/bin/sh\nif [ "$1" = garbage-collect ]; then sleep 8; fi\n'
                                   f'exec {distribution_v3()} "$@"\n')
    (slow / "registry").chmod(0o755)
    registry = Supervised("distribution-3", tmp_path / "registry", pause=1, registry_binary=str(slow / "registry"))
    try:
        (tmp_path / "f").write_bytes(os.urandom(MIB))
        agent = RegistryClient(registry.host, plain_http=True, retry=RetryPolicy(refused_for=REFUSED_FOR))
        request_reclaim(agent, dt.datetime.now(dt.UTC))
        deadline = time.monotonic() + 20
        while not registry.said("reclaiming") and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.5)
        with pytest.raises(RegistryUnreachable, match="refused"):
            push_artifact(RegistryClient(registry.host, plain_http=True), Reference(registry.host, "a/b", "cli"),
                          [str(tmp_path / "f")])
        started = time.monotonic()
        push_artifact(agent, Reference(registry.host, "a/b", "agent"), [str(tmp_path / "f")])
        assert time.monotonic() - started > 3  # it waited for the registry to come back
        out = tmp_path / "pulled"
        pull_artifact(agent, Reference(registry.host, "a/b", "agent"), str(out))
        assert (out / "f").read_bytes() == (tmp_path / "f").read_bytes()
    finally:
        registry.stop()
