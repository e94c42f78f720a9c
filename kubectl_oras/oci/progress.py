"""What the transfer engine tells about bytes moved; who draws it (a bar, a log) is the caller's."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """Counts bytes: called with the bytes moved (negative when a retry rewinds)."""

    def __call__(self, n: int) -> None: ...

    def add_total(self, n: int) -> None: ...
