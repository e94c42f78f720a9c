"""Pull an artifact into a directory: every blob verified, nothing placed until all are.

Blobs download (several at once) into a staging directory inside the output directory, after a
check that the output filesystem has room for them. Only when every digest has checked out are
the layers assembled there into one tree and moved into place with rename(2).

Placing merges into what the output directory holds, as the Go ``oras`` CLI does: a directory of
the artifact merges into a directory of the same name, its files replace same-named files, and
everything else of the user's stays (docs/artifacts.md has the whole table). Every destination is
checked before the first rename; a rename that still fails undoes the ones before it. A failed
pull leaves the output directory as it was.
"""

from __future__ import annotations

import contextlib
import errno
import filecmp
import fnmatch
import os
import shutil
import stat
import tempfile
import threading
from dataclasses import dataclass

from .archive import unpack_directory
from .client import RegistryClient
from .errors import LocalPathError, NotFound, RegistryError, UnsafePath, UnsupportedArtifact
from .manifest import (
    ANNOTATION_CONTENT_DIGEST,
    ANNOTATION_TITLE,
    ANNOTATION_UNPACK,
    DOCKER_LIST_MEDIA_TYPE,
    INDEX_MEDIA_TYPE,
    Blob,
    layers_of,
)
from .parallel import StoppableFile, run_all
from .paths import is_within, safe_relative_path
from .progress import Progress
from .reference import Reference
from .signals import interrupts_deferred

DEFAULT_CONCURRENCY = 4
STAGING_PREFIX = ".kubectl-oras-pull-"
NO_SPACE = (errno.ENOSPC, errno.EDQUOT)


@dataclass(frozen=True)
class PullItem:
    blob: Blob
    title: str  # safe relative path
    unpack: bool  # a directory layer to unpack


@dataclass(frozen=True)
class PulledPath:
    title: str
    path: str
    digest: str
    size: int
    directory: bool


@dataclass
class PullResult:
    reference: str
    digest: str
    files: list[PulledPath]
    skipped_untitled: int = 0


@dataclass(frozen=True)
class Move:
    """One rename that places the artifact: ``staged`` becomes ``final``.

    ``replaces``: a file or symlink is there now; it is set aside first, and put back if the
    pull fails.
    """

    staged: str
    final: str
    replaces: bool


def plan_pull(layers: list[Blob], *, include: list[str] | None = None, unpack: bool = True) -> tuple[list[PullItem], int]:
    """Which layers to write where. Refuses unsafe or duplicate titles before anything is fetched."""
    items: list[PullItem] = []
    untitled = 0
    seen: set[str] = set()
    for blob in layers:
        raw_title = blob.annotations.get(ANNOTATION_TITLE)
        if not raw_title:
            untitled += 1
            continue
        title = safe_relative_path(raw_title, what="layer title")
        is_dir = blob.annotations.get(ANNOTATION_UNPACK) == "true"
        if include and not any(fnmatch.fnmatchcase(title, pattern) for pattern in include):
            continue
        target = title if (unpack or not is_dir) else f"{title}.tar.gz"
        if target in seen:
            raise UnsafePath(f"two layers are titled {title!r}; refusing an ambiguous artifact")
        seen.add(target)
        items.append(PullItem(blob, target if not (is_dir and unpack) else title, is_dir and unpack))
    return items, untitled


# -- room on the output filesystem -----------------------------------------------------------------


def _mib(n: int) -> str:
    return f"{n / (1 << 20):.1f} MiB"


def check_free_space(outdir: str, needed: int, *, what: str) -> None:
    """Refuse to start a download the output filesystem has no room for (before anything is written)."""
    probe = os.path.abspath(outdir)
    while not os.path.exists(probe) and os.path.dirname(probe) != probe:
        probe = os.path.dirname(probe)
    try:
        st = os.statvfs(probe)
    except OSError:
        return  # cannot tell: the download itself will say
    if st.f_blocks == 0:
        return  # a filesystem that reports no size (some FUSE and network ones): cannot tell either
    available = st.f_bavail * st.f_frsize
    if needed > available:
        raise LocalPathError(
            f"{outdir}: not enough free space to {what}: the layers need {needed} bytes ({_mib(needed)}), "
            f"the filesystem has {available} bytes ({_mib(available)}) available"
        )


