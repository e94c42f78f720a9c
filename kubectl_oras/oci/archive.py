"""Directories as reproducible tar+gzip layers, and their safe unpacking.

Packing is deterministic (sorted entries, fixed mtime/owner, gzip without name or time), so an
unchanged directory re-pushes to the same digest and the registry can skip the upload.
Member names carry the directory's title as prefix (``name/…``), as the Go ``oras`` CLI writes
and expects them.
"""

from __future__ import annotations

import gzip
import hashlib
import heapq
import os
import shutil
import stat
import tarfile
import tempfile
import zlib
from collections.abc import Iterable, Iterator
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


class _Readable(Protocol):
    def read(self, size: int = ..., /) -> bytes: ...


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
    members: list[tarfile.TarInfo]

    def addfile(self, tarinfo: tarfile.TarInfo, fileobj: _Readable | None = None) -> None:
        """As tarfile's, without keeping the member: tarfile holds every one it wrote (~0.45 KB
        each, 146 MB for 300,000 files), which an archive only written never reads back."""
        super().addfile(tarinfo, fileobj)
        self.members.clear()

    def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self.fileobj.write(tarfile.NUL * (tarfile.BLOCKSIZE * 2))


SORT_RUN = 10_000  # names of one directory sorted in memory at once; a directory with more is sorted in runs
MERGE_WIDTH = 16  # runs of one size merged into one of the next size (each an open file while it lasts)
RUN_READ = 2048  # bytes read from a run at a time: a few hundred names held per run


def _sorted_names(path: str) -> Iterator[str]:
    """The names in the directory ``path``, sorted, holding at most ``SORT_RUN`` of them in memory.

    A directory with more is sorted in runs of ``SORT_RUN`` names, each kept in an unnamed
    temporary file; every ``MERGE_WIDTH`` runs of one size are merged into one run of the next
    size, and the last runs are merged as they are read. A million files in one directory cost
    a few megabytes of disk and about 30 open files instead of a hundred megabytes of memory.
    """
    levels: list[list[IO[bytes]]] = []  # levels[k]: runs of SORT_RUN * MERGE_WIDTH**k names
    chunk: list[str] = []
    try:
        with os.scandir(path) as entries:
            for entry in entries:
                chunk.append(entry.name)
                if len(chunk) >= SORT_RUN:
                    chunk.sort()
                    _add_run(levels, _spill(chunk))
                    chunk = []
        chunk.sort()
        runs = [run for level in levels for run in level]
        yield from heapq.merge(chunk, *(_read_run(run) for run in runs)) if runs else chunk
    finally:
        for level in levels:
            _close(level)


def _add_run(levels: list[list[IO[bytes]]], run: IO[bytes]) -> None:
    level = 0
    while True:
        if level == len(levels):
            levels.append([])
        levels[level].append(run)
        if len(levels[level]) < MERGE_WIDTH:
            return
        run = _spill(heapq.merge(*(_read_run(r) for r in levels[level])))
        _close(levels[level])
        levels[level] = []
        level += 1


def _spill(names: Iterable[str]) -> IO[bytes]:
    """Sorted names in a temporary file, each ended by NUL (the one byte no name holds)."""
    run = tempfile.TemporaryFile(prefix="kubectl-oras-names-")
    block: list[bytes] = []
    for name in names:
        block.append(os.fsencode(name) + b"\0")
        if len(block) >= 1024:
            run.write(b"".join(block))
            block = []
    run.write(b"".join(block))
    run.seek(0)
    return run


def _read_run(run: IO[bytes]) -> Iterator[str]:
    rest = b""
    while block := run.read(RUN_READ):
        *names, rest = (rest + block).split(b"\0")
        for name in names:
            yield os.fsdecode(name)


def _close(runs: list[IO[bytes]]) -> None:
    for run in runs:
        run.close()


