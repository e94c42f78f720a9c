"""The informer without a cluster: the store diff after a re-list, the backoff schedule, and the
list/watch/re-watch/re-list cycle against an in-process fake of the apiserver."""

from __future__ import annotations

import asyncio
import logging
import time

import aiohttp
import pytest

from kubectl_oras.backoff import Backoff
from kubectl_oras.kube.api import Kube, Resource
from kubectl_oras.kube.errors import ClusterUnreachable, Forbidden, Gone, KubeError
from kubectl_oras.kube.watch import INFORMER_BACKOFF, ContinueExpired, Informer, restart_reason, store_diff
from tests.support.fake_apiserver import FakeApiServer, FakeResponse, api_exception

CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps")


def obj(name: str, rv: str, uid: str = "", namespace: str = "lab") -> dict:
    return {"metadata": {"name": name, "namespace": namespace, "resourceVersion": rv, "uid": uid or f"u-{name}"}}


def names(events: list) -> list[tuple[str, str]]:
    return [(kind, o["metadata"]["name"]) for kind, o in events]


# -- pure parts ---------------------------------------------------------------------------------


def test_the_diff_after_a_relist_is_what_a_watcher_would_have_seen():
    old = {("lab", n): obj(n, rv) for n, rv in [("same", "1"), ("changed", "2"), ("gone", "3"), ("reborn", "4")]}
    new = {("lab", n): obj(n, rv, uid) for n, rv, uid in [("same", "1", ""), ("changed", "9", ""), ("new", "10", ""),
                                                          ("reborn", "11", "u-other")]}
    assert names(store_diff(old, new)) == [("DELETED", "gone"), ("DELETED", "reborn"), ("MODIFIED", "changed"),
                                           ("ADDED", "new"), ("ADDED", "reborn")]
    assert store_diff(old, new)[0][1] is old[("lab", "gone")]  # the last state known
    assert store_diff(new, new) == [] and store_diff({}, {}) == []
    assert names(store_diff({}, new)) == [("ADDED", n) for n in ("changed", "new", "reborn", "same")]


def test_backoff_doubles_from_half_a_second_to_thirty_with_up_to_half_again_of_jitter():
    backoff = INFORMER_BACKOFF
    assert [backoff.delay(n, rand=lambda: 0.0) for n in range(1, 10)] == [0.5, 1, 2, 4, 8, 16, 30, 30, 30]
    assert [backoff.delay(n, rand=lambda: 0.999) for n in (1, 2, 5, 6, 7)] == \
        pytest.approx([0.75, 1.5, 12, 24, 30], abs=0.01)
    assert backoff.delay(10_000) == 30 and backoff.delay(0, rand=lambda: 0.0) == 0.5
    delays = {INFORMER_BACKOFF.delay(3) for _ in range(50)}
    assert len(delays) > 1 and all(2 <= d < 3 for d in delays)


@pytest.mark.parametrize("error, reason", [
    (Gone("x", status=410), "expired"), (ContinueExpired("x", status=410), "continue-expired"),
    (ClusterUnreachable("x"), "unreachable"), (Forbidden("x", status=403), "forbidden"),
    (KubeError("x", status=429), "throttled"), (KubeError("x", status=503), "server-error"),
    (KubeError("x"), "bad-answer"), (KubeError("x", status=400), "error"), (TypeError("x"), "bug"),
])
def test_restart_reasons(error, reason):
    assert restart_reason(error) == reason


# -- against the fake apiserver ------------------------------------------------------------------


class Run:
    """An informer over the fake's ConfigMaps in "lab", running until the test is done."""

    def __init__(self, api: FakeApiServer, **kwargs: object) -> None:
        self.api = api
        self.seen: list[tuple[str, dict]] = []
        self.reasons: list[str] = []
        options = {"watch_seconds": 5, "page_size": 2, "backoff": Backoff(0.001, 0.01), **kwargs}
        self.informer = Informer(Kube(api), CONFIGMAPS, namespace="lab",  # type: ignore[arg-type]
                                 on_change=lambda kind, o: self.seen.append((kind, o)), on_restart=self.reasons.append,
                                 **options)  # type: ignore[arg-type]
        self.stop = asyncio.Event()
        self.task: asyncio.Task | None = None

    async def __aenter__(self) -> Run:
        self.stop.clear()
        self.task = asyncio.create_task(self.informer.run(self.stop))
        await asyncio.wait_for(self.informer.synced.wait(), 5)
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.stop.set()
        assert self.task is not None
        await asyncio.wait_for(self.task, 5)

    def events(self) -> list[tuple[str, str]]:
        taken, self.seen[:] = names(self.seen), []
        return taken


