"""Several artifacts pulled into one directory through one session (one port-forward): plain
references into the directory itself, and a tag pattern's matches (``exp1/partial:run-*``) each
into a subdirectory named by its tag, as a pod's pattern input pulls them (pods/patterns.py:
the same matching, the same refusal of two inputs that would place one name).

Unlike a single pull, a file already there with other content (another artifact's, or the
user's) is not replaced unless ``force``: several artifacts in one directory must not silently
overwrite each other's results (docs/cli.md says where this differs from the Go ``oras`` CLI).
Every manifest is read first, so such a file is refused before any artifact is pulled when it is
a layer of its own (a directory layer's files: by that artifact's pull).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import OrasError
from ..pods.patterns import MatchError, first_clash, select_matches, shortfall, split_pattern
from .places import Located
from .session import Session

if TYPE_CHECKING:
    from ..oci.progress import Progress
    from ..oci.pull import PullResult


@dataclass(frozen=True)
class Planned:
    """Which artifacts each thing the user wrote stands for: one reference, or a pattern's tags."""

    text: str
    artifacts: tuple[Located, ...]
    pattern: bool


def plan(session: Session, texts: Sequence[str]) -> list[Planned]:
    """Every reference located and every pattern's tags listed and matched, before anything is
    pulled; a pattern that matches nothing is refused naming it."""
    planned = []
    for text in texts:
        split = split_pattern(text)
        if split is None:
            planned.append(Planned(text, (session.locate(text),), pattern=False))
            continue
        repository_text, pattern = split
        repository = session.locate(repository_text, default_tag=None)
        try:
            tags = select_matches(repository.name, pattern, session.tags(repository))
        except MatchError as e:
            raise OrasError(f"{text}: {e}") from None
        if missing := shortfall(repository.name, pattern, tags, None):
            raise OrasError(f"{text}: {missing}")
        planned.append(Planned(text, tuple(Located(repository.place, repository.reference.with_tag(tag), text)
                                           for tag in tags), pattern=True))
    return planned


def _refuse_clash(planned: Sequence[Planned], clash: tuple[str, int, int] | None) -> None:
    if clash is not None:
        name, one, other = clash
        raise OrasError(f"{planned[one].text} and {planned[other].text} would both place {name} in the output "
                        "directory; nothing of them was merged: pull them into different directories")


def _refuse_escaping_links(planned: Sequence[Planned], output_dir: str) -> None:
    """UnsafePath when a matched tag's directory is a symlink that leads anywhere but to a
    directory inside ``output_dir``: its files would be written through it (as a single pull
    refuses such a link where its artifact has a directory)."""
    from ..oci.errors import UnsafePath
    from ..oci.paths import is_within

    for p in planned:
        for where in p.artifacts if p.pattern else ():
            directory = os.path.join(output_dir, where.reference.tag or "")
            if os.path.islink(directory) and not (os.path.isdir(directory) and is_within(directory, output_dir)):
                raise UnsafePath(f"{directory}: a symlink that does not lead to a directory inside {output_dir} "
                                 f"stands where {p.text} pulls {where.name}; refusing to write through it; "
                                 "nothing was pulled")


def _same_bytes(path: str, digest: str) -> bool:
    """Whether the file at ``path`` (no symlink) holds the bytes ``digest`` names."""
    from ..oci.digests import IO_BLOCK, digest_of, hasher_for

    if not os.path.isfile(path) or os.path.islink(path):
        return False
    hasher = hasher_for(digest)
    with open(path, "rb") as f:
        while block := f.read(IO_BLOCK):
            hasher.update(block)
    return digest_of(hasher) == digest


def _refuse_replacing(session: Session, planned: Sequence[Planned], output_dir: str, *, force: bool,
                      include: Sequence[str] | None, unpack: bool) -> None:
    """Before anything is pulled, from the manifests alone: LocalPathError naming the first name
    an artifact places where a file and a directory meet (already there, or of two plain
    references: never replaced, even with ``force``), and without ``force`` the first file (a
    layer that is a file: its digest is its bytes') that would replace other bytes, there already
    or of an earlier reference. A directory's files are known only once fetched: each pull
    refuses those itself (``replace=False``)."""
    from ..oci.errors import LocalPathError
    from ..oci.pull import plan_pull

    placed: dict[str, tuple[str, bool, str]] = {}  # a path: (its digest, a directory?, the artifact placing it)
    for p in planned:
        for where in p.artifacts:
            directory = os.path.join(output_dir, where.reference.tag or "") if p.pattern else output_dir
            items, _ = plan_pull(session.layers(where), include=list(include) if include else None, unpack=unpack)
            for item in items:
                path, digest, is_dir = os.path.join(directory, item.title), item.blob.digest, item.unpack
                kind = "directory" if is_dir else "file"
                if path in placed and placed[path][1] != is_dir:
                    raise LocalPathError(f"{path}: {placed[path][2]} has a {'directory' if placed[path][1] else 'file'} "
                                         f"there and {where.name} a {kind}; nothing was pulled")
                if path in placed and not is_dir and not force and placed[path][0] != digest:
                    raise LocalPathError(f"{path}: {placed[path][2]} and {where.name} both have it, with other "
                                         "bytes; nothing was pulled: give --force to replace it (the later one wins)")
                placed[path] = (digest, is_dir, where.name)
                if not os.path.lexists(path) or is_dir == os.path.isdir(path) and (is_dir or force
                                                                                  or _same_bytes(path, digest)):
                    continue
                if is_dir or os.path.isdir(path) and not os.path.islink(path):
                    there = "a file" if is_dir else "a directory"
                    raise LocalPathError(f"{path}: is {there}; {where.name} has {kind} {item.title!r} there; "
                                         "nothing was pulled")
                if not force:
                    raise LocalPathError(f"{path}: is there already and is not {where.name}'s {item.title} (another "
                                         "artifact's, or yours); nothing was pulled: give --force to replace it")


def pull_all(session: Session, texts: Sequence[str], output_dir: str, *, force: bool = False,
             include: Sequence[str] | None = None, unpack: bool = True, concurrency: int = 4,
             progress: Callable[[Located], Progress | None] = lambda where: None) -> list[tuple[Located, str, PullResult]]:
    """Each of ``texts`` pulled into ``output_dir`` (a pattern's tags into ``output_dir/TAG``),
    the plain references first, in order; (where, the directory, what was pulled) for each. Each
    pull is all-or-nothing; one that fails says which were pulled before it."""
    planned = plan(session, texts)
    matches = {index: [where.reference.tag or "" for where in p.artifacts] for index, p in enumerate(planned)
               if p.pattern}
    _refuse_clash(planned, first_clash(matches))
    _refuse_escaping_links(planned, output_dir)
    _refuse_replacing(session, planned, output_dir, force=force, include=include, unpack=unpack)
    done: list[tuple[Located, str, PullResult]] = []

    def pull(where: Located, directory: str) -> PullResult:
        result = session.pull(where, directory, include=include, unpack=unpack, concurrency=concurrency,
                              progress=progress(where), replace=force)
        done.append((where, directory, result))
        return result

    try:
        placed = {index: [f.title.split("/", 1)[0] for f in pull(p.artifacts[0], output_dir).files]
                  for index, p in enumerate(planned) if not p.pattern}
        _refuse_clash(planned, first_clash(matches, placed))
        for p in planned:
            for where in p.artifacts if p.pattern else ():
                pull(where, os.path.join(output_dir, where.reference.tag or ""))
    except OrasError as e:
        if done:
            e.args = (f"{e} (pulled before it: {', '.join(where.name for where, _, _ in done)})", *e.args[1:])
        raise
    return done
