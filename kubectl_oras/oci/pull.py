"""Pull an artifact into a directory: every blob verified, nothing placed until all are.

Blobs download (several at once) into a staging directory inside the output directory; only
when every digest has checked out do files and unpacked directories move into place with
rename(2). Any failure removes the staging directory and leaves the output directory as it was.
"""

from __future__ import annotations

import fnmatch
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from .archive import unpack_directory
from .client import RegistryClient
from .errors import LocalPathError, UnsafePath, UnsupportedArtifact
from .manifest import (
    ANNOTATION_CONTENT_DIGEST,
    ANNOTATION_TITLE,
    ANNOTATION_UNPACK,
    DOCKER_LIST_MEDIA_TYPE,
    INDEX_MEDIA_TYPE,
    Blob,
    layers_of,
)
from .paths import is_within, safe_relative_path
from .progress import Progress
from .reference import Reference

DEFAULT_CONCURRENCY = 4
STAGING_PREFIX = ".kubectl-oras-pull-"


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


def _place(staged: str, final: str, *, outdir: str, graveyard: str) -> None:
    parent = os.path.dirname(final)
    os.makedirs(parent, exist_ok=True)
    if not is_within(parent, outdir):
        raise UnsafePath(f"{os.path.relpath(final, outdir)}: a link on its path leads outside {outdir}")
    staged_is_dir = os.path.isdir(staged)
    if os.path.isdir(final) and not os.path.islink(final):
        if not staged_is_dir:
            raise LocalPathError(f"{final}: is a directory; the artifact has a file there")
        os.replace(final, os.path.join(graveyard, os.path.basename(staged) + ".old"))
    elif staged_is_dir and os.path.lexists(final):
        os.unlink(final)
    os.replace(staged, final)


def pull_artifact(
    client: RegistryClient,
    ref: Reference,
    outdir: str,
    *,
    include: list[str] | None = None,
    unpack: bool = True,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
) -> PullResult:
    what = f"pull {ref}"
    manifest, media_type, digest = client.fetch_manifest(ref.repository, ref.target, what=what)
    if media_type in (INDEX_MEDIA_TYPE, DOCKER_LIST_MEDIA_TYPE) or "manifests" in manifest:
        raise UnsupportedArtifact(f"{what}: this is an image index (several manifests); pull one of them by digest")
    items, untitled = plan_pull(layers_of(manifest, what=what), include=include, unpack=unpack)
    if progress:
        progress.add_total(sum(item.blob.size for item in items))
    try:
        os.makedirs(outdir, exist_ok=True)
    except OSError as e:
        raise LocalPathError(f"{outdir}: cannot create output directory: {e.strerror}") from e
    staging = tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=outdir)
    try:
        def fetch(index_item: tuple[int, PullItem]) -> str:
            index, item = index_item
            blob_path = os.path.join(staging, f"blob-{index}")
            with open(blob_path, "wb") as out:
                client.download_blob(ref.repository, item.blob.digest, item.blob.size, out, progress=progress)
            if not item.unpack:
                return blob_path
            unpacked = os.path.join(staging, f"dir-{index}")
            os.mkdir(unpacked)
            with open(blob_path, "rb") as archive:
                top = unpack_directory(archive, unpacked, name=item.title,
                                       expected_tar_digest=item.blob.annotations.get(ANNOTATION_CONTENT_DIGEST))
            os.unlink(blob_path)
            return top

        with ThreadPoolExecutor(max_workers=max(1, concurrency), thread_name_prefix="pull") as pool:
            staged = list(pool.map(fetch, enumerate(items)))
        files = []
        for item, staged_path in zip(items, staged, strict=True):
            final = os.path.join(outdir, item.title)
            _place(staged_path, final, outdir=outdir, graveyard=staging)
            files.append(PulledPath(item.title, final, item.blob.digest, item.blob.size, item.unpack))
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return PullResult(reference=str(ref), digest=digest, files=files, skipped_untitled=untitled)