def _local_failure(e: OSError, *, outdir: str, title: str, what: str) -> LocalPathError | None:
    """A local write failure while fetching ``title`` as a one-line error; None when it is not one."""
    if e.errno is None:
        return None
    if e.errno in NO_SPACE:
        return LocalPathError(f"{outdir}: no space left on the device while writing {title!r} to {what} "
                              f"({e.strerror}); nothing was placed")
    return LocalPathError(f"{outdir}: cannot write {title!r} to {what}: {e.strerror}; nothing was placed")


# -- assembling the staged tree --------------------------------------------------------------------


def _is_dir(path: str) -> bool:
    return os.path.isdir(path) and not os.path.islink(path)


def _merge_staged(source: str, dest: str, *, rel: str) -> None:
    """Merge one layer into the staged tree (our own files): a later layer's file wins."""
    if not os.path.lexists(dest):
        os.rename(source, dest)
    elif _is_dir(source) and _is_dir(dest):
        for name in sorted(os.listdir(source)):
            _merge_staged(os.path.join(source, name), os.path.join(dest, name), rel=f"{rel}/{name}")
    elif _is_dir(source) or _is_dir(dest):
        raise UnsafePath(f"the artifact's layers disagree whether {rel!r} is a file or a directory; "
                         "refusing an ambiguous artifact")
    else:
        os.replace(source, dest)


def _stage_into_tree(staged: str, title: str, *, tree: str, wrap: str) -> None:
    """Put a fetched layer at ``tree/title``, with the directories on its path."""
    os.makedirs(os.path.join(wrap, os.path.dirname(title)), exist_ok=True)
    os.rename(staged, os.path.join(wrap, title))
    top = title.split("/", 1)[0]
    _merge_staged(os.path.join(wrap, top), os.path.join(tree, top), rel=top)


# -- placing it: check everything, then rename, undo on failure ------------------------------------


def plan_placement(tree: str, outdir: str) -> list[Move]:
    """The renames that merge ``tree`` into ``outdir``, every destination checked; nothing is changed.

    | the output has   | the artifact has a file      | the artifact has a directory                |
    | nothing          | moved in                     | moved in                                    |
    | a file           | replaced                     | refused                                     |
    | a directory      | refused                      | merged: its entries are placed the same way |
    | a symlink        | the link is replaced         | followed if it leads to a directory inside  |
    |                  | (what it points at is kept)  | the output directory, refused otherwise     |
    """
    moves: list[Move] = []
    # Entries still to place, the next one last: a loop, not a recursion, so that merging into a
    # tree 1,200 deep passes Python's recursion limit; the order is a recursion's all the same.
    pending = [(os.path.join(tree, name), os.path.join(outdir, name), name) for name in sorted(os.listdir(tree))][::-1]
    while pending:
        staged, final, rel = pending.pop()
        staged_dir = _is_dir(staged)
        try:
            mode = os.lstat(final).st_mode
        except FileNotFoundError:
            moves.append(Move(staged, final, replaces=False))
            continue
        if stat.S_ISLNK(mode):
            if not staged_dir:
                moves.append(Move(staged, final, replaces=True))
                continue
            if not os.path.isdir(final) or not is_within(final, outdir):
                raise UnsafePath(f"{final}: a symlink that does not lead to a directory inside {outdir} stands where "
                                 f"the artifact has directory {rel!r}; refusing to write through it; nothing was changed")
        elif not stat.S_ISDIR(mode):
            if staged_dir:
                raise LocalPathError(f"{final}: is a file; the artifact has directory {rel!r} there; nothing was changed")
            moves.append(Move(staged, final, replaces=True))
            continue
        elif not staged_dir:
            raise LocalPathError(f"{final}: is a directory; the artifact has file {rel!r} there; nothing was changed")
        if not os.access(final, os.W_OK | os.X_OK):
            raise LocalPathError(f"{final}: cannot write into this directory (the artifact has {rel!r}); "
                                 "nothing was changed")
        pending += [(os.path.join(staged, name), os.path.join(final, name), f"{rel}/{name}")
                    for name in sorted(os.listdir(staged))][::-1]
    return moves


