"""Tier 2: list and watch against a real kube-apiserver. The informer sees creates, updates and
deletes with one list and watches only; re-watches without listing when a watch times out; gets
bookmarks; answers a real 410 (after an apiserver restart) by listing again and reporting what was
deleted meanwhile; backs off while the apiserver is unreachable; and stops within a second.

What the apiserver did here is written down in docs/kube-client.md ("Watching")."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid

import pytest

from kubectl_oras.kube.api import Kube, Resource
from kubectl_oras.kube.config import connect
from kubectl_oras.kube.errors import Gone
from kubectl_oras.kube.watch import Informer, watch
from localcluster.controlplane import ControlPlane
from tests.cluster.apply import apply
from tests.support.net import free_port

CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps")
LABEL = "kubectl-oras.test/watch"


class Requests:
    """Every API request a Kube makes: (method, path, query)."""

    def __init__(self, kube: Kube) -> None:
        self.seen: list[tuple[str, str, dict]] = []
        call_api = kube.api.call_api

        async def counted(path, method, *args, query_params=None, **kwargs):
            self.seen.append((method, path, dict(query_params or [])))
            return await call_api(path, method, *args, query_params=query_params, **kwargs)

        kube.api.call_api = counted

    def lists(self) -> int:
        return sum(1 for method, _, query in self.seen if method == "GET" and "watch" not in query)

    def watches(self) -> int:
        return sum(1 for method, _, query in self.seen if method == "GET" and "watch" in query)


class Running:
    """An informer over the labelled ConfigMaps of one namespace, run in a task."""

    def __init__(self, kube: Kube, namespace: str, **options) -> None:
        self.seen: list[tuple[str, str]] = []
        self.informer = Informer(kube, CONFIGMAPS, namespace=namespace, label_selector=LABEL,
                                 on_change=lambda kind, o: self.seen.append((kind, o["metadata"]["name"])), **options)
        self.stop = asyncio.Event()
        self.task: asyncio.Task | None = None

    def start(self) -> Running:
        self.stop.clear()
        self.task = asyncio.create_task(self.informer.run(self.stop))
        return self

    async def end(self) -> float:
        """Stop it; how long run() took to return."""
        began = time.monotonic()
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 10)
        return time.monotonic() - began


async def until(condition, timeout: float = 30, what: str = "") -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what or condition}"
        await asyncio.sleep(0.02)


def configmap(name: str, labelled: bool = True, **data: str) -> dict:
    return {"apiVersion": "v1", "kind": "ConfigMap", "data": data,
            "metadata": {"name": name, "labels": {LABEL: "yes"} if labelled else {}}}


def fresh_namespace(cp: ControlPlane) -> str:
    ns = f"watch-{uuid.uuid4().hex[:6]}"
    apply(cp, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    return ns


async def test_the_informer_sees_creates_updates_and_deletes_with_one_list_and_watches_only(control_plane):
    ns = fresh_namespace(control_plane)
    async with await connect(kubeconfig=str(control_plane.kubeconfig)) as kube, \
            await connect(kubeconfig=str(control_plane.kubeconfig)) as writer:
        for name in ("a", "b", "c"):
            await writer.create(CONFIGMAPS, configmap(name), namespace=ns)
        await writer.create(CONFIGMAPS, configmap("unlabelled", labelled=False), namespace=ns)
        requests = Requests(kube)
        run = Running(kube, ns, page_size=2).start()
        await asyncio.wait_for(run.informer.synced.wait(), 30)
        assert sorted(run.seen) == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]
        assert run.informer.get(ns, "a")["kind"] == "ConfigMap"
        run.seen.clear()

        await writer.create(CONFIGMAPS, configmap("d", k="1"), namespace=ns)
        await writer.patch(CONFIGMAPS, "a", {"data": {"k": "2"}}, namespace=ns)
        await writer.delete(CONFIGMAPS, "b", namespace=ns)
        # One object as large as a ConfigMap may be (1 MiB): one line of about a megabyte.
        await writer.create(CONFIGMAPS, configmap("big", blob="x" * 1_000_000), namespace=ns)
        await writer.patch(CONFIGMAPS, "unlabelled", {"data": {"ignored": "yes"}}, namespace=ns)
        await until(lambda: len(run.seen) == 4, what="four events")
        assert run.seen == [("ADDED", "d"), ("MODIFIED", "a"), ("DELETED", "b"), ("ADDED", "big")]
        assert sorted(name for _, name in run.informer.store) == ["a", "big", "c", "d"]
        assert run.informer.get(ns, "a")["data"] == {"k": "2"} and run.informer.get(ns, "b") is None
        assert len(run.informer.get(ns, "big")["data"]["blob"]) == 1_000_000
        await run.end()

    informer = run.informer
    assert informer.lists == 1 and informer.list_pages == 2 and informer.restarts == {}
    # Two pages of one list, then watches: no request for any single object.
    assert requests.lists() == 2 and requests.watches() == informer.watches >= 1
    assert len(requests.seen) == requests.lists() + requests.watches()
    assert all(path == f"/api/v1/namespaces/{ns}/configmaps" for _, path, _ in requests.seen)
    assert [q.get("labelSelector") for _, _, q in requests.seen] == [LABEL] * len(requests.seen)


async def test_watches_that_time_out_are_started_again_without_a_list_and_bookmarks_come_before_the_end(control_plane):
    ns = fresh_namespace(control_plane)
    async with await connect(kubeconfig=str(control_plane.kubeconfig)) as kube, \
            await connect(kubeconfig=str(control_plane.kubeconfig)) as writer:
        await writer.create(CONFIGMAPS, configmap("a"), namespace=ns)
        await writer.create(CONFIGMAPS, configmap("noise", labelled=False), namespace=ns)
        short = Running(kube, ns, watch_seconds=2).start()
        longer = Running(kube, ns, watch_seconds=4).start()
        await asyncio.wait_for(asyncio.gather(short.informer.synced.wait(), longer.informer.synced.wait()), 30)

        async def noise() -> None:  # changes the informers do not select: the resourceVersion moves on
            for i in range(1000):
                await writer.patch(CONFIGMAPS, "noise", {"data": {"i": str(i)}}, namespace=ns)
                await asyncio.sleep(0.3)

        noisy = asyncio.create_task(noise())
        began = time.monotonic()
        try:
            await asyncio.sleep(3)
            await writer.create(CONFIGMAPS, configmap("b"), namespace=ns)
            await until(lambda: time.monotonic() - began > 9 and len(short.seen) == len(longer.seen) == 2)
        finally:
            noisy.cancel()
        last_event = longer.informer.get(ns, "b")["metadata"]["resourceVersion"]
        await short.end()
        await longer.end()

    for run in (short, longer):
        assert run.seen == [("ADDED", "a"), ("ADDED", "b")] and run.informer.restarts == {}
        assert run.informer.lists == 1  # every watch after the first started from the last resourceVersion
    assert short.informer.watches >= 4 and longer.informer.watches >= 2
    # The apiserver sends a bookmark about 2 s before a watch's timeout when the resource's
    # resourceVersion moved past the watch's: never within a 2 s watch, once in each 4 s one.
    assert short.informer.bookmarks == 0
    assert longer.informer.bookmarks >= 2
    assert int(longer.informer.resource_version or 0) > int(last_event)  # bookmarks carried it past the noise


@pytest.fixture(scope="module")
def own_control_plane():
    """etcd + kube-apiserver of this module's own: its apiserver is restarted."""
    cp = ControlPlane.start(with_controller_manager=False)
    yield cp
    cp.stop()


