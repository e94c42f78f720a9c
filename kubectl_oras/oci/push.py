"""Push files and directories as one OCI artifact: layers in parallel, in bounded memory."""

from __future__ import annotations

import os
import shutil
import tempfile
import threading
from dataclasses import dataclass, field

from .archive import pack_directory
from .client import RegistryClient
from .digest_cache import DigestCache
from .digests import hash_file, sha256_digest
from .errors import Cancelled, InvalidReference, LocalPathError, RegistryError
from .manifest import (
    DEFAULT_ARTIFACT_TYPE,
    EMPTY_CONFIG,
    EMPTY_CONFIG_BLOB,
    MANIFEST_MEDIA_TYPE,
    Blob,
    build_manifest,
    directory_layer,
    encode_manifest,
    file_layer,
)
from .parallel import StoppableFile, run_all
from .progress import Progress
from .reference import Reference

HASH_FIRST_BELOW = 8 << 20  # smaller files are hashed first so an existing blob is never re-sent
DEFAULT_CONCURRENCY = 4


@dataclass(frozen=True)
class PushItem:
    path: str
    title: str
    is_directory: bool


@dataclass
class PushResult:
    reference: str
    digest: str
    layers: list[Blob]
    bytes_sent: int = 0
    blobs_skipped: int = 0
    manifest: dict = field(default_factory=dict)


def title_for(path: str) -> str:
    """The layer title: a relative path as given (normalised), else the base name.

    This is what `oras push` does for relative paths; absolute paths and paths that climb
    out with '..' keep only their name, so a pull never writes above its output directory.
    """
    stripped = path.rstrip("/") or path
    if os.path.isabs(stripped):
        return os.path.basename(stripped)
    norm = os.path.normpath(stripped).replace(os.sep, "/")
    if norm == "." or norm == ".." or norm.startswith("../"):
        return os.path.basename(os.path.abspath(stripped))
    return norm


def plan_push(paths: list[str]) -> list[PushItem]:
    if not paths:
        raise LocalPathError("nothing to push: give at least one file or directory")
    items: list[PushItem] = []
    seen: dict[str, str] = {}
    for path in paths:
        if not os.path.lexists(path):
            raise LocalPathError(f"{path}: no such file or directory")
        if os.path.isdir(path):
            is_dir = True
        elif os.path.isfile(path):
            is_dir = False
        else:
            raise LocalPathError(f"{path}: not a regular file or directory")
        title = title_for(path)
        if title in seen:
            raise LocalPathError(f"{path} and {seen[title]} would both be titled {title!r} in the artifact")
        seen[title] = path
        items.append(PushItem(path, title, is_dir))
    return items


class _Pusher:
    def __init__(self, client: RegistryClient, repository: str, progress: Progress | None,
                 cache: DigestCache | None, workdir: str) -> None:
        self.client = client
        self.workdir = workdir  # directory archives are written here; removed with it
        self.repository = repository
        self.progress = progress
        self.cache = cache
        self.sent = 0
        self.skipped = 0
        self._lock = threading.Lock()

    def _count(self, n: int) -> None:
        with self._lock:
            self.sent += n
        if self.progress:
            self.progress(n)

    def _skip(self, size: int) -> None:
        with self._lock:
            self.skipped += 1
        if self.progress:
            self.progress(size)

    def push_file(self, item: PushItem, cancel: threading.Event) -> Blob:
        try:
            st = os.stat(item.path)
        except OSError as e:
            raise LocalPathError(f"{item.path}: {e.strerror}") from e
        digest = self.cache.get(item.path, st) if self.cache else None
        if digest is None and st.st_size < HASH_FIRST_BELOW:
            digest = hash_file(item.path)
        if digest is not None and self.client.blob_exists(self.repository, digest):
            self._skip(st.st_size)
        else:
            digest = self.client.upload_blob_file(self.repository, item.path, size=st.st_size, digest=digest,
                                                  progress=self._count, cancel=cancel)
            if self.cache and st.st_size >= HASH_FIRST_BELOW:
                self.cache.put(item.path, st, digest)
        return file_layer(title=item.title, digest=digest, size=st.st_size)

    def push_directory(self, item: PushItem, cancel: threading.Event) -> Blob:
        with tempfile.NamedTemporaryFile(prefix="layer-", suffix=".tar.gz", dir=self.workdir) as tmp:
            packed = pack_directory(item.path, StoppableFile(tmp, cancel, what=f"pack {item.path}"),  # type: ignore[arg-type]
                                    name=item.title)
            tmp.flush()
            if self.progress:
                self.progress.add_total(packed.size)
            if self.client.blob_exists(self.repository, packed.digest):
                self._skip(packed.size)
            else:
                self.client.upload_blob_file(self.repository, tmp.name, size=packed.size, digest=packed.digest,
                                             progress=self._count, cancel=cancel)
        return directory_layer(title=item.title, digest=packed.digest, size=packed.size, tar_digest=packed.tar_digest)

    def push_item(self, item: PushItem, cancel: threading.Event) -> Blob:
        return self.push_directory(item, cancel) if item.is_directory else self.push_file(item, cancel)


