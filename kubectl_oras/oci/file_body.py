"""A request body read from a file: streamed in 1 MiB blocks, hashed on the way out if asked."""

from __future__ import annotations

import hashlib
import queue
import threading

from .digests import IO_BLOCK, digest_of
from .progress import BytesMoved


class FileBody:
    """A request body read from a file, hashing and reporting progress as it is sent.

    With ``hashing``, a read-ahead thread reads and hashes 1 MiB blocks while the sending
    thread writes earlier ones to the socket (hashlib and socket writes both release the GIL),
    so hashing a big blob costs no wall time; at most ``READ_AHEAD`` blocks are held in memory.
    """

    READ_AHEAD = 4

    def __init__(self, path: str, size: int, *, progress: BytesMoved | None = None, hashing: bool = False) -> None:
        self._file = open(path, "rb")
        self._name = path
        self._size = size
        self._left = size
        self._progress = progress
        self._pending = b""
        self.hash = hashlib.sha256() if hashing else None
        self._blocks: queue.Queue[bytes | BaseException] | None = None
        self._stop = threading.Event()
        if hashing:
            self._blocks = queue.Queue(self.READ_AHEAD)
            self._reader = threading.Thread(target=self._read_ahead, name="hash-ahead", daemon=True)
            self._reader.start()

    def __len__(self) -> int:
        return self._size

    def _read_ahead(self) -> None:
        assert self._blocks is not None and self.hash is not None
        left = self._size
        try:
            while left > 0 and not self._stop.is_set():
                block = self._file.read(min(IO_BLOCK, left))
                if not block:
                    raise OSError(f"{self._name}: file shrank while it was being pushed")
                self.hash.update(block)
                left -= len(block)
                self._put(block)
        except BaseException as e:  # handed to the sending thread, which raises it
            self._put(e)

    def _put(self, item: bytes | BaseException) -> None:
        assert self._blocks is not None
        while not self._stop.is_set():
            try:
                self._blocks.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _next_block(self, n: int) -> bytes:
        if self._blocks is None:
            data = self._file.read(n)
            if not data:
                raise OSError(f"{self._name}: file shrank while it was being pushed")
            return data
        item = self._blocks.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n < 0 else min(n, self._left)
        data = self._pending or self._next_block(n)
        data, self._pending = data[:n], data[n:]
        self._left -= len(data)
        if self._progress:
            self._progress(len(data))
        return data

    def digest(self) -> str:
        """The sha256 of everything sent; valid once the body has been read to the end."""
        assert self.hash is not None and self._left == 0
        if self._blocks is not None:
            self._reader.join()
        return digest_of(self.hash)

    def close(self) -> None:
        self._stop.set()
        if self._blocks is not None:
            self._reader.join()
        self._file.close()

    def __enter__(self) -> FileBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
