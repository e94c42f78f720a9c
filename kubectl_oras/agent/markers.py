"""Markers the agent writes into the share for the wrapper, and the fifo pokes that announce them.

The share is writable to the step, so nothing there is trusted: a marker goes to a new temporary
file of our own (never a name the step may have planted as a link) and is renamed into place,
and a wake fifo is opened without following a link or blocking, and written only if it is a fifo.
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile


def write_marker(path: str, text: str) -> None:
    """``text`` (one line) at ``path``, atomically, readable to a wrapper running as another user."""
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)  # O_EXCL: never follows
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o644)
            f.write(text.replace("\n", " ") + "\n")
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def wake(fifo: str, line: str = "") -> None:
    """Write a line (empty: only a wake-up) into the wrapper's wake fifo, if it holds it open
    (else nobody waits)."""
    try:
        fd = os.open(fifo, os.O_WRONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return
    try:
        if stat.S_ISFIFO(os.fstat(fd).st_mode):
            os.write(fd, line.replace("\n", " ").encode()[:4000] + b"\n")
    except OSError:
        pass
    finally:
        os.close(fd)
