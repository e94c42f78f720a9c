"""Run the layers of one push or pull side by side, and stop them all at the first failure.

Used instead of ``with ThreadPoolExecutor(...)``, whose exit waits for every thread: a Ctrl-C
(or one layer's failure) would otherwise wait for the other downloads to finish, minutes on a
big artifact. Here the first failure sets ``cancel`` (each worker checks it between blocks),
drops what has not started, waits ``grace`` seconds for running workers to notice, and is
raised. A worker still blocked on the network is left behind: it can no longer write anything
(``cancel`` is set) and the caller's clean-up runs at once.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from typing import Any, TypeVar

from .errors import Cancelled

T = TypeVar("T")
R = TypeVar("R")
GRACE_SECONDS = 2.0


def run_all(work: Callable[[T, threading.Event], R], items: Sequence[T], *, concurrency: int, name: str,
            grace: float = GRACE_SECONDS) -> list[R]:
    """``work(item, cancel)`` for every item, several at once; the results in the items' order."""
    cancel = threading.Event()
    pool = ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix=name)
    futures: list[Future[R]] = []
    try:
        futures = [pool.submit(work, item, cancel) for item in items]
        wait(futures, return_when=FIRST_EXCEPTION)
        for future in futures:
            if future.done() and future.exception() is not None:
                raise future.exception()  # type: ignore[misc]
        return [future.result() for future in futures]
    except BaseException:
        cancel.set()
        for future in futures:
            future.cancel()
        wait(futures, timeout=grace)
        raise
    finally:
        pool.shutdown(wait=False)


class StoppableFile:
    """A file whose every read and write first checks ``cancel``: a long local step (packing or
    unpacking a big directory) stops at the next block once the operation is stopped."""

    def __init__(self, file: Any, cancel: threading.Event, *, what: str) -> None:
        self._file = file
        self._cancel = cancel
        self._what = what

    def _check(self) -> None:
        if self._cancel.is_set():
            raise Cancelled(f"{self._what}: stopped")

    def read(self, size: int = -1) -> bytes:
        self._check()
        return self._file.read(size)

    def write(self, data: Any) -> int:
        self._check()
        return self._file.write(data)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._file, name)
