"""Stopping asyncio tasks: cancel a set of them and wait until every one has ended.

One helper for every place that stops tasks it started (the informer, the port-forward's tunnel
and streams, leader election, the controller's loops, the webhook server's connections), so that
none is left pending behind its owner and no failure is lost on the way.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from typing import Any


async def cancel_and_wait(tasks: Iterable[asyncio.Future[Any]], *, timeout: float | None = None) -> list[BaseException]:
    """Cancel every one of ``tasks`` and wait until all have ended; return how the failed ones failed.

    What it guarantees:

    - every task is cancelled (a task already done is left as it is), then waited for: on return
      each one is done, unless ``timeout`` seconds went by first (then the ones still running,
      cancelled but busy in their clean-up, are left to end on their own);
    - a task's own cancellation is no error; any other exception a task ended with (raised
      before it was cancelled, or while it handled the cancel) is returned, in the order of
      ``tasks``, and counts as retrieved: the caller decides whether to log it, raise it or let it
      go. A task that ignores a cancel and returns is just done;
    - if the caller is itself cancelled during the wait, the tasks are cancelled again and the
      caller's CancelledError goes on at once: they end on their own, and a task that ignores
      every cancel never holds up a caller that is being stopped (without a ``timeout``, only
      such a task can keep an uncancelled caller waiting).
    """
    stopping = list(dict.fromkeys(tasks))
    if not stopping:
        return []
    for task in stopping:
        task.cancel()
    try:
        await asyncio.wait(stopping, timeout=timeout)
    except asyncio.CancelledError:
        for task in stopping:
            task.cancel()
        raise
    return [error for task in stopping
            if task.done() and not task.cancelled() and (error := task.exception()) is not None]
