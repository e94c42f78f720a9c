"""One OCI registry as the engine sees it: blobs, manifests, tags and repositories.

Composed over a ``Transport`` (HTTP, retries, auth); it exposes only what the engine uses, so
nothing reachable on it fails for being inherited (docs/oras-py.md says what we take from oras-py).
"""

from __future__ import annotations

import functools
import json
import os
import threading
import time
import urllib.parse
from collections.abc import Callable, Iterator
from typing import Any, BinaryIO

import requests
import urllib3

from ..release import __version__
from .auth import AuthCache, Credentials, docker_config_credentials
from .bodies import cut_off_after
from .digests import IO_BLOCK, digest_of, hasher_for
from .errors import DigestMismatch, RegistryError, RegistryUnreachable, UnsupportedArtifact
from .file_body import FileBody
from .manifest import ACCEPTED_MANIFEST_TYPES, MANIFEST_MEDIA_TYPE
from .progress import BytesMoved
from .transport import Body, Probe, RetryPolicy, Timeouts, Transport, read_timed_out, retrying

MAX_PAGES = 10_000  # of a tag or repository listing: 10 million names at 1000 a page

__all__ = ["Credentials", "Probe", "RegistryClient", "RetryPolicy", "Timeouts"]

MAX_MANIFEST_BYTES = 4 << 20  # distribution refuses to store a bigger one; the Go oras CLI to read one
MAX_PAGE_BYTES = 16 << 20  # one page of a listing: 1000 names of at most 255 characters, with room
MANIFEST_CHUNK = 64 << 10
# A manifest or a page of a listing is small: a registry that takes longer than this to send
# one is dripping bytes (each within the read timeout), and would otherwise be waited for forever.
SMALL_ANSWER_SECONDS = 60.0


def read_small_answer(r: requests.Response, what: str, *, limit: int, seconds: float | None = None,
                      too_big: Callable[[int | None], Exception]) -> bytes:
    """The body of a streamed response, refused past ``limit`` bytes or ``seconds`` (each read
    returns what has arrived, so a slow trickle is timed as it comes, and the connection is shut at
    ``seconds`` from outside the read: oci/bodies.py, ``cut_off_after``)."""
    declared = r.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_big(int(declared))
    seconds = SMALL_ANSWER_SECONDS if seconds is None else seconds
    started = time.monotonic()
    body = bytearray()

    def too_slow() -> RegistryUnreachable:
        return RegistryUnreachable(f"{what}: the registry took over {seconds:g} s to send {len(body)} bytes "
                                   f"of a small answer; giving up", transient=False)

    with cut_off_after(r, seconds) as watch:
        while True:
            try:
                chunk = r.raw.read1(MANIFEST_CHUNK, decode_content=True)
            except (OSError, urllib3.exceptions.HTTPError):
                if watch.fired:
                    raise too_slow() from None
                raise
            if not chunk:
                break
            body += chunk
            if len(body) > limit:
                raise too_big(None)
            if time.monotonic() - started > seconds and not r.raw.closed:  # (closed: it all came)
                raise too_slow()
    if watch.fired:  # cut off: what came is not the whole answer
        raise too_slow()
    return bytes(body)


def _manifest_too_big(what: str, declared: int | None) -> UnsupportedArtifact:
    size = f"{declared} bytes, " if declared is not None else ""
    return UnsupportedArtifact(f"{what}: the manifest is {size}over the {MAX_MANIFEST_BYTES >> 20} MiB "
                               "a manifest may have (as distribution and oras limit it); refusing it")


def names_in_page(page: Any, field: str, *, what: str) -> list[str]:
    """The names one page of a tag or repository listing holds: ``{"<field>": ["name", ...]}``.

    A missing or null list is an empty page (distribution answers ``"tags": null``); any other
    shape is a RegistryError naming the field.
    """
    if not isinstance(page, dict):
        raise RegistryError(f"{what}: registry answered with JSON that is not an object with {field!r} "
                            f"(got {type(page).__name__})")
    names = page.get(field)
    if names is None:
        return []
    if not isinstance(names, list) or not all(isinstance(name, str) for name in names):
        shown = repr(names) if len(repr(names)) <= 80 else repr(names)[:77] + "..."
        raise RegistryError(f"{what}: registry answered {field!r} as {shown}, not a list of names")
    return names


