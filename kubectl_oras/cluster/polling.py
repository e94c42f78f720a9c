"""Waiting on the cluster by polling: one loop for every `--wait` (a cache to be Ready, the
controller to be available), with a progress line whenever what is awaited changes."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable

# Told each line of a wait: what is awaited now (`waiting: …`), and what was done (`applied …`).
StatusLine = Callable[[str], None]


async def poll(look: Callable[[], Awaitable[str | None]], progress: StatusLine, *, timeout: float,
               interval: float = 1.0) -> str | None:
    """Call ``look`` until it returns None (done); None then, or after ``timeout`` seconds the
    last thing it said was missing. Each new answer is a progress line, ``waiting: …``."""
    deadline = time.monotonic() + timeout
    said = ""
    while True:
        missing = await look()
        if missing is None:
            return None
        if missing != said:
            progress(f"waiting: {missing}")
            said = missing
        if time.monotonic() >= deadline:
            return missing
        await asyncio.sleep(min(interval, max(0.0, deadline - time.monotonic())))