MANIFEST_REPAIRS = 3  # each one needs a garbage collection to land between the uploads and the manifest


def _upload_again(client: RegistryClient, pusher: _Pusher, repository: str, items: list[PushItem],
                  layers: list[Blob]) -> None:
    for item, layer in zip(items, layers, strict=True):
        if client.blob_exists(repository, layer.digest):
            continue
        again = pusher.push_item(item, threading.Event())
        if again.digest != layer.digest:
            raise LocalPathError(f"{item.path}: changed while it was being pushed (it is now {again.digest}, "
                                 f"the manifest lists {layer.digest}); push again")


def push_artifact(
    client: RegistryClient,
    ref: Reference,
    paths: list[str],
    *,
    annotations: dict[str, str] | None = None,
    artifact_type: str = DEFAULT_ARTIFACT_TYPE,
    concurrency: int = DEFAULT_CONCURRENCY,
    progress: Progress | None = None,
    cache: DigestCache | None = None,
    stop: threading.Event | None = None,
) -> PushResult:
    """Upload each path as a layer (several at once), then the config and the manifest under ref's tag.

    Once ``stop`` is set, no layer starts and no manifest is put: the push raises Cancelled, and a
    push cut short leaves no tag (only blobs no manifest lists, which the registry's garbage
    collector sweeps). A layer already uploading runs on; a manifest already sent is stored.
    """
    if ref.digest or not ref.tag:
        raise InvalidReference(f"cannot push to {ref}: give a tag (repo:tag), not a digest")

    def unless_stopped(before: str) -> None:
        if stop is not None and stop.is_set():
            raise Cancelled(f"stopped before {before}; nothing was tagged")

    def push_layer(item: PushItem, cancel: threading.Event) -> Blob:
        unless_stopped(f"uploading {item.title}")
        return pusher.push_item(item, cancel)

    unless_stopped("it began")
    items = plan_push(paths)
    if progress:
        progress.add_total(sum(os.path.getsize(i.path) for i in items if not i.is_directory))
    workdir = tempfile.mkdtemp(prefix="kubectl-oras-push-")
    try:
        pusher = _Pusher(client, ref.repository, progress, cache, workdir)
        layers = run_all(push_layer, items, concurrency=concurrency, name="push")
        manifest = build_manifest(layers=layers, artifact_type=artifact_type, annotations=annotations)
        body = encode_manifest(manifest)
        for attempt in range(MANIFEST_REPAIRS + 1):
            if not client.blob_exists(ref.repository, EMPTY_CONFIG_BLOB.digest):
                client.upload_blob_bytes(ref.repository, EMPTY_CONFIG, EMPTY_CONFIG_BLOB.digest)
            unless_stopped("its manifest")
            try:
                client.put_manifest(ref.repository, ref.tag, body, media_type=MANIFEST_MEDIA_TYPE)
                break
            except RegistryError as e:
                if "MANIFEST_BLOB_UNKNOWN" not in e.codes or attempt == MANIFEST_REPAIRS:
                    raise
                # A blob we uploaded is gone before the manifest that lists it arrived: the
                # registry's garbage collector ran in between (it deletes blobs no manifest lists
                # yet; docs/retention.md). Upload again what is missing, and put the manifest again.
                _upload_again(client, pusher, ref.repository, items, layers)
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    return PushResult(
        reference=str(ref),
        digest=sha256_digest(body),
        layers=layers,
        bytes_sent=pusher.sent,
        blobs_skipped=pusher.skipped,
        manifest=manifest,
    )
