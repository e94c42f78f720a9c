"""What the transfer engine tells about bytes moved; who draws it (a bar, a log) is the caller's."""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol

# Told the bytes one request moved (negative when a retry rewinds): what the client and a request
# body report to. A Progress is one.
BytesMoved = Callable[[int], None]


class Progress(Protocol):
    """Counts a whole push's or pull's bytes: told the bytes moved (negative when a retry rewinds),
    and each total to expect as it becomes known."""

    def __call__(self, n: int) -> None: ...

    def add_total(self, n: int) -> None: ...
