"""Directories as reproducible tar+gzip layers, and their safe unpacking.

Packing is deterministic (sorted entries, fixed mtime/owner, gzip without name or time), so an
unchanged directory re-pushes to the same digest and the registry can skip the upload.
Member names carry the directory's title as prefix (``name/…``), as the Go ``oras`` CLI writes
and expects them.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import stat
import tarfile
import zlib
from dataclasses import dataclass
from typing import IO, Any, BinaryIO, Protocol, cast

from .digests import digest_of
from .errors import DigestMismatch, LocalPathError, UnsafePath
from .paths import is_within, link_escape, link_stays_inside, safe_relative_path

COMPRESS_LEVEL = 1  # zlib level 6 is ~35% slower on text and gains little for the artifacts we carry
FIXED_MTIME = 0
COPY_BUFFER = 1 << 20
STREAM_BUFFER = 64 << 10


@dataclass(frozen=True)
class PackedDirectory:
    digest: str  # of the compressed layer, as the manifest names it
    size: int
    tar_digest: str  # of the uncompressed tar: io.deis.oras.content.digest


class _Sink(Protocol):
    def write(self, data: Any, /) -> int: ...

    def flush(self) -> None: ...


class _HashingWriter:
    """A write-only file object that hashes and counts what passes to ``sink``."""

    def __init__(self, sink: _Sink | None) -> None:
        self.sink = sink
        self.hash = hashlib.sha256()
        self.size = 0

    def write(self, data: bytes) -> int:
        self.hash.update(data)
        self.size += len(data)
        if self.sink is not None:
            self.sink.write(data)
        return len(data)

    def flush(self) -> None:
        if self.sink is not None:
            self.sink.flush()

    def tell(self) -> int:
        return self.size


class _HashingReader:
    """A read-only file object that hashes what is read through it.

    It can also give the digest of a prefix of the stream, as long as the cut lies within the
    last few chunks read: the Go `oras` CLI hashes a tar only up to its end-of-archive marker,
    while tar writers may pad after it, so both digests are needed (see docs/artifacts.md).
    """

    KEEP = 4  # chunks held back from the running hash

    def __init__(self, source: BinaryIO) -> None:
        self.source = source
        self._hash = hashlib.sha256()
        self._pending: list[tuple[int, bytes]] = []
        self.position = 0

    def read(self, size: int = -1) -> bytes:
        data = self.source.read(size)
        if data:
            self._pending.append((self.position, data))
            self.position += len(data)
            if len(self._pending) > self.KEEP:
                self._hash.update(self._pending.pop(0)[1])
        return data

    def drain(self) -> None:
        while self.read(COPY_BUFFER):
            pass

    def digest_upto(self, cut: int) -> str | None:
        """sha256 of the first ``cut`` bytes, or None if they were hashed away already."""
        if self._pending and cut < self._pending[0][0]:
            return None
        h = self._hash.copy()
        for start, data in self._pending:
            if start >= cut:
                break
            h.update(data[: cut - start])
        return digest_of(h)

    def digest(self) -> str:
        return self.digest_upto(self.position) or ""


class _ExactTarFile(tarfile.TarFile):
    """A tar that ends right after its two zero blocks, without padding to a 10 KiB record.

    The Go `oras` CLI checks io.deis.oras.content.digest over the bytes its tar reader consumes,
    which stop at the end-of-archive marker; padding after it would fail that check.
    """

    closed: bool

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.fileobj.write(tarfile.NUL * (tarfile.BLOCKSIZE * 2))


def _walk_sorted(root: str) -> list[str]:
    """Relative paths under root, parents before children, siblings in byte order."""
    out: list[str] = []

    def visit(rel: str) -> None:
        path = os.path.join(root, rel) if rel else root
        for entry in sorted(os.listdir(path)):
            child = f"{rel}/{entry}" if rel else entry
            out.append(child)
            if os.path.isdir(os.path.join(root, child)) and not os.path.islink(os.path.join(root, child)):
                visit(child)

    visit("")
    return out


def _tarinfo(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode) & 0o777
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack_directory(source: str, dest: IO[bytes], *, name: str) -> PackedDirectory:
    """Write ``source`` as a tar.gz to ``dest`` with members under ``name/``.

    Links are kept as links when they stay inside ``source``; one that points outside (absolute,
    climbing out with '..', or through other links, like ``u -> d/..`` beside ``d -> .``) raises
    LocalPathError naming it: unpack refuses the same links, so the producer fails, not the
    consumer (docs/outputs.md).
    """
    if not os.path.isdir(source):
        raise LocalPathError(f"{source}: not a directory")
    entries = _walk_sorted(source)
    links = {rel: os.readlink(os.path.join(source, rel)) for rel in entries if os.path.islink(os.path.join(source, rel))}
    _refuse_links_out(source, links, name=name)
    layer = _HashingWriter(dest)
    with gzip.GzipFile(filename="", fileobj=layer, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0) as gz:
        tar_stream = _HashingWriter(gz)
        with _ExactTarFile(fileobj=cast(IO[bytes], tar_stream), mode="w", format=tarfile.PAX_FORMAT,
                           copybufsize=COPY_BUFFER) as tar:
            root = _tarinfo(name + "/", os.stat(source))
            root.type = tarfile.DIRTYPE
            tar.addfile(root)
            for rel in entries:
                path = os.path.join(source, rel)
                st = os.lstat(path)
                info = _tarinfo(f"{name}/{rel}", st)
                if stat.S_ISLNK(st.st_mode):
                    if rel not in links:  # became a link since the walk: not checked
                        raise LocalPathError(f"{path}: changed into a symbolic link while being archived")
                    info.type = tarfile.SYMTYPE
                    info.linkname = links[rel]
                    tar.addfile(info)
                elif stat.S_ISDIR(st.st_mode):
                    info.type = tarfile.DIRTYPE
                    info.name += "/"
                    tar.addfile(info)
                elif stat.S_ISREG(st.st_mode):
                    info.size = st.st_size
                    try:  # O_NOFOLLOW: a file swapped for a link since the walk is not followed
                        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
                            tar.addfile(info, f)
                    except OSError as e:
                        raise LocalPathError(f"{path}: cannot read: {e.strerror}") from e
                else:
                    raise LocalPathError(f"{path}: cannot archive a socket, fifo or device file")
    return PackedDirectory(
        digest=digest_of(layer.hash),
        size=layer.size,
        tar_digest=digest_of(tar_stream.hash),
    )


def _refuse_links_out(source: str, links: dict[str, str], *, name: str) -> None:
    """What unpack refuses, refused at push: the producer fails, not the consumer."""
    for rel, target in links.items():
        why = ""
        path = os.path.join(source, rel)
        if not link_stays_inside(rel, target):
            why = f"points outside {name!r}"
        elif (chain := link_escape(rel, links)) is not None:
            why = f"leads outside {name!r}{_through(chain, links, name=name)}"
        elif not is_within(path, source):
            why = f"leads to {os.path.realpath(path)}, outside {name!r}"
        if why:
            raise LocalPathError(
                f"{name}/{rel} is a symbolic link to {target!r}, which {why}; "
                "an artifact keeps only links that stay inside its directory (copy the file in instead)"
            )


def _through(chain: list[str], links: dict[str, str], *, name: str) -> str:
    """" through the links a -> 'x', b -> 'y'": the other links a link's lookup followed."""
    others = [f"{name}/{link} -> {links[link]!r}" for link in chain[1:]]
    return " through the links " + ", ".join(others) if others else ""