def refuse_replacing(moves: list[Move], *, outdir: str, what: str) -> None:
    """LocalPathError naming the first file ``moves`` would replace with other content: it is
    another artifact's, or the user's. A file with the very bytes the artifact has, or a symlink
    leading where the artifact's does, is the same result pulled again, and passes."""
    for move in moves:
        if not move.replaces:
            continue
        if not _same_entry(move.staged, move.final):
            rel = os.path.relpath(move.final, outdir)
            raise LocalPathError(f"{move.final}: is there already and is not {what}'s {rel} (another artifact's, "
                                 "or yours); nothing of it was placed: give --force to replace it")


def _same_entry(staged: str, final: str) -> bool:
    """Whether ``final`` already is what ``staged`` would put there: two symlinks with one target
    (never followed), or two files with the same bytes."""
    if os.path.islink(staged) or os.path.islink(final):
        return os.path.islink(staged) and os.path.islink(final) and os.readlink(staged) == os.readlink(final)
    return filecmp.cmp(staged, final, shallow=False)


def remove_staging(top: str) -> None:
    """``shutil.rmtree(top, ignore_errors=True)``, which in Python 3.11 recurses once per level
    and raises RecursionError on a tree 1,200 deep (a merged pull leaves its directories in the
    staging directory): what it leaves is removed by a loop. The staging directory is ours (0700)."""
    try:
        shutil.rmtree(top, ignore_errors=True)
        return
    except RecursionError:
        pass
    stack, opened = [top], set()
    while stack:
        path = stack[-1]
        if path in opened:
            stack.pop()
            with contextlib.suppress(OSError):
                os.rmdir(path)
            continue
        opened.add(path)
        with contextlib.suppress(OSError), os.scandir(path) as entries:
            for entry in entries:
                if entry.is_dir(follow_symlinks=False):
                    stack.append(entry.path)
                else:
                    with contextlib.suppress(OSError):
                        os.unlink(entry.path)


class UndoIncomplete(LocalPathError):
    """A failed placement could not be undone: the staging directory keeps what it holds."""


def apply_placement(moves: list[Move], *, graveyard: str) -> None:
    """Rename every move into place; on a failure undo the renames done and raise LocalPathError.

    A replaced file is first renamed into ``graveyard``, so undoing puts it back. If even that
    fails (UndoIncomplete), the message says where the files are and the caller keeps them.
    """
    done: list[tuple[str, str]] = []  # (from, to) of every rename made, in order
    for index, move in enumerate(moves):
        try:
            if move.replaces:
                aside = os.path.join(graveyard, f"replaced-{index}")
                os.rename(move.final, aside)
                done.append((move.final, aside))
            os.rename(move.staged, move.final)
            done.append((move.staged, move.final))
        except OSError as e:
            problems = []
            for source, dest in reversed(done):
                try:
                    os.rename(dest, source)
                except OSError as undo:
                    problems.append(f"{dest} should be at {source}: {undo.strerror or undo}")
            reason = f"{move.final}: cannot place it: {e.strerror or e}"
            if problems:
                raise UndoIncomplete(f"{reason}; undoing failed, the files are kept in {graveyard}: "
                                     f"{'; '.join(problems)}") from e
            raise LocalPathError(f"{reason}; the output directory is as it was") from e


