"""Signals around the moments that must not be cut in two, and a clock that always rings.

Both work only in the main thread (Python runs signal handlers there); elsewhere they do nothing,
and the engine's own checks (cancel events, the transport's deadline) are what stop it.
"""

from __future__ import annotations

import os
import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from .errors import DeadlineExceeded

DEFERRED = (signal.SIGINT, signal.SIGTERM)
ALARM_GRACE = 0.5  # seconds after the deadline: the transport's own check usually answers first
# The longest a process timer is set for: Python refuses past about 292 years (nanoseconds in 64
# bits). Every duration a user gives is bounded far below it (durations.py); this is for callers.
ALARM_MAX = float(2**32)


def _in_main_thread() -> bool:
    return threading.current_thread() is threading.main_thread()


@contextmanager
def interrupts_deferred() -> Iterator[None]:
    """Ctrl-C or SIGTERM during the block takes effect when it ends, as it would have at its start.

    For the renames that place a pull's files: cut in the middle, the output directory would hold
    part of the artifact and the user's replaced files would be lost with the staging directory.
    """
    if not _in_main_thread():
        yield
        return
    received: list[int] = []
    previous: dict[int, Any] = {}
    for sig in DEFERRED:
        previous[sig] = signal.signal(sig, lambda signum, frame: received.append(signum))
    try:
        yield
    finally:
        for number, handler in previous.items():
            signal.signal(number, handler)
        if received:
            first = previous[received[0]]
            if callable(first):
                first(received[0], None)
            elif first == signal.SIG_DFL:
                os.kill(os.getpid(), received[0])


def arm_alarm(seconds: float, *, what: str) -> Any:
    """Raise DeadlineExceeded in the main thread once ``seconds`` have passed, whatever it waits on;
    returns the SIGALRM handler it replaced (``disarm_alarm`` puts it back).

    The backstop behind the transport's deadline checks: a registry that sends one byte every few
    seconds never trips a read timeout, and a blocked read does not look at the clock.
    """
    if not _in_main_thread():
        return None

    def ring(signum: int, frame: object) -> None:
        raise DeadlineExceeded(f"{what}: not done within the {seconds:g} s its timeout allows")

    previous = signal.signal(signal.SIGALRM, ring)
    signal.setitimer(signal.ITIMER_REAL, min(seconds + ALARM_GRACE, ALARM_MAX))
    return previous


def disarm_alarm(previous: Any) -> None:
    if previous is not None and _in_main_thread():
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


@contextmanager
def alarm_after(seconds: float | None, *, what: str) -> Iterator[None]:
    """``arm_alarm`` for the block (nothing when ``seconds`` is None)."""
    previous = arm_alarm(seconds, what=what) if seconds is not None else None
    try:
        yield
    finally:
        disarm_alarm(previous)
