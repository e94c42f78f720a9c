"""Copy an artifact from one registry (or repository) to another: its blobs, then its manifest
byte for byte, so the copy has the source's digest.

A blob the destination has already is skipped (HEAD); within one registry it is mounted from the
source repository (``POST …/blobs/uploads/?mount=…&from=…``), never sent; otherwise it streams
from the source's answer into the destination's upload, 1 MiB at a time, hashed on the way: no
blob is ever held whole in memory or written to disk. An image index is copied with the
manifests it lists (each by digest) before the index itself.

Then what refers to it (its provenance statement, a signature: ``oci/referrers.py``), each put
by digest at the destination the same way, and listed there as the destination lists referrers
(its referrers API, else the ``sha256-<hex>`` index). A referrer is anyone's to push: one that
cannot be read, or whose ``subject`` is not the artifact, is left behind and said so; a registry
that cannot be reached, or refuses us, still fails the copy.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import requests
import urllib3

from ..errors import OrasError
from .client import RegistryClient
from .digests import IO_BLOCK, digest_of, hasher_for
from .errors import (
    AuthenticationFailed,
    Cancelled,
    DeadlineExceeded,
    DigestMismatch,
    RegistryUnreachable,
    UnsupportedArtifact,
)
from .manifest import DOCKER_LIST_MEDIA_TYPE, INDEX_MEDIA_TYPE, Blob, layers_of
from .parallel import run_all
from .progress import BytesMoved, Progress
from .reference import Reference
from .referrers import index_in_tag, referrers
from .transport import retrying

DEFAULT_CONCURRENCY = 4
MAX_INDEX_DEPTH = 4  # an index of indexes of …: deeper than any real artifact nests


@dataclass
class CopyResult:
    """What a copy did: the destination reference, the digest both sides share, and its blobs:
    sent, already there (skipped), or mounted from the source repository."""

    source: str
    reference: str
    digest: str
    media_type: str
    manifests: int = 0
    blobs: int = 0
    bytes_sent: int = 0
    blobs_skipped: int = 0
    blobs_mounted: int = 0
    referrers: int = 0  # copied with it
    referrers_left: list[dict[str, str]] = field(default_factory=list)  # {digest, problem} of those not copied


class BlobStream:
    """The body of one registry's blob answer as the body of another's upload: read 1 MiB at a
    time, counted, hashed, and checked against the descriptor's size and digest before its last
    block goes out (the upload then never completes with other content)."""

    def __init__(self, response: requests.Response, blob: Blob, *, what: str, source: str,
                 moved: BytesMoved, check_going: Callable[[], None]) -> None:
        self._raw = response.raw
        self._blob = blob
        self._what = what
        self._source = source
        self._moved = moved
        self._check_going = check_going
        self._left = blob.size
        self._hasher = hasher_for(blob.digest)

    def __len__(self) -> int:
        return self._blob.size

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        self._check_going()
        want = min(IO_BLOCK if n < 0 else n, self._left, IO_BLOCK)  # never the whole blob at once
        try:
            data = self._raw.read(want, decode_content=False)
        except (OSError, urllib3.exceptions.HTTPError) as e:
            raise RegistryUnreachable(f"{self._what}: reading it from {self._source} broke off after "
                                      f"{self._blob.size - self._left} of {self._blob.size} bytes: {e}") from e
        if not data:
            raise RegistryUnreachable(f"{self._what}: {self._source} ended the blob after "
                                      f"{self._blob.size - self._left} of {self._blob.size} bytes")
        self._hasher.update(data)
        self._left -= len(data)
        self._moved(len(data))
        if self._left == 0 and digest_of(self._hasher) != self._blob.digest:
            raise DigestMismatch(f"{self._what}: {self._source} sent content with digest {digest_of(self._hasher)}; "
                                 "refusing to copy it")
        return data


def _config_of(manifest: dict[str, Any], *, what: str) -> list[Blob]:
    config = manifest.get("config")
    if config is None:
        return []
    return layers_of({"layers": [config]}, what=f"{what} (its config)")


def _children_of(manifest: dict[str, Any], *, what: str) -> list[Blob]:
    return layers_of({"layers": manifest.get("manifests")}, what=f"{what} (its manifests)")


def is_index(manifest: dict[str, Any], media_type: str) -> bool:
    return media_type in (INDEX_MEDIA_TYPE, DOCKER_LIST_MEDIA_TYPE) or "manifests" in manifest


_STOPS = (RegistryUnreachable, DeadlineExceeded, AuthenticationFailed, Cancelled)  # end a copy's referrers too


class _Copier:
    def __init__(self, source: RegistryClient, src: Reference, dest: RegistryClient, dst: Reference, *,
                 same_registry: bool, concurrency: int, progress: Progress | None, result: CopyResult) -> None:
        self.source, self.src, self.dest, self.dst = source, src, dest, dst
        self.mount_from = src.repository if same_registry and src.repository != dst.repository else None
        self.concurrency = concurrency
        self.progress = progress
        self.result = result
        self._lock = threading.Lock()

    def count(self, *, sent: int = 0, skipped: int = 0, mounted: int = 0) -> None:
        with self._lock:
            self.result.bytes_sent += sent
            self.result.blobs_skipped += skipped
            self.result.blobs_mounted += mounted

    def manifest(self, target: str, *, put_as: str, depth: int = 0) -> tuple[str, str]:
        """The manifest ``target`` of the source put under ``put_as`` (a tag or its digest) at the
        destination, after everything it lists: (its digest, its media type)."""
        what = f"copy {self.src.repository}@{target}" if target.startswith("sha") else f"copy {self.src}"
        manifest, media_type, digest, raw = self.source.fetch_manifest_bytes(self.src.repository, target, what=what)
        self.put(manifest, media_type, raw, put_as=put_as, what=what, depth=depth)
        return digest, media_type

    def referrer(self, descriptor: dict[str, Any], *, subject: str) -> None:
        """The referrer ``descriptor`` of ``subject`` put by digest, and listed as the destination
        lists referrers; UnsupportedArtifact when it is not about ``subject``."""
        target = descriptor["digest"]
        what = f"copy referrer {self.src.repository}@{target}"
        manifest, media_type, digest, raw = self.source.fetch_manifest_bytes(self.src.repository, target, what=what)
        about = manifest.get("subject")
        if not isinstance(about, dict) or about.get("digest") != subject:
            said = about.get("digest") if isinstance(about, dict) else None
            raise UnsupportedArtifact(f"{what}: its subject is {said or 'missing'}, not {subject}")
        answer = self.put(manifest, media_type, raw, put_as=digest, what=what, depth=0)
        if answer.headers.get("OCI-Subject") != subject:  # the destination serves no referrers API
            listed = {"mediaType": media_type, "digest": digest, "size": len(raw)}
            kind = manifest.get("artifactType") or descriptor.get("artifactType")
            if isinstance(kind, str) and kind:
                listed["artifactType"] = kind
            if isinstance(manifest.get("annotations"), dict) and manifest["annotations"]:
                listed["annotations"] = manifest["annotations"]
            try:
                index_in_tag(self.dest, self.dst.repository, subject, listed)
            except _STOPS:
                raise
            except OrasError as e:
                raise UnsupportedArtifact(f"{what}: put at the destination by digest, but not listed there: {e}") from e

    def put(self, manifest: dict[str, Any], media_type: str, raw: bytes, *, put_as: str, what: str,
            depth: int) -> requests.Response:
        """``raw`` (``manifest`` as read) put under ``put_as`` after everything it lists: the answer."""
        if is_index(manifest, media_type):
            if depth >= MAX_INDEX_DEPTH:
                raise UnsupportedArtifact(f"{what}: image indexes nested over {MAX_INDEX_DEPTH} deep; refusing it")
            for child in _children_of(manifest, what=what):
                self.manifest(child.digest, put_as=child.digest, depth=depth + 1)
        else:
            blobs = {b.digest: b for b in [*_config_of(manifest, what=what), *layers_of(manifest, what=what)]}
            if self.progress:
                self.progress.add_total(sum(b.size for b in blobs.values()))
            run_all(self.blob, list(blobs.values()), concurrency=self.concurrency, name="copy")
            self.result.blobs += len(blobs)
        answer = self.dest.put_manifest(self.dst.repository, put_as, raw, media_type=media_type)
        self.result.manifests += 1
        return answer

    def referrers(self, subject: str) -> None:
        """Every referrer of ``subject`` the source lists (each digest once), copied; one that
        cannot be is recorded, and so is a listing that cannot be read (anyone can tag the
        ``sha256-<hex>`` index with something else): the artifact is copied by then. A registry
        that cannot be reached, or refuses us, still fails the copy."""
        try:
            listed = referrers(self.source, self.src.repository, subject)
        except _STOPS:
            raise
        except OrasError as e:
            self.result.referrers_left.append({"digest": subject,
                                               "problem": f"{e} (the artifact is copied, its referrers not)"})
            return
        for digest, descriptor in {d["digest"]: d for d in listed}.items():
            try:
                self.referrer(descriptor, subject=subject)
            except _STOPS:
                raise
            except OrasError as e:
                self.result.referrers_left.append({"digest": digest, "problem": str(e)})
            else:
                self.result.referrers += 1

    def blob(self, blob: Blob, cancel: threading.Event) -> None:
        repository = self.dst.repository
        if self.dest.blob_exists(repository, blob.digest):
            self._moved(blob.size)
            self.count(skipped=1)
            return
        if self.mount_from and self.dest.mount_blob(repository, blob.digest, source_repository=self.mount_from):
            self._moved(blob.size)
            self.count(mounted=1)
            return
        what = f"copy blob {blob.digest[:19]} to {self.dest.repository_name(repository)}"
        sent = 0

        def moved(n: int) -> None:
            nonlocal sent
            sent += n
            self._moved(n)

        def rewind() -> None:
            nonlocal sent
            self._moved(-sent)
            sent = 0

        def check_going() -> None:
            self.dest.transport.check_going(what, cancel)

        def send() -> None:
            location = self.dest.start_upload(repository, what=what)
            with self.source.open_blob(self.src.repository, blob.digest, what=what) as response:
                body = BlobStream(response, blob, what=what, source=self.source.name, moved=moved,
                                  check_going=check_going)
                self.dest.put_blob(location, blob.digest, body, what=what)

        retrying(self.dest.transport.retry, send, on_retry=rewind, deadline=self.dest.transport.deadline)
        self.count(sent=blob.size)

    def _moved(self, n: int) -> None:
        if self.progress:
            self.progress(n)


def _side(client: RegistryClient, repository: str) -> str:
    """A repository as a message names it: ``HOST/REPO``, or ``REPO (cache lab/oras)``."""
    named = client.repository_name(repository)
    return named if client.name == client.hostname else f"{named} ({client.name})"


def copy_artifact(source: RegistryClient, src: Reference, dest: RegistryClient, dst: Reference, *,
                  same_registry: bool = False, concurrency: int = DEFAULT_CONCURRENCY,
                  progress: Progress | None = None) -> CopyResult:
    """``src`` of ``source`` to ``dst`` of ``dest``: under ``dst``'s tag, or by digest alone when
    it has none, then what refers to it. ``same_registry``: the two clients
    reach one registry, so a blob of another repository is mounted rather than sent."""
    put_as = dst.tag or src.digest
    if not put_as:
        raise UnsupportedArtifact(f"copy {src} to {dst}: say which tag to copy it to")
    result = CopyResult(source=str(src), reference="", digest="", media_type="")
    copier = _Copier(source, src, dest, dst, same_registry=same_registry, concurrency=concurrency,
                     progress=progress, result=result)
    try:
        result.digest, result.media_type = copier.manifest(src.target, put_as=put_as)
        if not (same_registry and src.repository == dst.repository):  # else its referrers are there already
            copier.referrers(result.digest)
    except OrasError as e:
        # Both sides named, so a cache's session (which adds its name to a message without it)
        # never says one side's failure about the other.
        context = f"copying {_side(source, src.repository)} to {_side(dest, dst.repository)}"
        if context not in str(e):
            e.args = (f"{e} ({context})", *e.args[1:])
        raise
    result.reference = str(Reference(dst.registry, dst.repository, dst.tag, None if dst.tag else result.digest))
    return result


def tag_artifact(client: RegistryClient, ref: Reference, tags: list[str]) -> tuple[str, str]:
    """The manifest ``ref`` names put again, byte for byte, under each of ``tags`` of its
    repository (no blob moves): (its digest, its media type)."""
    what = f"tag {ref}"
    _, media_type, digest, raw = client.fetch_manifest_bytes(ref.repository, ref.target, what=what)
    for tag in tags:
        client.put_manifest(ref.repository, tag, raw, media_type=media_type)
    return digest, media_type