def unpack_directory(archive: BinaryIO, staging: str, *, name: str, expected_tar_digest: str | None) -> str:
    """Unpack a tar.gz layer titled ``name`` into the empty directory ``staging``.

    Returns ``staging/name``. Every member must lie under ``name/``; links must resolve inside it.
    Raises UnsafePath or DigestMismatch; the caller removes ``staging`` on error.
    """
    top = os.path.join(staging, name)
    reader = _HashingReader(gzip.GzipFile(fileobj=archive, mode="rb"))  # type: ignore[arg-type]
    dir_modes: list[tuple[str, int]] = []
    safe_dirs: set[str] = set()  # real directories made or checked under staging (never replaced later)
    try:
        # A small stream buffer: tarfile re-slices its whole buffer on every 512-byte header read.
        with tarfile.open(fileobj=reader, mode="r|", bufsize=STREAM_BUFFER) as tar:  # type: ignore[call-overload]
            for member in tar:
                _unpack_member(tar, member, staging=staging, name=name, dir_modes=dir_modes, safe_dirs=safe_dirs)
            end_marker = tar.offset + 2 * tarfile.BLOCKSIZE
        reader.drain()
    except (tarfile.TarError, EOFError, gzip.BadGzipFile, zlib.error) as e:
        raise DigestMismatch(f"directory layer {name!r} is not a valid tar.gz archive: {e}") from e
    if not os.path.isdir(top) or os.path.islink(top):
        os.makedirs(top, exist_ok=True)  # an archive of an empty directory may carry no entries
    if expected_tar_digest:
        whole = reader.digest()
        if expected_tar_digest not in (whole, reader.digest_upto(end_marker)):
            raise DigestMismatch(
                f"directory layer {name!r}: unpacked tar has digest {whole}, annotation says {expected_tar_digest}"
            )
    _refuse_links_out_of(top, name=name)
    for path, mode in reversed(dir_modes):
        os.chmod(path, mode | 0o700)
    return top


