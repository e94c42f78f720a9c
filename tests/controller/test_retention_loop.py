"""The leader's retention loop and its runs against real registries (and, for the faults no real
registry makes, loopback servers that make them): each test feeds one fault an attack on the
loop found. The informers and the apiserver are stand-ins (plain stores, a recorder of patches);
tier 3 runs the loop for real (tests/e2e)."""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

import controller.runtime.registry_access as registry_access
import controller.runtime.retention as retention
from controller.core.cache_spec import RetentionPlan
from controller.runtime.events import EventRecorder
from controller.runtime.retention import RetentionLoop, run_against_registry
from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.retention.choice import Policy
from tests.registry.test_retention_against_registries import Store
from tests.support.registries import start_registry

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)


def at(hours_ago: float) -> dt.datetime:
    return NOW - dt.timedelta(hours=hours_ago)


@pytest.fixture
def registry():
    proc = start_registry("distribution-3")
    yield proc
    proc.stop()


def filled(registry, n=8) -> Store:
    store = Store(RegistryClient(registry.host, plain_http=True, retries=1))
    for i in range(n):
        store.put("exp", f"iter-{i}", f"{i}".encode(), created=at(n - i))
    return store


PLAN = RetentionPlan(Policy(keep_last=2), 3600.0, False)
CACHE = {"metadata": {"name": "c", "namespace": "n", "uid": "u1"}}


def test_no_delete_when_the_cache_retention_changed_since_the_run_chose(registry):
    store = filled(registry)
    result = run_against_registry(registry.host, None, PLAN, CACHE, NOW,
                                  still_wanted=lambda: "the cache's retention changed during the run")
    assert result.failed and result.deleted == 0
    assert result.record["errors"] == ["nothing deleted: the cache's retention changed during the run"]
    assert len(store.client.list_tags("exp")) == 8


def test_a_stop_during_the_deletes_starts_no_more_and_the_record_says_what_was_done(registry, monkeypatch):
    store = filled(registry, 12)
    stop = threading.Event()
    real = RegistryClient.delete_manifest
    deletes = []

    def delete(self, repository, reference):
        answer = real(self, repository, reference)
        if not reference.startswith(("kubectl-oras-probe-", "sha256:" + "0" * 64)):  # not the mode probes
            deletes.append(reference)
            if len(deletes) == 3:
                stop.set()  # the replica stops leading
        return answer

    monkeypatch.setattr(RegistryClient, "delete_manifest", delete)
    result = run_against_registry(registry.host, None, PLAN, CACHE, NOW, stop=stop, concurrency=1)
    monkeypatch.undo()
    left = set(store.client.list_tags("exp"))
    assert len(left) == 12 - 3
    assert result.deleted == 3 and len(result.record["tags"]) == 3
    assert set(result.record["tags"]) == {f"exp:{t}" for t in {f"iter-{i}" for i in range(12)} - left}
    assert any("no longer the leader" in e for e in result.record["errors"])


class Redirecting(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 - the http.server interface
        self.send_response(302)
        self.send_header("Location", self.path)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def test_a_registry_that_redirects_without_end_is_a_recorded_failure_not_a_crash():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Redirecting)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        result = run_against_registry(f"127.0.0.1:{server.server_port}", None, PLAN, CACHE, NOW)
        assert result.failed and "TooManyRedirects" in result.record["errors"][0]
        assert result.record["time"] == NOW.strftime("%Y-%m-%dT%H:%M:%SZ")  # recorded: not run again at once
    finally:
        server.shutdown()


class Store_:
    """An informer's store, as the loop reads it."""

    def __init__(self, *objects):
        self.store = {(o["metadata"].get("namespace", ""), o["metadata"]["name"]): o for o in objects}

    def get(self, namespace, name):
        return self.store.get((namespace or "", name))


class Apiserver:
    def __init__(self, pods=()):
        self.patches, self.events = [], []
        self.pods = list(pods)  # what a run lists in the cache's namespace (their inputs are spared)

    async def list(self, resource, *, namespace=None, **kw):
        assert resource.plural == "pods" and namespace == "n", (resource, namespace)
        return {"items": self.pods}

    async def patch(self, resource, name, patch, **kw):
        self.patches.append((name, patch, kw))
        return {}

    async def create(self, resource, body, **kw):
        self.events.append(body)
        return body


def cache_object(auth=False):
    return {"metadata": {"name": "c", "namespace": "n", "uid": "u1"},
            "spec": {"retention": {"keepLast": 2}, "auth": {"enabled": auth}},
            "status": {"conditions": [{"type": "Ready", "status": "True"}]}}


async def run_until_recorded(loop: RetentionLoop, kube: Apiserver, *, within: float) -> float:
    """Run the loop until it records a run (or ``within`` seconds pass); how long stopping took."""
    stop = asyncio.Event()
    task = asyncio.create_task(loop.run(stop))
    deadline = time.monotonic() + within
    while not kube.patches and time.monotonic() < deadline:
        await asyncio.sleep(0.1)
    stop.set()
    started = time.monotonic()
    await asyncio.wait_for(task, 15)
    return time.monotonic() - started


