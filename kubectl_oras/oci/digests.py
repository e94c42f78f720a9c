"""Content digests as OCI names them: ``algorithm:hex`` (sha256, or sha512)."""

from __future__ import annotations

import hashlib
from typing import Any

ALGORITHMS = ("sha256", "sha512")
IO_BLOCK = 1 << 20  # the block every file read and socket write of the engine uses


def digest_of(hasher: Any) -> str:
    """The digest a running ``hashlib`` hash stands for."""
    return f"{hasher.name}:{hasher.hexdigest()}"


def sha256_digest(data: bytes) -> str:
    return digest_of(hashlib.sha256(data))


def hasher_for(digest: str) -> Any:
    """A new hash of the algorithm ``digest`` names; ValueError for one we do not support."""
    algorithm = digest.split(":", 1)[0]
    if algorithm not in ALGORITHMS:
        raise ValueError(f"unsupported digest algorithm {algorithm!r}")
    return hashlib.new(algorithm)


def hash_file(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(IO_BLOCK):
            h.update(chunk)
    return digest_of(h)
