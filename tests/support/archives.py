"""Hand-made tar.gz archives, including hostile ones, for the unpacking tests."""

from __future__ import annotations

import io
import tarfile


def tar_gz(*members: tuple[str, str, object]) -> bytes:
    """Members as (kind, name, arg): ("file", name, bytes), ("dir", name, None),
    ("sym", name, target), ("hard", name, target), ("fifo", name, None)."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for kind, name, arg in members:
            info = tarfile.TarInfo(name)
            if kind == "file":
                assert isinstance(arg, bytes)
                info.size = len(arg)
                tar.addfile(info, io.BytesIO(arg))
                continue
            info.type = {"dir": tarfile.DIRTYPE, "sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}[kind]
            if kind in ("sym", "hard"):
                info.linkname = str(arg)
            tar.addfile(info)
    return buf.getvalue()
