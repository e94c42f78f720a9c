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


def write_marker(path: str, *lines: str) -> None:
    """``lines`` (each kept to one line) at ``path``, atomically, readable to a wrapper running as another user."""
    directory, name = os.path.split(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{name}.", suffix=".tmp", dir=directory)  # O_EXCL: never follows
    try:
        with os.fdopen(fd, "w") as f:
            os.fchmod(f.fileno(), 0o644)
            f.write("".join(line.replace("\n", " ") + "\n" for line in lines))
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


def read_marker(path: str, limit: int) -> str | None:
    """At most ``limit`` bytes of the regular file at ``path``, opened without following a link or
    blocking on a fifo; None when there is no such file (absent, or something else put there)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    except OSError:
        return None
    try:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return os.read(fd, limit).decode("utf-8", "replace")
    except OSError:
        return None
    finally:
        os.close(fd)


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