def _refuse_links_out_of(top: str, *, name: str) -> None:
    """Every link of the unpacked tree, followed together with the others, must stay inside ``top``.

    Each link's own text was checked as it came; a chain (``d -> .``, ``u -> d/..``) only shows
    once all are there.
    """
    links: dict[str, str] = {}
    for dirpath, dirnames, filenames in os.walk(top):  # does not follow links
        for entry in dirnames + filenames:
            path = os.path.join(dirpath, entry)
            if os.path.islink(path):
                links[os.path.relpath(path, top).replace(os.sep, "/")] = os.readlink(path)
    for rel, target in sorted(links.items()):
        path = os.path.join(top, rel)
        chain = link_escape(rel, links)
        if chain is not None or not is_within(path, top):
            where = (_through(chain, links, name=name) if chain
                     else f" (to {os.path.relpath(os.path.realpath(path), os.path.realpath(top))})")
            raise UnsafePath(
                f"archive member {name + '/' + rel!r} is a symlink to {target!r}, which leads outside {name!r}{where}"
            )


def _make_parents(staging: str, rel: str, *, member: str, safe_dirs: set[str]) -> None:
    """Create the directories above ``staging/rel`` one level at a time, never through a link.

    Our pack never puts a member under a linked directory (it archives links as links), so a
    member that would be written through one is refused: a chain of links could lead anywhere.
    """
    path = staging
    for part in rel.split("/")[:-1]:
        path = os.path.join(path, part)
        if path in safe_dirs:
            continue
        try:
            st = os.lstat(path)
        except FileNotFoundError:
            os.mkdir(path)
        else:
            if stat.S_ISLNK(st.st_mode):
                raise UnsafePath(
                    f"archive member {member!r} would be written through the symlink "
                    f"{os.path.relpath(path, staging).replace(os.sep, '/')!r}; refusing to write through a link"
                )
            if not stat.S_ISDIR(st.st_mode):
                _refuse_over_file(path, member=member)
        safe_dirs.add(path)


def _refuse_over_file(path: str, *, member: str) -> None:
    if os.path.lexists(path):
        raise UnsafePath(f"archive member {member!r} needs a directory where the archive has a file")


def _unpack_member(tar: tarfile.TarFile, member: tarfile.TarInfo, *, staging: str, name: str, dir_modes: list,
                   safe_dirs: set[str]) -> None:
    rel = safe_relative_path(member.name, what=f"archive member of {name!r}")
    if rel != name and not rel.startswith(name + "/"):
        raise UnsafePath(f"archive member {member.name!r} is outside directory {name!r}")
    inner = rel[len(name) + 1 :]
    target = os.path.join(staging, rel)
    _make_parents(staging, rel, member=member.name, safe_dirs=safe_dirs)
    if member.isdir():
        if os.path.islink(target):
            os.unlink(target)
        if not os.path.isdir(target):
            _refuse_over_file(target, member=member.name)
            os.mkdir(target)
        safe_dirs.add(target)
        dir_modes.append((target, member.mode & 0o777))
        return
    if rel == name:
        raise UnsafePath(f"archive member {member.name!r}: the top of directory {name!r} must be a directory")
    if os.path.lexists(target):
        if os.path.isdir(target) and not os.path.islink(target):
            raise UnsafePath(f"archive member {member.name!r} would replace a directory of the same name")
        os.unlink(target)
    if member.issym():
        if not link_stays_inside(inner, member.linkname):
            raise UnsafePath(
                f"archive member {member.name!r} is a symlink to {member.linkname!r}, which points outside {name!r}"
            )
        os.symlink(member.linkname, target)
    elif member.islnk():
        source_rel = safe_relative_path(member.linkname, what=f"hard link target in {name!r}")
        if not source_rel.startswith(name + "/"):
            raise UnsafePath(
                f"archive member {member.name!r} is a hard link to {member.linkname!r}, which is outside {name!r}"
            )
        source = os.path.join(staging, source_rel)
        if not os.path.isfile(source) or os.path.islink(source) or not is_within(source, os.path.join(staging, name)):
            raise UnsafePath(f"archive member {member.name!r} is a hard link to {member.linkname!r}, not a file in {name!r}")
        os.link(source, target)
    elif member.isreg():
        src = tar.extractfile(member)
        assert src is not None
        fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
        with os.fdopen(fd, "wb") as out:
            shutil.copyfileobj(src, out, COPY_BUFFER)
        os.chmod(target, member.mode & 0o777)
    else:
        raise UnsafePath(f"archive member {member.name!r} is a device or fifo; refusing to create it")
