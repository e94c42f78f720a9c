"""Remember the digests of big files we have pushed, keyed by what stat says about them.

A big file is hashed while it streams to the registry, so before its first push we do not know
its digest and cannot ask whether the registry already has it. After that push we do: an
unchanged file (same path, inode, size, mtime and ctime to the nanosecond) is then checked with
one HEAD and skipped, without reading it.
"""

from __future__ import annotations

import hashlib
import os


def default_cache_dir() -> str:
    root = os.environ.get("KUBECTL_ORAS_CACHE") or os.path.join(
        os.environ.get("XDG_CACHE_HOME") or os.path.expanduser("~/.cache"), "kubectl-oras"
    )
    return os.path.join(root, "digests")


class DigestCache:
    def __init__(self, directory: str | None = None) -> None:
        self.directory = directory or default_cache_dir()

    def _entry(self, path: str, st: os.stat_result) -> str:
        key = f"{os.path.realpath(path)}\0{st.st_dev}\0{st.st_ino}\0{st.st_size}\0{st.st_mtime_ns}\0{st.st_ctime_ns}"
        return os.path.join(self.directory, hashlib.sha256(key.encode()).hexdigest())

    def get(self, path: str, st: os.stat_result) -> str | None:
        try:
            with open(self._entry(path, st)) as f:
                digest = f.read().strip()
        except OSError:
            return None
        return digest if digest.startswith("sha256:") and len(digest) == 71 else None

    def put(self, path: str, st: os.stat_result, digest: str) -> None:
        """Best effort: a cache we cannot write is only a cache miss next time."""
        entry = self._entry(path, st)
        try:
            os.makedirs(self.directory, exist_ok=True)
            tmp = f"{entry}.{os.getpid()}.tmp"
            with open(tmp, "w") as f:
                f.write(digest)
            os.replace(tmp, entry)
        except OSError:
            pass
