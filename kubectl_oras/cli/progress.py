"""A one-line transfer progress bar on stderr, shown only on a terminal and for big transfers."""

from __future__ import annotations

import sys
import threading
import time
from typing import TextIO

SHOW_ABOVE = 4 << 20  # bytes: small transfers finish before a bar is worth drawing
REFRESH = 0.1


def human_bytes(n: float) -> str:
    for unit in ("B", "KiB", "MiB", "GiB"):
        if abs(n) < 1024 or unit == "GiB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} GiB"


class TransferProgress:
    """Thread-safe byte counter; call it with the bytes moved (negative when a retry rewinds)."""

    def __init__(self, label: str, *, stream: TextIO | None = None, enabled: bool | None = None) -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.total = 0
        self.done = 0
        self._lock = threading.Lock()
        self._start = time.monotonic()
        self._last = 0.0
        self._drawn = False

    def add_total(self, n: int) -> None:
        with self._lock:
            self.total += n

    def __call__(self, n: int) -> None:
        with self._lock:
            self.done += n
            now = time.monotonic()
            if self.enabled and self.total >= SHOW_ABOVE and now - self._last >= REFRESH:
                self._last = now
                self._draw(now)

    def _draw(self, now: float) -> None:
        fraction = min(self.done / self.total, 1.0) if self.total else 0.0
        width = 24
        filled = int(fraction * width)
        rate = self.done / max(now - self._start, 1e-6)
        line = (f"\r{self.label} [{'#' * filled}{'.' * (width - filled)}] {fraction * 100:3.0f}% "
                f"{human_bytes(self.done)}/{human_bytes(self.total)} {human_bytes(rate)}/s")
        self.stream.write(line + "\x1b[K")
        self.stream.flush()
        self._drawn = True

    def close(self) -> None:
        with self._lock:
            if self._drawn:
                self._draw(time.monotonic())
                self.stream.write("\n")
                self.stream.flush()
