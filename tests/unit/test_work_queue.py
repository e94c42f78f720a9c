"""The reconciler's work queue: a key once, never twice at once, a change meanwhile not lost,
failures retried after a growing back-off that one key's failures keep to itself."""

import asyncio

import pytest

from controller.core.cache_objects import contains, difference
from controller.runtime.work_queue import RETRY_BACKOFF, WorkQueue
from kubectl_oras.backoff import Backoff


async def test_a_key_is_queued_once_and_handed_out_in_order():
    q = WorkQueue()
    for key in ("a", "b", "a", "c", "b"):
        q.add(key)
    assert len(q) == 3
    assert [await q.get() for _ in range(3)] == ["a", "b", "c"]


async def test_a_change_while_a_key_is_worked_on_queues_it_again_after():
    q = WorkQueue()
    q.add("a")
    key = await q.get()
    q.add("a")  # changed meanwhile: not handed to a second worker now
    assert len(q) == 0
    q.done(key)
    assert len(q) == 1 and await q.get() == "a"


async def test_a_keys_retries_wait_half_a_second_doubling_to_a_minute_scaled_by_a_fifth_either_way():
    steps = [0.5, 1.0, 2.0, 4.0, 60, 60]
    assert [RETRY_BACKOFF.delay(n, rand=lambda: 0.0) for n in (1, 2, 3, 4, 10, 10_000)] == [s * 0.8 for s in steps]
    assert [RETRY_BACKOFF.delay(n, rand=lambda: 0.999999) for n in (1, 2, 3, 4, 10)] == \
        pytest.approx([s * 1.2 for s in steps[:5]], rel=1e-5)  # the jitter may take a capped wait past the minute
    drawn = iter([0.0, 0.5, 0.999999])
    q: WorkQueue[str] = WorkQueue(rand=lambda: next(drawn))
    assert [q.retry("a") for _ in range(3)] == pytest.approx([0.4, 1.0, 2.4], rel=1e-5)  # the random source is the queue's
    q.close()


async def test_failures_back_off_per_key_and_success_resets():
    q = WorkQueue(backoff=Backoff(base=0.01, cap=0.05, jitter=(0.8, 1.2), jitter_past_cap=True))
    q.add("bad")
    q.add("good")
    bad = await q.get()
    delay = q.retry(bad)
    q.done(bad)
    assert 0.008 <= delay <= 0.012 and q.waiting == 1
    assert await q.get() == "good"  # not held up by the failing one
    q.done("good")
    assert await asyncio.wait_for(q.get(), 1) == "bad"
    assert 0.016 <= q.retry("bad") <= 0.024  # the second failure waits longer
    q.forget("bad")
    q.close()


def test_contains_sees_a_list_item_another_manager_added():
    want = {"spec": {"ports": [{"name": "registry", "port": 5000}], "type": "ClusterIP"}}
    assert contains({"spec": {"ports": [{"name": "registry", "port": 5000, "protocol": "TCP"}], "type": "ClusterIP",
                              "clusterIP": "10.0.0.1"}}, want)
    assert not contains({"spec": {"ports": [{"name": "registry", "port": 5000}, {"name": "x", "port": 6000}],
                                  "type": "ClusterIP"}}, want)
    assert not contains({"spec": {"ports": [{"name": "registry", "port": 6000}], "type": "ClusterIP"}}, want)
    assert contains({"data": {"k": "dg=="}}, {"stringData": {"k": "v"}})  # written as stringData, read back as data
    assert contains({"env": [{"name": "A"}]}, {"env": [{"name": "A", "value": ""}]})  # an empty value is dropped
    assert difference({"data": {"a": "1", "htpasswd": "x"}}, {"data": {"a": "1"}}) == "data[htpasswd]"  # a key left over
    assert difference({"spec": {"ports": [{"name": "registry", "port": 6000}]}}, want) == "spec.ports[0].port"
