"""Stopping asyncio tasks (kubectl_oras/tasks.py: cancel_and_wait): every task cancelled and waited
for, their cancellation no error, any other failure handed back, and the caller's own cancel
passed on only once the tasks have ended."""

from __future__ import annotations

import asyncio

import pytest

from kubectl_oras.tasks import cancel_and_wait


async def forever() -> None:
    await asyncio.sleep(3600)


async def test_every_task_is_cancelled_and_done_when_it_returns():
    tasks = [asyncio.create_task(forever()) for _ in range(3)]
    await asyncio.sleep(0)
    assert await cancel_and_wait(tasks) == []
    assert all(task.cancelled() for task in tasks)
    assert await cancel_and_wait([]) == []


async def test_a_task_that_ignores_one_cancel_is_waited_for_until_it_ends():
    cleaned = asyncio.Event()

    async def stubborn() -> str:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            pass  # ignores the cancel, and tidies up for a while
        await asyncio.sleep(0.05)
        cleaned.set()
        return "tidied"

    task = asyncio.create_task(stubborn())
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


async def test_a_cancel_of_the_caller_cancels_the_tasks_again_and_waits_for_them_first():
    ignored = asyncio.Event()
    ended = asyncio.Event()

    async def ignores_one_cancel() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            ignored.set()
        try:
            await asyncio.sleep(3600)  # only a second cancel ends this
        finally:
            await asyncio.sleep(0.05)
            ended.set()

    task = asyncio.create_task(ignores_one_cancel())
    await asyncio.sleep(0)
    stopping = asyncio.create_task(cancel_and_wait([task]))
    await asyncio.wait_for(ignored.wait(), 1)
    assert not stopping.done()  # still waiting for the task
    stopping.cancel()
    with pytest.raises(asyncio.CancelledError):
        await stopping
    assert ended.is_set() and task.cancelled()  # none left pending behind the caller


async def test_a_timeout_bounds_the_wait_and_leaves_the_rest_running():
    release = asyncio.Event()

    async def holds_on() -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            await release.wait()

    task = asyncio.create_task(holds_on())
    await asyncio.sleep(0)
    assert await cancel_and_wait([task], timeout=0.05) == []
    assert not task.done()
    release.set()
    await asyncio.wait_for(task, 1)