async def until(condition, timeout: float = 5) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        await asyncio.sleep(0.005)


async def test_lists_in_pages_then_follows_changes_with_watches_only():
    api = FakeApiServer()
    for n in "abcde":
        api.put(n)
    async with Run(api) as run:
        informer = run.informer
        assert run.events() == [("ADDED", n) for n in "abcde"]
        assert informer.lists == 1 and informer.list_pages == 3 and informer.resource_version == "105"
        assert informer.get("lab", "a") == {**api.objects["a"]} and informer.get("lab", "a")["kind"] == "ConfigMap"
        api.put("a", {"k": "v"})
        api.put("f")
        api.remove("b")
        await until(lambda: len(run.seen) == 3)
        assert run.events() == [("MODIFIED", "a"), ("ADDED", "f"), ("DELETED", "b")]
        assert set(informer.store) == {("lab", n) for n in "acdef"} and informer.get("lab", "a")["data"] == {"k": "v"}
        assert informer.resource_version == "108"
    assert api.count("list") == 3 and api.count("watch") == informer.watches >= 1
    assert informer.restarts == {}


async def test_a_watch_the_server_ends_is_started_again_from_where_it_got_without_a_list():
    api = FakeApiServer(time_scale=0.005)  # a 5 s watch lasts 25 ms
    api.put("a")
    async with Run(api) as run:
        await until(lambda: run.informer.watches >= 4)
        api.put("b")  # between watches or during one: either way it arrives once
        await until(lambda: run.informer.watches >= 8)
        assert run.events() == [("ADDED", "a"), ("ADDED", "b")]
        watched_from = [q["resourceVersion"] for _, _, q in api.requests if "watch" in q]
        assert set(watched_from) == {"101", "102"} and watched_from.index("102") > 0
    assert run.informer.lists == 1 and api.count("list") == 1 and run.informer.restarts == {}


async def test_gone_lists_again_and_reports_what_changed_while_not_watching():
    api = FakeApiServer()
    for n in "abcd":
        api.put(n)
    run = Run(api)
    async with run:
        assert len(run.events()) == 4
    # Not watching now: one object deleted, one changed, one created, one recreated; the
    # history is compacted, so the next watch from the old resourceVersion gets 410.
    api.remove("a")
    api.put("b", {"k": "v"})
    api.put("e")
    api.remove("c")
    api.put("c", uid="u-new")
    api.compact()
    async with run:
        await until(lambda: run.informer.lists == 2 and len(run.seen) == 5)
        assert run.events() == [("DELETED", "a"), ("DELETED", "c"), ("MODIFIED", "b"), ("ADDED", "c"), ("ADDED", "e")]
        assert run.informer.restarts == {"expired": 1} and run.reasons == ["expired"]
        assert set(run.informer.store) == {("lab", n) for n in "bcde"}
        api.put("d", {"still": "watching"})
        await until(lambda: run.seen)
        assert run.events() == [("MODIFIED", "d")]


async def test_an_expired_continue_token_starts_the_list_over():
    api = FakeApiServer(expire_continue=1)
    for n in "abcde":
        api.put(n)
    async with Run(api) as run:
        assert run.events() == [("ADDED", n) for n in "abcde"]
        assert run.informer.restarts == {"continue-expired": 1} and run.informer.lists == 2
        assert run.informer.list_pages == 4  # one page, then 410 on the second, then three