class _Interrupted(RegistryUnreachable):
    """A blob download broke off mid-stream; it resumes from ``received`` bytes."""

    def __init__(self, message: str, *, received: int, chunked: bool, progressed: bool) -> None:
        super().__init__(message)
        self.received = received
        self.chunked = chunked
        self.progressed = progressed  # a try that moved bytes forward does not count against the next ones


class RegistryClient:
    """One registry, one connection pool, shared safely by the transfer threads."""

    def __init__(
        self,
        hostname: str,
        *,
        plain_http: bool = False,
        insecure: bool = False,
        credentials: Credentials | None = None,
        timeouts: Timeouts = Timeouts(),
        retries: int = 4,
        retry: RetryPolicy | None = None,
        pool_size: int = 8,
        name: str | None = None,
        docker_config: bool = True,
    ) -> None:
        """``retries`` is the number of tries after the first; ``retry`` overrides it with a whole policy.
        ``name``: how messages say the registry when not by ``hostname`` (a cache reached through a
        port-forward: ``cache lab/oras``); its repositories are then named without a host.
        ``docker_config``: without ``credentials``, use what `docker login` saved for the host (the
        webhook, reading for pods, uses only theirs: never its own)."""
        self.hostname = hostname
        self.name = name or hostname
        self._host_in_names = name is None
        self.transport = Transport(
            hostname, plain_http=plain_http, insecure=insecure, name=name,
            auth=AuthCache(credentials or (docker_config_credentials(hostname) if docker_config else None)),
            timeouts=timeouts, retry=retry or RetryPolicy(attempts=retries + 1), pool_size=pool_size,
            user_agent=f"kubectl-oras/{__version__}",
        )

    def close(self) -> None:
        """Close the connections kept in the pool; a request in flight keeps its own to the end, and
        a later one opens a new connection."""
        self.transport.session.close()

    def repository_name(self, repository: str) -> str:
        """A repository as messages say it: ``HOST/REPO``, or ``REPO`` when the registry has a name."""
        return f"{self.hostname}/{repository}" if self._host_in_names else repository

    @property
    def plain_http(self) -> bool:
        return self.transport.plain_http

    def request(self, method: str, url: str, *, what: str, **kwargs: Any) -> requests.Response:
        """A raw API call through the transport (auth, retries, errors mapped): see Transport.request."""
        return self.transport.request(method, url, what=what, **kwargs)

    def probe(self, *, limit: float) -> Probe:
        """Whether the registry answers at all (``Transport.probe``): for waiting until it does."""
        return self.transport.probe(limit=limit)

    # -- blobs --------------------------------------------------------------------------------

    def blob_exists(self, repository: str, digest: str) -> bool:
        r = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", what=f"check blob {digest[:19]} in {repository}",
                         ok=(200, 404))
        return r.status_code == 200

    def _start_upload(self, repository: str, what: str, *, retry: bool = True) -> str:
        r = self.request("POST", f"/v2/{repository}/blobs/uploads/", what=what, headers={"Content-Length": "0"},
                         body=b"", ok=(202,), retry=retry)
        location = r.headers.get("Location")
        if not location:
            raise RegistryError(f"{what}: registry started an upload without a Location header")
        return urllib.parse.urljoin(r.url, location)

    @staticmethod
    def _with_digest(location: str, digest: str) -> str:
        sep = "&" if urllib.parse.urlparse(location).query else "?"
        return f"{location}{sep}digest={urllib.parse.quote(digest)}"

    def upload_blob_file(self, repository: str, path: str, *, size: int, digest: str | None = None,
                         progress: BytesMoved | None = None, cancel: threading.Event | None = None) -> str:
        """Upload a file as a blob in bounded memory; returns its digest.

        With a known digest: POST + PUT (monolithic, body streamed from the file).
        Without: POST + one PATCH whose body is hashed while it streams + PUT ?digest=, so a big
        file is read once and hashed on the way out instead of hashed first and read again.
        A failure mid-stream starts the whole upload again, as the retry policy allows.
        """
        what = f"push {os.path.basename(path)} to {repository}"
        sent = 0

        def counted(n: int) -> None:
            nonlocal sent
            self.transport.check_going(what, cancel)  # between blocks: Ctrl-C or --timeout stop the upload
            sent += n
            if progress:
                progress(n)

        def rewind() -> None:
            nonlocal sent
            if progress and sent:
                progress(-sent)
            sent = 0

        def upload() -> str:
            location = self._start_upload(repository, what, retry=False)  # this whole function is what is retried
            octet = {"Content-Type": "application/octet-stream"}
            if digest is not None:
                with FileBody(path, size, progress=counted) as body:
                    self.put_blob(location, digest, body, what=what)
                return digest
            with FileBody(path, size, progress=counted, hashing=True) as body:
                r = self.request("PATCH", location, what=what, body=body, ok=(202, 204), retry=False,
                                 headers={**octet, "Content-Length": str(size), "Content-Range": f"0-{size - 1}"})
                computed = body.digest()
            location = urllib.parse.urljoin(r.url, r.headers.get("Location") or location)
            self.request("PUT", self._with_digest(location, computed), what=what, body=b"",
                         headers={"Content-Length": "0"}, ok=(201,), retry=False)
            return computed

        return retrying(self.transport.retry, upload, on_retry=rewind, deadline=self.transport.deadline)

    def start_upload(self, repository: str, *, what: str) -> str:
        """A new upload's Location (POST, not tried again here: the caller retries the whole upload)."""
        return self._start_upload(repository, what, retry=False)

    def put_blob(self, location: str, digest: str, body: Body, *, what: str) -> None:
        """The whole blob in one PUT to an upload's ``location``, ``body`` streamed (read once, so
        not tried again here)."""
        self.request("PUT", self._with_digest(location, digest), what=what, body=body, ok=(201,), retry=False,
                     headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(body))})

    def mount_blob(self, repository: str, digest: str, *, source_repository: str) -> bool:
        """Ask the registry to link ``digest`` of ``source_repository`` into ``repository`` without
        sending it (cross-repository mount): True when it did (201). A registry that will not (no
        such blob there, no read access to the source) starts an upload instead (202): False, and
        the blob is sent."""
        what = f"mount blob {digest[:19]} from {source_repository} into {repository}"
        query = urllib.parse.urlencode({"mount": digest, "from": source_repository})
        r = self.request("POST", f"/v2/{repository}/blobs/uploads/?{query}", what=what,
                         headers={"Content-Length": "0"}, body=b"", ok=(201, 202))
        r.close()
        return r.status_code == 201

    def open_blob(self, repository: str, digest: str, *, what: str) -> requests.Response:
        """A blob's answer with its body unread, to stream elsewhere (not tried again here)."""
        return self.request("GET", f"/v2/{repository}/blobs/{digest}", what=what, stream=True, retry=False)

    def upload_blob_bytes(self, repository: str, data: bytes, digest: str) -> None:
        what = f"push blob {digest[:19]} to {repository}"
        location = self._start_upload(repository, what)
        self.request("PUT", self._with_digest(location, digest), what=what, body=data,
                     headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}, ok=(201,))

    def download_blob(self, repository: str, digest: str, size: int, out: BinaryIO, *,
                      progress: BytesMoved | None = None, cancel: threading.Event | None = None) -> None:
        """Stream a blob into ``out``, verifying size and digest; resume with Range after a reset."""
        what = f"pull blob {digest} from {repository}"
        try:
            hasher = hasher_for(digest)
        except ValueError as e:
            raise DigestMismatch(f"{what}: {e}") from e
        received = 0

        def fetch() -> None:
            nonlocal hasher, received
            started = received
            headers = {"Range": f"bytes={received}-"} if received else {}
            r = self.request("GET", f"/v2/{repository}/blobs/{digest}", what=what, headers=headers, stream=True,
                             ok=(200, 206), retry=False)
            with r:
                if received and r.status_code == 200:  # no range support: start over
                    out.seek(0)
                    out.truncate()
                    if progress:
                        progress(-received)
                    hasher, received = hasher_for(digest), 0
                try:
                    for chunk in r.iter_content(IO_BLOCK):
                        self.transport.check_going(what, cancel)
                        received += len(chunk)
                        if received > size:
                            raise DigestMismatch(f"{what}: registry sent more than the {size} bytes the manifest declares")
                        hasher.update(chunk)
                        out.write(chunk)
                        if progress:
                            progress(len(chunk))
                except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout) as e:
                    raise _Interrupted(str(e), received=received, progressed=received > started,
                                       chunked=isinstance(e, requests.exceptions.ChunkedEncodingError)) from e

        try:
            retrying(self.transport.retry, fetch, deadline=self.transport.deadline)
        except _Interrupted as e:
            cause = e.__cause__ or e
            deadline = self.transport.deadline
            if deadline is not None and deadline.remaining() <= 0:
                raise deadline.exceeded(what) from e
            if read_timed_out(cause):
                raise RegistryUnreachable(
                    f"{what}: registry {self.name} stopped sending after {e.received} of {size} bytes and did not "
                    f"send more within {self.transport.timeouts.read:g} s") from e
            if e.chunked or e.received:
                raise DigestMismatch(
                    f"{what}: the connection ended after {e.received} of {size} bytes (truncated blob): {e}"
                ) from e
            raise self.transport.unreachable(cause, what) from e
        if received != size:
            raise DigestMismatch(f"{what}: received {received} bytes, the manifest declares {size} (truncated blob)")
        actual = digest_of(hasher)
        if actual != digest:
            raise DigestMismatch(f"{what}: content has digest {actual}; refusing it")

    # -- manifests ----------------------------------------------------------------------------

    def fetch_manifest(self, repository: str, reference: str, *, what: str) -> tuple[dict[str, Any], str, str]:
        """(manifest, media type, digest); the digest is verified when the reference is one.

        The body is read as it streams, and refused past MAX_MANIFEST_BYTES (as distribution and
        the Go oras CLI do), so a huge or endless answer never fills the memory.
        """
        return self.fetch_manifest_bytes(repository, reference, what=what)[:3]

    def fetch_manifest_bytes(self, repository: str, reference: str, *,
                             what: str) -> tuple[dict[str, Any], str, str, bytes]:
        """``fetch_manifest``'s answer and the manifest's bytes as the registry sent them (a copy
        or a new tag puts these very bytes, so the digest stays the same)."""
        def fetch() -> tuple[bytes, str]:
            r = self.request("GET", f"/v2/{repository}/manifests/{reference}", what=what, stream=True, retry=False,
                             headers={"Accept": ", ".join(ACCEPTED_MANIFEST_TYPES)})
            with r:
                try:
                    body = read_small_answer(r, what, limit=MAX_MANIFEST_BYTES,
                                             too_big=lambda declared: _manifest_too_big(what, declared))
                except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout,
                        urllib3.exceptions.HTTPError) as e:
                    raise self.transport.unreachable(e, what) from e
                return body, r.headers.get("Content-Type", "")

        raw, content_type = retrying(self.transport.retry, fetch)
        hasher = hasher_for(reference if ":" in reference else "sha256:")
        hasher.update(raw)
        actual = digest_of(hasher)
        if ":" in reference and actual != reference:
            raise DigestMismatch(f"{what}: manifest has digest {actual}, not the {reference} asked for")
        try:
            manifest = json.loads(raw)
        except ValueError as e:
            raise RegistryError(f"{what}: the manifest is not JSON") from e
        if not isinstance(manifest, dict):
            raise RegistryError(f"{what}: the manifest is not a JSON object")
        media_type = manifest.get("mediaType") or content_type.split(";")[0]
        if not isinstance(media_type, str):
            raise RegistryError(f"{what}: the manifest's mediaType is {media_type!r}, not a string")
        return manifest, media_type, actual, raw

    def resolve(self, repository: str, reference: str, *, what: str) -> str | None:
        """The digest a tag points at, or None when there is no such tag."""
        r = self.request("HEAD", f"/v2/{repository}/manifests/{reference}", what=what, ok=(200, 404),
                         headers={"Accept": ", ".join(ACCEPTED_MANIFEST_TYPES)})
        if r.status_code == 404:
            return None
        digest = r.headers.get("Docker-Content-Digest")
        if not digest:  # HEAD without the header: fetch and hash it ourselves
            return self.fetch_manifest(repository, reference, what=what)[2]
        return digest

    def put_manifest(self, repository: str, reference: str, body: bytes, *,
                     media_type: str = MANIFEST_MEDIA_TYPE) -> requests.Response:
        """PUT a manifest under a tag or its digest; the answer's headers say more (``OCI-Subject``)."""
        return self.request("PUT", f"/v2/{repository}/manifests/{reference}",
                            what=f"push manifest {repository}:{reference}", body=body,
                            headers={"Content-Type": media_type}, ok=(201,))

    def delete_manifest(self, repository: str, reference: str) -> requests.Response:
        """DELETE /manifests/<tag or digest>; the caller decides what 4xx answers mean."""
        return self.request("DELETE", f"/v2/{repository}/manifests/{reference}", what=f"delete {repository}:{reference}",
                            ok=(200, 202, 400, 404, 405))

    # -- listings -----------------------------------------------------------------------------

    def _paginate(self, path: str, field: str, *, what: str) -> Iterator[str]:
        """The names in ``field`` of every page; RegistryError naming the request for any other shape.

        A registry's next-page link is followed only to the same registry (our credentials go with
        every request), never to a page already read, and for at most MAX_PAGES pages.
        """
        url = self.transport.url(path)
        origin = urllib.parse.urlsplit(url)[:2]
        visited: set[str] = set()
        while url:
            if url in visited:  # said by its path: the registry's address may be a tunnel's local port
                page_path = urllib.parse.urlunsplit(("", "", *urllib.parse.urlsplit(url)[2:]))
                raise RegistryError(f"{what}: the registry's next-page link leads back to a page already read ({page_path})")
            if len(visited) >= MAX_PAGES:
                raise RegistryError(f"{what}: the registry answered with more than {MAX_PAGES} pages; giving up")
            if urllib.parse.urlsplit(url)[:2] != origin:
                raise RegistryError(f"{what}: the registry's next-page link leads to another host ({url}); not followed")
            visited.add(url)
            r, body = retrying(self.transport.retry, functools.partial(self._read_page, url, what))
            try:
                page = json.loads(body)
            except ValueError as e:
                raise RegistryError(f"{what}: registry answered with something that is not JSON") from e
            yield from names_in_page(page, field, what=what)
            next_link = r.links.get("next", {}).get("url")
            url = urllib.parse.urljoin(r.url, next_link) if next_link else ""

    def _read_page(self, url: str, what: str) -> tuple[requests.Response, bytes]:
        def too_big(declared: int | None) -> RegistryError:
            return RegistryError(f"{what}: a page of the listing is over {MAX_PAGE_BYTES >> 20} MiB; refusing it")

        r = self.request("GET", url, what=what, stream=True, retry=False)
        with r:
            try:
                return r, read_small_answer(r, what, limit=MAX_PAGE_BYTES, too_big=too_big)
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout,
                    urllib3.exceptions.HTTPError) as e:
                raise self.transport.unreachable(e, what) from e

    def list_tags(self, repository: str) -> list[str]:
        what = f"list tags of {self.repository_name(repository)}"
        return list(self._paginate(f"/v2/{repository}/tags/list?n=1000", "tags", what=what))

    def list_repositories(self) -> list[str]:
        return list(self._paginate("/v2/_catalog?n=1000", "repositories", what=f"list repositories of {self.name}"))