async def test_a_real_410_lists_again_and_reports_what_was_deleted_while_not_watching(own_control_plane, caplog):
    cp = own_control_plane
    caplog.set_level(logging.INFO, logger="kubectl_oras.watch")
    ns = fresh_namespace(cp)
    async with await connect(kubeconfig=str(cp.kubeconfig)) as kube, \
            await connect(kubeconfig=str(cp.kubeconfig)) as writer:
        for name in ("a", "b", "c"):
            await writer.create(CONFIGMAPS, configmap(name), namespace=ns)
        run = Running(kube, ns, watch_seconds=60).start()
        await asyncio.wait_for(run.informer.synced.wait(), 30)
        await run.end()
        old_version = run.informer.resource_version
        run.seen.clear()

        # While nobody watches: a deletion and a change. Then the apiserver restarts: its watch
        # cache starts from a fresh list of etcd, so it holds no event as old as ours.
        await writer.delete(CONFIGMAPS, "a", namespace=ns)
        await writer.patch(CONFIGMAPS, "b", {"data": {"k": "v"}}, namespace=ns)
        index, argv = cp.stop_apiserver()
        run.start()  # watches from old_version: the apiserver is down, so it backs off
        await until(lambda: run.informer.restarts["unreachable"] >= 2, what="failed attempts")
        assert not run.task.done()
        cp.start_apiserver(index, argv)
        with pytest.raises(Gone, match=rf"too old resource version: {old_version} \(\d+\)"):  # the stream alone
            async for _ in watch(writer, CONFIGMAPS, namespace=ns, resource_version=old_version or "",
                                   timeout_seconds=5):
                pass

        await until(lambda: run.informer.lists == 2 and len(run.seen) == 2, what="the list after 410")
        assert run.seen == [("DELETED", "a"), ("MODIFIED", "b")]
        assert sorted(name for _, name in run.informer.store) == ["b", "c"]
        await writer.create(CONFIGMAPS, configmap("d"), namespace=ns)
        await until(lambda: len(run.seen) == 3, what="watching again")
        assert run.seen[-1] == ("ADDED", "d")
        await run.end()

    assert run.informer.restarts["expired"] == 1
    expired = [r.getMessage() for r in caplog.records if "listing again" in r.getMessage()]
    assert len(expired) == 1 and f"too old resource version: {old_version} (" in expired[0]
    refused = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING and "Connect" in r.getMessage()]
    assert len(refused) == 1, refused  # logged once, however many attempts


async def test_an_unreachable_apiserver_means_backoff_not_a_crash(control_plane, caplog):
    caplog.set_level(logging.INFO, logger="kubectl_oras.watch")
    async with await connect(kubeconfig=str(control_plane.kubeconfig)) as kube:
        kube.api.configuration.host = f"https://127.0.0.1:{free_port()}"  # nothing listens there
        run = Running(kube, "default").start()
        await asyncio.sleep(3.5)
        assert not run.task.done() and not run.informer.synced.is_set()
        attempts = run.informer.restarts["unreachable"]
        assert 3 <= attempts <= 5, attempts  # 0.5-0.75, 1-1.5, 2-3 s apart: not a busy loop
        assert await run.end() < 1
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "cannot reach the Kubernetes API" in warnings[0]


async def test_stop_ends_run_within_a_second_mid_watch(control_plane):
    ns = fresh_namespace(control_plane)
    async with await connect(kubeconfig=str(control_plane.kubeconfig)) as kube:
        requests = Requests(kube)
        run = Running(kube, ns, watch_seconds=300).start()
        await asyncio.wait_for(run.informer.synced.wait(), 30)
        await until(lambda: requests.watches() == 1)
        await asyncio.sleep(0.5)  # the watch is open and quiet
        assert await run.end() < 1
        assert run.informer.restarts == {}