async def test_failures_back_off_log_once_and_never_end_the_informer(caplog):
    api = FakeApiServer()
    api.put("a")
    refused = aiohttp.ClientConnectionError("Cannot connect to host fake:443 [Connection refused]")
    api.failures = [refused] * 4 + [api_exception(403, "configmaps is forbidden: User cannot list"),
                                    api_exception(500, "etcd is sad")]
    sleeps: list[float] = []
    real_sleep = asyncio.sleep

    async def recording_sleep(delay: float, *args: object) -> None:
        sleeps.append(delay)
        await real_sleep(0)

    caplog.set_level(logging.INFO, logger="kubectl_oras.watch")
    informer_sleep = pytest.MonkeyPatch()
    informer_sleep.setattr("kubectl_oras.kube.watch.asyncio.sleep", recording_sleep)
    try:
        async with Run(api, backoff=INFORMER_BACKOFF) as run:
            assert run.events() == [("ADDED", "a")]
    finally:
        informer_sleep.undo()
    assert run.informer.restarts == {"unreachable": 4, "forbidden": 1, "server-error": 1}
    assert run.reasons == ["unreachable"] * 4 + ["forbidden", "server-error"]
    failed = [delay for delay in sleeps if delay >= 0.5]
    assert all(base <= d < base * 1.5 for d, base in zip(failed, [0.5, 1, 2, 4, 8, 16], strict=True))
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 3 and "Connection refused" in warnings[0] and "forbidden" in warnings[1]
    assert any("working again after 6 failed attempts" in r.getMessage() for r in caplog.records)


async def test_a_malformed_event_or_a_bug_is_logged_and_the_watch_resumes(caplog):
    api = FakeApiServer()
    api.put("a")
    run = Run(api)
    async with run:
        api.failures = [FakeResponse(chunks=[b'{"type": "ADDED", "object": {"metadata": {}}}\n']),
                        TypeError("a bug")]
        await until(lambda: sum(run.informer.restarts.values()) == 2)
        api.put("b")
        await until(lambda: len(run.seen) == 2)
    assert run.events() == [("ADDED", "a"), ("ADDED", "b")]
    assert run.informer.restarts == {"bad-answer": 1, "bug": 1} and run.informer.lists == 1
    assert any(r.exc_info and "a bug" in r.getMessage() for r in caplog.records)


async def test_callback_exceptions_are_logged_and_the_informer_carries_on(caplog):
    api = FakeApiServer()
    api.put("a")
    seen = []

    def on_change(kind: str, o: dict) -> None:
        seen.append(o["metadata"]["name"])
        raise RuntimeError("handler broke")

    informer = Informer(Kube(api), CONFIGMAPS, namespace="lab", on_change=on_change)  # type: ignore[arg-type]
    stop = asyncio.Event()
    task = asyncio.create_task(informer.run(stop))
    await until(lambda: seen == ["a"])
    api.put("b")
    await until(lambda: seen == ["a", "b"])
    stop.set()
    await asyncio.wait_for(task, 5)
    assert [r.getMessage() for r in caplog.records if r.exc_info] == [
        "informer configmaps in lab: the callback failed for ADDED lab/a",
        "informer configmaps in lab: the callback failed for ADDED lab/b"]
    assert informer.restarts == {}


async def test_stop_ends_run_at_once_mid_watch_and_during_a_backoff():
    api = FakeApiServer(time_scale=100)  # a watch that would last minutes
    async with Run(api, watch_seconds=300) as run:
        await until(lambda: run.informer.watches == 1)
        began = time.monotonic()
    assert time.monotonic() - began < 0.5
    api.failures = [ClusterUnreachable("down")] * 3
    run = Run(api, backoff=Backoff(60, 60))
    run.informer.resource_version = "100"
    task = asyncio.create_task(run.informer.run(run.stop))
    await until(lambda: run.informer.restarts["unreachable"] == 1)
    began = time.monotonic()
    run.stop.set()
    await asyncio.wait_for(task, 1)
    assert time.monotonic() - began < 0.5


def test_bad_settings_are_refused():
    with pytest.raises(ValueError):
        Informer(None, CONFIGMAPS, on_change=print, watch_seconds=0)  # type: ignore[arg-type]