def _walk_sorted(root: str) -> Iterator[tuple[str, os.stat_result]]:
    """Every entry under ``root`` with its lstat: parents before children, siblings in sorted order.

    A loop over a stack of the open directories' listings, not a recursion: a tree 1,200 deep
    walks like any other, and memory holds only those listings (``_sorted_names``), never the
    names already archived.
    """
    stack: list[tuple[str, Iterator[str]]] = [("", _sorted_names(root))]
    while stack:
        rel, names = stack[-1]
        name = next(names, None)
        if name is None:
            stack.pop()
            continue
        child = f"{rel}/{name}" if rel else name
        st = os.lstat(os.path.join(root, child))
        yield child, st
        if stat.S_ISDIR(st.st_mode):
            stack.append((child, _sorted_names(os.path.join(root, child))))


def _tarinfo(name: str, st: os.stat_result) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name)
    info.mode = stat.S_IMODE(st.st_mode) & 0o777
    info.mtime = FIXED_MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def pack_directory(source: str, dest: IO[bytes], *, name: str) -> PackedDirectory:
    """Write ``source`` as a tar.gz to ``dest`` with members under ``name/``.

    Memory does not grow with the number of files: the tree is walked as it is archived
    (``_walk_sorted``) and no member is kept; only the symbolic links are, to be checked once
    all are known. Links are kept as links when they stay inside ``source``; one that points
    outside (absolute, climbing out with '..', or through other links, like ``u -> d/..`` beside
    ``d -> .``) raises LocalPathError naming it: unpack refuses the same links, so the producer
    fails, not the consumer (docs/outputs.md).
    """
    if not os.path.isdir(source):
        raise LocalPathError(f"{source}: not a directory")
    links: dict[str, str] = {}
    layer = _HashingWriter(dest)
    with gzip.GzipFile(filename="", fileobj=layer, mode="wb", compresslevel=COMPRESS_LEVEL, mtime=0) as gz:
        tar_stream = _HashingWriter(gz)
        with _ExactTarFile(fileobj=cast(IO[bytes], tar_stream), mode="w", format=tarfile.PAX_FORMAT,
                           copybufsize=COPY_BUFFER) as tar:
            root = _tarinfo(name + "/", os.stat(source))
            root.type = tarfile.DIRTYPE
            tar.addfile(root)
            for rel, st in _walk_sorted(source):
                path = os.path.join(source, rel)
                info = _tarinfo(f"{name}/{rel}", st)
                if stat.S_ISLNK(st.st_mode):
                    info.type = tarfile.SYMTYPE
                    info.linkname = links[rel] = os.readlink(path)
                    tar.addfile(info)
                elif stat.S_ISDIR(st.st_mode):
                    info.type = tarfile.DIRTYPE
                    info.name += "/"
                    tar.addfile(info)
                elif stat.S_ISREG(st.st_mode):
                    info.size = st.st_size
                    try:  # O_NOFOLLOW: a file swapped for a link since its lstat is not followed
                        with os.fdopen(os.open(path, os.O_RDONLY | os.O_NOFOLLOW), "rb") as f:
                            tar.addfile(info, f)
                    except OSError as e:
                        raise LocalPathError(f"{path}: cannot read: {e.strerror}") from e
                else:
                    raise LocalPathError(f"{path}: cannot archive a socket, fifo or device file")
    _refuse_links_out(source, links, name=name)
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
    directories = [top]  # a loop, not os.walk: it recurses, and a tree 1,200 deep passes Python's limit
    while directories:
        with os.scandir(directories.pop()) as entries:
            for entry in entries:
                if entry.is_symlink():
                    links[os.path.relpath(entry.path, top).replace(os.sep, "/")] = os.readlink(entry.path)
                elif entry.is_dir(follow_symlinks=False):
                    directories.append(entry.path)
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
    if os.path.dirname(os.path.join(staging, rel)) in safe_dirs:
        return  # its parent was made or checked, and every directory above it before that
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