def header_dripper(address: str, stop: threading.Event) -> socket.socket:
    """Accepts, then sends a status line's bytes one a second: never a whole header."""
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((address, 5000))
    listener.listen()

    def serve():
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except OSError:
                return

            def drip(conn=conn):
                for byte in b"HTTP/1.1 200 OK\r\n" * 100:
                    if stop.wait(1):
                        break
                    try:
                        conn.send(bytes([byte]))
                    except OSError:
                        break
                conn.close()

            threading.Thread(target=drip, daemon=True).start()

    threading.Thread(target=serve, daemon=True).start()
    return listener


def test_a_run_stuck_on_a_registry_is_given_up_and_never_holds_up_the_loop(monkeypatch):
    """Headers sent a byte a second: no read ever times out. The loop records the run failed
    after its limit, and stops at once when told, leaving the stuck thread (a daemon) behind."""
    stop_server = threading.Event()
    listener = header_dripper("127.0.0.7", stop_server)
    monkeypatch.setattr(retention, "RUN_LIMIT", 2.0)
    monkeypatch.setattr(retention, "RUN_SLACK", 1.0)
    kube = Apiserver()
    service = {"metadata": {"name": "c", "namespace": "n"}, "spec": {"clusterIP": "127.0.0.7"}}
    loop = RetentionLoop(kube, Store_(cache_object()), Store_(service), Store_(), EventRecorder(kube, instance="t"),
                         tick=0.1)

    try:
        stopping = asyncio.run(run_until_recorded(loop, kube, within=20))
    finally:
        stop_server.set()
        listener.close()
    assert kube.patches, "the stuck run was never recorded"
    name, ops, kw = kube.patches[0]
    assert kw["patch_type"] == "json" and ops[0] == {"op": "test", "path": "/metadata/uid", "value": "u1"}
    assert "took over" in ops[-1]["value"]["errors"][0]
    assert stopping < 12
    assert any(e["reason"] == "RetentionFailed" for e in kube.events)


def test_a_run_records_with_the_cache_password_from_its_secret_and_never_shows_it(tmp_path):
    from tests.support.registries import htpasswd_file

    password = "s3cret-generated"
    registry = start_registry("distribution-3", htpasswd=htpasswd_file(tmp_path, "oras", password), root=None)
    try:
        from kubectl_oras.oci.auth import Credentials

        store = Store(RegistryClient(registry.host, plain_http=True, credentials=Credentials("oras", password)))
        for i in range(4):
            store.put("exp", f"iter-{i}", f"{i}".encode(), created=at(4 - i))
        host, port = registry.host.split(":")
        kube = Apiserver()
        secret = {"metadata": {"name": "c-oras-auth", "namespace": "n"},
                  "data": {"ORAS_USER": base64.b64encode(b"oras").decode(),
                           "ORAS_PASS": base64.b64encode(password.encode()).decode()}}
        service = {"metadata": {"name": "c", "namespace": "n"}, "spec": {"clusterIP": host}}
        loop = RetentionLoop(kube, Store_(cache_object(auth=True)), Store_(service), Store_(secret),
                             EventRecorder(kube, instance="t"), tick=0.1)
        original = registry_access.REGISTRY_PORT
        registry_access.REGISTRY_PORT = int(port)
        try:
            asyncio.run(run_until_recorded(loop, kube, within=30))
        finally:
            registry_access.REGISTRY_PORT = original
        record = kube.patches[0][1][-1]["value"]
        assert record["tagsDeleted"] == 2 and record["errors"] == [], record
        assert set(store.client.list_tags("exp")) == {"iter-2", "iter-3"}
        assert record.get("reclaimRequested", "").startswith("sha256:")
        assert password not in repr(kube.patches) + repr(kube.events)
    finally:
        registry.stop()


def test_the_loop_spares_the_input_a_pending_pod_of_the_namespace_names(registry, monkeypatch):
    """The run lists the cache's namespace's pods once it has read the tags: a Pending pod's input
    is kept, a finished pod's is not (tier 2 lists them through the apiserver)."""
    store = filled(registry, 4)  # keepLast 2 deletes iter-0 and iter-1
    step = {"oras.converged-computing.github.io/input-uri": "exp:iter-0",
            "oras.converged-computing.github.io/input-path": "in", "oras.converged-computing.github.io/oras-cache": "c"}
    pods = [{"metadata": {"name": "waiting", "namespace": "n", "annotations": step}, "status": {"phase": "Pending"}},
            {"metadata": {"name": "done", "namespace": "n",
                          "annotations": {**step, "oras.converged-computing.github.io/input-uri": "exp:iter-1"}},
             "status": {"phase": "Succeeded"}}]
    kube = Apiserver(pods)
    host, port = registry.host.split(":")
    service = {"metadata": {"name": "c", "namespace": "n"}, "spec": {"clusterIP": host}}
    loop = RetentionLoop(kube, Store_(cache_object()), Store_(service), Store_(), EventRecorder(kube, instance="t"),
                         tick=0.1)
    monkeypatch.setattr(registry_access, "REGISTRY_PORT", int(port))
    asyncio.run(run_until_recorded(loop, kube, within=30))
    record = kube.patches[0][1][-1]["value"]
    assert record["tags"] == ["exp:iter-1"] and record["errors"] == [], record
    assert set(store.client.list_tags("exp")) == {"iter-0", "iter-2", "iter-3"}