def pull_artifact(
    client: RegistryClient,
    ref: Reference,
    outdir: str,
    *,
    include: list[str] | None = None,
    unpack: bool = True,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
    replace_files: bool = True,
) -> PullResult:
    """``ref``'s files into ``outdir``. ``replace_files=False``: a file (or symlink) already
    there with other content than the artifact's is refused before anything is placed
    (``refuse_replacing``), for several artifacts pulled into one directory."""
    what = f"pull {ref}"
    manifest, media_type, digest = client.fetch_manifest(ref.repository, ref.target, what=what)
    if media_type in (INDEX_MEDIA_TYPE, DOCKER_LIST_MEDIA_TYPE) or "manifests" in manifest:
        raise UnsupportedArtifact(f"{what}: this is an image index (several manifests); pull one of them by digest")
    items, untitled = plan_pull(layers_of(manifest, what=what), include=include, unpack=unpack)
    total = sum(item.blob.size for item in items)
    check_free_space(outdir, total, what=what)
    if progress:
        progress.add_total(total)
    try:
        os.makedirs(outdir, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=outdir)
    except OSError as e:
        raise LocalPathError(f"{outdir}: cannot write to the output directory: {e.strerror}") from e
    keep_staging = False
    try:
        def fetch(index_item: tuple[int, PullItem], cancel: threading.Event) -> str:
            index, item = index_item
            try:
                blob_path = os.path.join(staging, f"blob-{index}")
                with open(blob_path, "wb") as out:
                    client.download_blob(ref.repository, item.blob.digest, item.blob.size, out, progress=progress,
                                         cancel=cancel)
                if not item.unpack:
                    return blob_path
                unpacked = os.path.join(staging, f"dir-{index}")
                os.mkdir(unpacked)
                with open(blob_path, "rb") as archive:
                    stoppable = StoppableFile(archive, cancel, what=what)
                    top = unpack_directory(stoppable, unpacked, name=item.title,  # type: ignore[arg-type]
                                           expected_tar_digest=item.blob.annotations.get(ANNOTATION_CONTENT_DIGEST))
                os.unlink(blob_path)
                return top
            except OSError as e:
                failure = _local_failure(e, outdir=outdir, title=item.title, what=what)
                if failure is None:
                    raise
                raise failure from e

        staged = run_all(fetch, list(enumerate(items)), concurrency=concurrency, name="pull")
        tree = os.path.join(staging, "tree")
        try:
            os.mkdir(tree)
            for index, (item, staged_path) in enumerate(zip(items, staged, strict=True)):
                _stage_into_tree(staged_path, item.title, tree=tree, wrap=os.path.join(staging, f"wrap-{index}"))
            moves = plan_placement(tree, outdir)
            if not replace_files:
                refuse_replacing(moves, outdir=outdir, what=str(ref))
        except OSError as e:
            raise LocalPathError(f"{e.filename or outdir}: {e.strerror}; nothing was changed") from e
        try:
            with interrupts_deferred():  # all placed, or all undone: never cut in the middle
                apply_placement(moves, graveyard=staging)
        except UndoIncomplete:
            keep_staging = True  # it holds the user's replaced files now: never delete them
            raise
        files = [PulledPath(item.title, os.path.join(outdir, item.title), item.blob.digest, item.blob.size, item.unpack)
                 for item in items]
    finally:
        if not keep_staging:
            remove_staging(staging)
    return PullResult(reference=str(ref), digest=digest, files=files, skipped_untitled=untitled)


MAX_TAGS_SAID = 20


def tags_said(client: RegistryClient, ref: Reference) -> str:
    """After "not found": the repository's tags, so the user sees what there is (the command line's
    pull and the agent's say it alike); not the sha256-<hex> tags that index referrers."""
    from .reference import is_fallback_tag

    if not ref.tag:
        return f"no manifest {ref.digest} in {ref.repository}"
    try:
        found = [tag for tag in client.list_tags(ref.repository) if not is_fallback_tag(tag)]
    except NotFound:
        return f"there is no repository {ref.repository}"
    except RegistryError:
        return f"no tag {ref.tag} in {ref.repository}"
    if not found:
        return f"{ref.repository} has no tags"
    shown = ", ".join(found[:MAX_TAGS_SAID]) + (f", … ({len(found) - MAX_TAGS_SAID} more)"
                                                if len(found) > MAX_TAGS_SAID else "")
    return f"tags in {ref.repository}: {shown}"
