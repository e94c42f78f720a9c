"""A work queue of cache keys, with client-go's workqueue semantics.

A key is queued at most once; a key being worked on is never handed to a second worker, and a
change that arrives meanwhile queues it again when the first is done (so no change is missed and
no cache is reconciled twice at once). Failures come back after a per-key exponential back-off,
so one cache that keeps failing never blocks another.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Callable, Hashable
from typing import Generic, TypeVar

from kubectl_oras.backoff import Backoff

Key = TypeVar("Key", bound=Hashable)

# A key's retries: 0.5 s doubling to a minute, each then scaled by 0.8 to 1.2 at random so that
# caches failing together come back apart (a capped one waits 48 to 72 s).
RETRY_BACKOFF = Backoff(base=0.5, cap=60.0, jitter=(0.8, 1.2), jitter_past_cap=True)


class WorkQueue(Generic[Key]):
    def __init__(self, *, backoff: Backoff = RETRY_BACKOFF, rand: Callable[[], float] = random.random) -> None:
        self._ready: asyncio.Queue[Key] = asyncio.Queue()
        self._queued: set[Key] = set()
        self._working: set[Key] = set()
        self._again: set[Key] = set()
        self._failures: dict[Key, int] = {}
        self._timers: dict[Key, asyncio.TimerHandle] = {}
        self.backoff, self._rand = backoff, rand

    def __len__(self) -> int:
        """Keys waiting for a worker (not those waiting out a back-off)."""
        return len(self._queued)

    @property
    def waiting(self) -> int:
        """Keys waiting out a back-off."""
        return len(self._timers)

    def add(self, key: Key) -> None:
        timer = self._timers.pop(key, None)
        if timer is not None:
            timer.cancel()
        if key in self._working:
            self._again.add(key)
        elif key not in self._queued:
            self._queued.add(key)
            self._ready.put_nowait(key)

    def add_after(self, key: Key, delay: float) -> None:
        if key in self._queued or key in self._timers:
            return
        loop = asyncio.get_running_loop()
        self._timers[key] = loop.call_later(delay, self._due, key)

    def _due(self, key: Key) -> None:
        self._timers.pop(key, None)
        self.add(key)

    def retry(self, key: Key) -> float:
        """Queue ``key`` again after its back-off; returns the delay."""
        failures = self._failures[key] = self._failures.get(key, 0) + 1
        delay = self.backoff.delay(failures, rand=self._rand)
        self.add_after(key, delay)
        return delay

    def forget(self, key: Key) -> None:
        """``key`` succeeded: its next failure starts the back-off afresh."""
        self._failures.pop(key, None)

    async def get(self) -> Key:
        key = await self._ready.get()
        self._queued.discard(key)
        self._working.add(key)
        return key

    def done(self, key: Key) -> None:
        self._working.discard(key)
        if key in self._again:
            self._again.discard(key)
            self.add(key)

    def close(self) -> None:
        for timer in self._timers.values():
            timer.cancel()
        self._timers.clear()
