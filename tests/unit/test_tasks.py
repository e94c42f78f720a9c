"""Stopping asyncio tasks (kubectl_oras/tasks.py: cancel_and_wait): every task cancelled and waited
for, their cancellation no error, any other failure handed back, and the caller's own cancel
passed on at once, the tasks cancelled again."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

import pytest

from kubectl_oras.tasks import cancel_and_wait

T = TypeVar("T")


async def forever() -> None:
    await asyncio.sleep(3600)


async def ignoring_a_cancel(then: Callable[[], Awaitable[T]]) -> T:
    """Wait to be cancelled, take no notice of it, and carry on with ``then``."""
    try:
        await forever()
    except asyncio.CancelledError:
        pass
    return await then()


async def test_every_task_is_cancelled_and_done_when_it_returns():
    tasks = [asyncio.create_task(forever()) for _ in range(3)]
    await asyncio.sleep(0)
    assert await cancel_and_wait(tasks) == []
    assert all(task.cancelled() for task in tasks)
    assert await cancel_and_wait([]) == []


async def test_a_task_that_ignores_one_cancel_is_waited_for_until_it_ends():
    cleaned = asyncio.Event()

    async def tidy_up() -> str:
        await asyncio.sleep(0.05)
        cleaned.set()
        return "tidied"

    task = asyncio.create_task(ignoring_a_cancel(tidy_up))
    await asyncio.sleep(0)
    assert await cancel_and_wait([task]) == []
    assert cleaned.is_set() and task.result() == "tidied"


async def test_a_failure_before_the_cancel_or_during_it_is_handed_back_in_order():
    async def fails_first() -> None:
        raise ValueError("before the cancel")

    async def fails_on_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            raise RuntimeError("while stopping") from None

    failed, running, fails_later = (asyncio.create_task(fails_first()), asyncio.create_task(forever()),
                                    asyncio.create_task(fails_on_cancel()))
    await asyncio.sleep(0)
    assert failed.done()
    errors = await cancel_and_wait([fails_later, running, failed])
    assert [type(e) for e in errors] == [RuntimeError, ValueError]
    assert str(errors[0]) == "while stopping" and running.cancelled()


async def test_a_task_given_twice_is_waited_for_once():
    task = asyncio.create_task(forever())
    await asyncio.sleep(0)
    assert await cancel_and_wait([task, task]) == [] and task.cancelled()


async def test_a_cancel_of_the_caller_cancels_the_tasks_again_and_goes_on_at_once():
    ignored = asyncio.Event()
    ended = asyncio.Event()

    async def until_a_second_cancel() -> None:
        ignored.set()
        try:
            await forever()
        finally:
            await asyncio.sleep(0.05)
            ended.set()

    task = asyncio.create_task(ignoring_a_cancel(until_a_second_cancel))
    await asyncio.sleep(0)
    stopping = asyncio.create_task(cancel_and_wait([task]))
    await asyncio.wait_for(ignored.wait(), 1)
    assert not stopping.done()  # still waiting for the task
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert not ended.is_set()  # the caller did not wait for the task's clean-up...
    await asyncio.wait_for(ended.wait(), 1)  # ...which the second cancel started
    await asyncio.sleep(0)
    assert task.cancelled()


async def test_a_task_that_ignores_every_cancel_does_not_hold_up_a_cancelled_caller():
    """Leader election's release and the controller's exit are cancelled when the process stops:
    a leader's work that swallows every cancel must not keep them from returning."""
    release = asyncio.Event()

    async def stubborn() -> None:
        while not release.is_set():
            try:
                await asyncio.sleep(10)
            except asyncio.CancelledError:
                continue

    task = asyncio.create_task(stubborn())
    await asyncio.sleep(0)
    stopping = asyncio.create_task(cancel_and_wait([task]))
    await asyncio.sleep(0.05)
    stopping.cancel()
    done, _ = await asyncio.wait({stopping}, timeout=1)
    assert done == {stopping} and stopping.cancelled()
    release.set()
    task.cancel()
    await asyncio.wait({task}, timeout=1)


async def test_a_timeout_bounds_the_wait_and_leaves_the_rest_running():
    release = asyncio.Event()

    task = asyncio.create_task(ignoring_a_cancel(release.wait))
    await asyncio.sleep(0)
    assert await cancel_and_wait([task], timeout=0.05) == []
    assert not task.done()
    release.set()
    await asyncio.wait_for(task, 1)


async def test_the_waits_on_a_stop_leave_no_waiter_behind():
    """Leader election's wait for its work or a stop, and the leader's wait for an informer that
    lists or is refused, start a waiter task each time: it is ended before they return (it was
    once only cancelled, and lingered until the loop next ran)."""
    from types import SimpleNamespace

    from controller.runtime.controller_process import _listed_or_refused
    from kubectl_oras.kube.lease import _first_of

    work = asyncio.create_task(forever())
    before = asyncio.all_tasks()
    await _first_of(work, asyncio.Event(), timeout=0.01)
    assert asyncio.all_tasks() == before
    refused = asyncio.Event()
    refused.set()
    await _listed_or_refused(SimpleNamespace(synced=asyncio.Event()), refused)  # type: ignore[arg-type]
    assert asyncio.all_tasks() == before
    await cancel_and_wait([work])
