"""Talk to one OCI registry: requests with timeouts, retries and auth; blobs, manifests, tags.

Built on oras-py's ``Registry`` (its session, docker-config credential loading and challenge
parsing) with the parts that do not meet our bar replaced; docs/oras-py.md lists each one and why.
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import queue
import threading
import time
import urllib.parse
from dataclasses import dataclass
from typing import Any, BinaryIO, Callable, Iterator

import oras.auth.utils as oras_auth_utils
import oras.provider
import requests
import requests.adapters

from . import __version__
from .errors import (
    AuthenticationFailed,
    DigestMismatch,
    NotFound,
    RegistryError,
    RegistryUnreachable,
)
from .manifest import ACCEPTED_MANIFEST_TYPES, MANIFEST_MEDIA_TYPE

IO_BLOCK = 1 << 20
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
Progress = Callable[[int], None]


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str

    @classmethod
    def from_env(cls, *, push: bool, environ: dict[str, str] | None = None) -> Credentials | None:
        """ORAS_USER with ORAS_PASS, or the predecessor's ORAS_PUSH_PASS / ORAS_PULL_PASS."""
        env = os.environ if environ is None else environ
        user = env.get("ORAS_USER")
        password = env.get("ORAS_PUSH_PASS" if push else "ORAS_PULL_PASS") or env.get("ORAS_PASS")
        if user and password:
            return cls(user, password)
        return None

    def basic_header(self) -> str:
        return "Basic " + oras_auth_utils.get_basic_auth(self.username, self.password)


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    read: float = 120.0  # between bytes, not for the whole transfer


class _BlockAdapter(requests.adapters.HTTPAdapter):
    """Send request bodies in 1 MiB blocks (urllib3's default 16 KiB costs ~10% CPU on big blobs)."""

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        pool_kwargs["blocksize"] = IO_BLOCK
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


class FileBody:
    """A request body read from a file, hashing and reporting progress as it is sent.

    With ``hashing``, a read-ahead thread reads and hashes 1 MiB blocks while the sending
    thread writes earlier ones to the socket (hashlib and socket writes both release the GIL),
    so hashing a big blob costs no wall time; at most ``READ_AHEAD`` blocks are held in memory.
    """

    READ_AHEAD = 4

    def __init__(self, path: str, size: int, *, progress: Progress | None = None, hashing: bool = False) -> None:
        self._file = open(path, "rb")
        self._name = path
        self._size = size
        self._left = size
        self._progress = progress
        self._pending = b""
        self.hash = hashlib.sha256() if hashing else None
        self._blocks: queue.Queue[bytes | BaseException] | None = None
        self._stop = threading.Event()
        if hashing:
            self._blocks = queue.Queue(self.READ_AHEAD)
            self._reader = threading.Thread(target=self._read_ahead, name="hash-ahead", daemon=True)
            self._reader.start()

    def __len__(self) -> int:
        return self._size

    def _read_ahead(self) -> None:
        assert self._blocks is not None and self.hash is not None
        left = self._size
        try:
            while left > 0 and not self._stop.is_set():
                block = self._file.read(min(IO_BLOCK, left))
                if not block:
                    raise OSError(f"{self._name}: file shrank while it was being pushed")
                self.hash.update(block)
                left -= len(block)
                self._put(block)
        except BaseException as e:  # handed to the sending thread, which raises it
            self._put(e)

    def _put(self, item: bytes | BaseException) -> None:
        assert self._blocks is not None
        while not self._stop.is_set():
            try:
                self._blocks.put(item, timeout=0.2)
                return
            except queue.Full:
                continue

    def _next_block(self, n: int) -> bytes:
        if self._blocks is None:
            data = self._file.read(n)
            if not data:
                raise OSError(f"{self._name}: file shrank while it was being pushed")
            return data
        item = self._blocks.get()
        if isinstance(item, BaseException):
            raise item
        return item

    def read(self, n: int = -1) -> bytes:
        if self._left <= 0:
            return b""
        n = self._left if n < 0 else min(n, self._left)
        data = self._pending or self._next_block(n)
        data, self._pending = data[:n], data[n:]
        self._left -= len(data)
        if self._progress:
            self._progress(len(data))
        return data

    def digest(self) -> str:
        """The sha256 of everything sent; valid once the body has been read to the end."""
        assert self.hash is not None and self._left == 0
        if self._blocks is not None:
            self._reader.join()
        return "sha256:" + self.hash.hexdigest()

    def close(self) -> None:
        self._stop.set()
        if self._blocks is not None:
            self._reader.join()
        self._file.close()

    def __enter__(self) -> FileBody:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _oci_messages(response: requests.Response) -> tuple[str, tuple[str, ...]]:
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return "", ()
    messages = []
    codes = []
    for err in errors:
        if isinstance(err, dict):
            codes.append(str(err.get("code", "")))
            messages.append(str(err.get("message") or err.get("code") or ""))
    return "; ".join(m for m in messages if m), tuple(codes)


def _repository_of(path: str) -> str | None:
    """The repository a /v2/ API path is about, or None (catalog, ping)."""
    for marker in ("/blobs/", "/manifests/", "/tags/", "/referrers/"):
        if marker in path and path.startswith("/v2/"):
            return path[len("/v2/") : path.index(marker)]
    return None


class _ReplayUpload(Exception):
    """A streamed upload met an auth challenge mid-way; start it again with the new token."""


class RegistryClient(oras.provider.Registry):
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
        pool_size: int = 8,
    ) -> None:
        super().__init__(hostname=hostname, insecure=plain_http, tls_verify=not insecure, auth_backend="basic")
        adapter = _BlockAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = f"kubectl-oras/{__version__}"
        self.plain_http = plain_http
        self.insecure = insecure
        self.timeouts = timeouts
        self.retries = retries
        self._credentials = credentials or self._docker_config_credentials(hostname)
        self._tokens: dict[tuple[str | None, bool], str] = {}
        self._basic = False
        self._lock = threading.Lock()

    # -- plumbing -----------------------------------------------------------------------------

    @staticmethod
    def _docker_config_credentials(hostname: str) -> Credentials | None:
        """Credentials saved by `oras login` / `docker login` (oras-py reads the same files)."""
        try:
            config = oras_auth_utils.load_configs(None)
        except Exception:  # an unreadable config is the same as none: we never fail on it
            return None
        auth = (config.get("auths") or {}).get(hostname, {}).get("auth")
        if not auth:
            return None
        try:
            user, _, password = base64.b64decode(auth).decode().partition(":")
        except ValueError:
            return None
        return Credentials(user, password) if user else None

    def url(self, path: str) -> str:
        return f"{self.prefix}://{self.hostname}{path}"

    def _auth_headers(self, key: tuple[str | None, bool]) -> dict[str, str]:
        with self._lock:
            token = self._tokens.get(key)
            if token:
                return {"Authorization": f"Bearer {token}"}
            if self._basic and self._credentials:
                return {"Authorization": self._credentials.basic_header()}
        return {}

    def _answer_challenge(self, response: requests.Response, key: tuple[str | None, bool], what: str) -> None:
        """Obtain what a 401 asks for: a bearer token for the scope it names, or basic auth."""
        challenge = response.headers.get("Www-Authenticate", "")
        if challenge.lower().startswith("basic"):
            if not self._credentials:
                raise AuthenticationFailed(f"{what}: registry {self.hostname} requires credentials; set ORAS_USER and ORAS_PASS", status=401)
            with self._lock:
                self._basic = True
            return
        if not challenge.lower().startswith("bearer"):
            raise AuthenticationFailed(f"{what}: registry {self.hostname} refused the request (401) without an auth challenge", status=401)
        h = oras_auth_utils.parse_auth_header(challenge)
        params = {k: v for k, v in (("service", h.service), ("scope", h.scope)) if v}
        headers = {}
        if self._credentials:
            headers["Authorization"] = self._credentials.basic_header()
        try:
            r = self.session.get(h.realm, params=params, headers=headers, verify=self._tls_verify,
                                 timeout=(self.timeouts.connect, self.timeouts.read))
        except requests.RequestException as e:
            raise RegistryUnreachable(f"{what}: cannot reach the token service {h.realm}: {e}") from e
        if r.status_code != 200:
            hint = "" if self._credentials else "; set ORAS_USER and ORAS_PASS"
            raise AuthenticationFailed(f"{what}: token service {h.realm} refused ({r.status_code}){hint}", status=r.status_code)
        data = r.json()
        token = data.get("token") or data.get("access_token")
        if not token:
            raise AuthenticationFailed(f"{what}: token service {h.realm} answered without a token")
        with self._lock:
            self._tokens[key] = token

    def _unreachable(self, error: Exception, what: str) -> RegistryUnreachable:
        text = str(error)
        hint = ""
        if isinstance(error, requests.exceptions.SSLError):
            if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
                hint = " (the registry speaks plain HTTP: pass --plain-http)"
            elif "CERTIFICATE_VERIFY_FAILED" in text:
                hint = " (untrusted certificate: pass --insecure to skip verification)"
        elif isinstance(error, requests.exceptions.ConnectionError) and not self.plain_http and "Connection refused" not in text:
            hint = " (is it HTTPS? for a plain-HTTP registry pass --plain-http)"
        reason = text.split("Caused by ")[-1].rstrip(")") if "Caused by" in text else text
        return RegistryUnreachable(f"{what}: cannot reach registry {self.hostname}: {reason}{hint}")

    def request(
        self,
        method: str,
        url: str,
        *,
        what: str,
        headers: dict[str, str] | None = None,
        body: bytes | FileBody | None = None,
        stream: bool = False,
        ok: tuple[int, ...] = (200,),
        retry: bool = True,
    ) -> requests.Response:
        """One API call: auth, timeouts, retries on 429/5xx/connection reset, errors mapped once.

        ``what`` names the thing being done for the error message ("pull dinosaur/hello:latest").
        A streamed ``FileBody`` cannot be replayed, so such calls pass ``retry=False`` and
        the caller restarts the whole upload.
        """
        if not url.startswith("http"):
            url = self.url(url)
        path = urllib.parse.urlparse(url).path
        key = (_repository_of(path), method not in ("GET", "HEAD"))
        attempts = 1 + (self.retries if retry else 0)
        authenticated_again = False
        attempt = 0
        while True:
            all_headers = dict(headers or {})
            all_headers.update(self._auth_headers(key))
            try:
                response = self.session.request(
                    method, url, headers=all_headers, data=body, stream=stream, verify=self._tls_verify,
                    timeout=(self.timeouts.connect, self.timeouts.read), allow_redirects=True,
                )
            except (requests.ConnectionError, requests.Timeout) as e:
                attempt += 1
                if attempt >= attempts or isinstance(e, requests.exceptions.SSLError):
                    raise self._unreachable(e, what) from e
                time.sleep(self._backoff(attempt, None))
                continue
            if response.status_code == 401 and not authenticated_again:
                response.close()
                self._answer_challenge(response, key, what)
                if isinstance(body, FileBody):
                    raise _ReplayUpload()  # the body is spent; the upload starts again, now authenticated
                authenticated_again = True
                continue
            if response.status_code in RETRY_STATUSES:
                attempt += 1
                if attempt < attempts:
                    response.close()
                    time.sleep(self._backoff(attempt, response.headers.get("Retry-After")))
                    continue
            if response.status_code not in ok:
                self._raise_for_status(response, what)
            return response

    @staticmethod
    def _backoff(attempt: int, retry_after: str | None) -> float:
        if retry_after:
            try:
                return min(float(retry_after), 30.0)
            except ValueError:
                pass
        return min(0.2 * 2 ** (attempt - 1), 5.0)

    def _raise_for_status(self, response: requests.Response, what: str) -> None:
        """Map an HTTP error to our error hierarchy: the one place that does so."""
        status = response.status_code
        message, codes = _oci_messages(response)
        detail = f": {message}" if message else ""
        if status == 401:
            hint = "" if self._credentials else "; set ORAS_USER and ORAS_PASS"
            raise AuthenticationFailed(f"{what}: unauthorized (401){detail}{hint}", status=status, codes=codes)
        if status == 403:
            raise AuthenticationFailed(f"{what}: denied (403){detail}", status=status, codes=codes)
        if status == 404:
            raise NotFound(f"{what}: not found{detail}", status=status, codes=codes)
        raise RegistryError(f"{what}: registry answered {status} {response.reason}{detail}", status=status, codes=codes)

    # oras-py's own methods (get_tags, blob_exists, …) go through our request().
    def do_request(self, url: str, method: str = "GET", data: Any = None, headers: dict | None = None,
                   json: dict | None = None, stream: bool = False) -> requests.Response:  # noqa: A002
        body = data
        if json is not None:
            body = _json_bytes(json)
            headers = {**(headers or {}), "Content-Type": "application/json"}
        return self.request(method, url, what=f"{method} {url}", headers=headers, body=body, stream=stream,
                            ok=tuple(range(100, 600)))

    # -- blobs --------------------------------------------------------------------------------

    def blob_exists(self, repository: str, digest: str) -> bool:  # type: ignore[override]
        r = self.request("HEAD", f"/v2/{repository}/blobs/{digest}", what=f"check blob {digest[:19]} in {repository}", ok=(200, 404))
        return r.status_code == 200

    def _start_upload(self, repository: str, what: str) -> str:
        r = self.request("POST", f"/v2/{repository}/blobs/uploads/", what=what, headers={"Content-Length": "0"}, body=b"", ok=(202,))
        location = r.headers.get("Location")
        if not location:
            raise RegistryError(f"{what}: registry started an upload without a Location header")
        return urllib.parse.urljoin(r.url, location)

    @staticmethod
    def _with_digest(location: str, digest: str) -> str:
        sep = "&" if urllib.parse.urlparse(location).query else "?"
        return f"{location}{sep}digest={urllib.parse.quote(digest)}"

    def upload_blob_file(self, repository: str, path: str, *, size: int, digest: str | None = None,
                         progress: Progress | None = None) -> str:
        """Upload a file as a blob in bounded memory; returns its digest.

        With a known digest: POST + PUT (monolithic, body streamed from the file).
        Without: POST + one PATCH whose body is hashed while it streams + PUT ?digest=, so a big
        file is read once and hashed on the way out instead of hashed first and read again.
        A failure mid-stream restarts the whole upload, up to ``retries`` times.
        """
        what = f"push {os.path.basename(path)} to {repository}"
        attempt = 0
        while True:
            sent = 0

            def counted(n: int) -> None:
                nonlocal sent
                sent += n
                if progress:
                    progress(n)

            try:
                location = self._start_upload(repository, what)
                octet = {"Content-Type": "application/octet-stream"}
                if digest is not None:
                    with FileBody(path, size, progress=counted) as body:
                        self.request("PUT", self._with_digest(location, digest), what=what, body=body,
                                     headers={**octet, "Content-Length": str(size)}, ok=(201,), retry=False)
                    return digest
                with FileBody(path, size, progress=counted, hashing=True) as body:
                    r = self.request("PATCH", location, what=what, body=body, ok=(202, 204), retry=False,
                                     headers={**octet, "Content-Length": str(size), "Content-Range": f"0-{size - 1}"})
                    computed = body.digest()
                location = urllib.parse.urljoin(r.url, r.headers.get("Location") or location)
                self.request("PUT", self._with_digest(location, computed), what=what, body=b"",
                             headers={"Content-Length": "0"}, ok=(201,), retry=False)
                return computed
            except _ReplayUpload:
                attempt += 1
                if attempt > self.retries:
                    raise AuthenticationFailed(f"{what}: the registry keeps asking for authentication", status=401)
                if progress and sent:
                    progress(-sent)
                continue
            except (RegistryUnreachable, RegistryError) as e:
                retryable = isinstance(e, RegistryUnreachable) or (e.status in RETRY_STATUSES)
                attempt += 1
                if not retryable or attempt > self.retries:
                    raise
                if progress and sent:
                    progress(-sent)
                time.sleep(self._backoff(attempt, None))

    def upload_blob_bytes(self, repository: str, data: bytes, digest: str) -> None:
        what = f"push blob {digest[:19]} to {repository}"
        location = self._start_upload(repository, what)
        self.request("PUT", self._with_digest(location, digest), what=what, body=data,
                     headers={"Content-Type": "application/octet-stream", "Content-Length": str(len(data))}, ok=(201,))

    def download_blob(self, repository: str, digest: str, size: int, out: BinaryIO, *,  # type: ignore[override]
                      progress: Progress | None = None) -> None:
        """Stream a blob into ``out``, verifying size and digest; resume with Range after a reset."""
        what = f"pull blob {digest} from {repository}"
        algorithm = digest.split(":", 1)[0]
        if algorithm not in ("sha256", "sha512"):
            raise DigestMismatch(f"{what}: unsupported digest algorithm {algorithm!r}")
        hasher = hashlib.new(algorithm)
        received = 0
        attempt = 0
        while True:
            headers = {"Range": f"bytes={received}-"} if received else {}
            try:
                r = self.request("GET", f"/v2/{repository}/blobs/{digest}", what=what, headers=headers, stream=True, ok=(200, 206))
                with r:
                    if received and r.status_code == 200:  # no range support: start over
                        out.seek(0)
                        out.truncate()
                        if progress:
                            progress(-received)
                        hasher, received = hashlib.new(algorithm), 0
                    for chunk in r.iter_content(IO_BLOCK):
                        received += len(chunk)
                        if received > size:
                            raise DigestMismatch(f"{what}: registry sent more than the {size} bytes the manifest declares")
                        hasher.update(chunk)
                        out.write(chunk)
                        if progress:
                            progress(len(chunk))
                break
            except (requests.ConnectionError, requests.exceptions.ChunkedEncodingError, requests.Timeout) as e:
                attempt += 1
                if attempt > self.retries:
                    if isinstance(e, requests.exceptions.ChunkedEncodingError) or received:
                        raise DigestMismatch(
                            f"{what}: the connection ended after {received} of {size} bytes (truncated blob): {e}"
                        ) from e
                    raise self._unreachable(e, what) from e
                time.sleep(self._backoff(attempt, None))
        if received != size:
            raise DigestMismatch(f"{what}: received {received} bytes, the manifest declares {size} (truncated blob)")
        actual = f"{algorithm}:{hasher.hexdigest()}"
        if actual != digest:
            raise DigestMismatch(f"{what}: content has digest {actual}; refusing it")

    # -- manifests ----------------------------------------------------------------------------

    def fetch_manifest(self, repository: str, reference: str, *, what: str) -> tuple[dict[str, Any], str, str]:
        """(manifest, media type, digest); the digest is verified when the reference is one."""
        r = self.request("GET", f"/v2/{repository}/manifests/{reference}", what=what,
                         headers={"Accept": ", ".join(ACCEPTED_MANIFEST_TYPES)})
        raw = r.content
        if ":" in reference:
            algorithm = reference.split(":", 1)[0]
            actual = f"{algorithm}:{hashlib.new(algorithm, raw).hexdigest()}"
            if actual != reference:
                raise DigestMismatch(f"{what}: manifest has digest {actual}, not the {reference} asked for")
        else:
            actual = "sha256:" + hashlib.sha256(raw).hexdigest()
        try:
            manifest = json.loads(raw)
        except ValueError as e:
            raise RegistryError(f"{what}: the manifest is not JSON") from e
        if not isinstance(manifest, dict):
            raise RegistryError(f"{what}: the manifest is not a JSON object")
        media_type = manifest.get("mediaType") or r.headers.get("Content-Type", "").split(";")[0]
        return manifest, media_type, actual

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

    def put_manifest(self, repository: str, reference: str, body: bytes, *, media_type: str = MANIFEST_MEDIA_TYPE) -> None:
        self.request("PUT", f"/v2/{repository}/manifests/{reference}", what=f"push manifest {repository}:{reference}",
                     body=body, headers={"Content-Type": media_type}, ok=(201,))

    def delete_manifest(self, repository: str, reference: str) -> requests.Response:
        """DELETE /manifests/<tag or digest>; the caller decides what 4xx answers mean."""
        return self.request("DELETE", f"/v2/{repository}/manifests/{reference}", what=f"delete {repository}:{reference}",
                            ok=(200, 202, 400, 404, 405))

    # -- listings -----------------------------------------------------------------------------

    def _paginate(self, path: str, field: str, *, what: str) -> Iterator[str]:
        url = self.url(path)
        while url:
            r = self.request("GET", url, what=what)
            try:
                items = r.json().get(field) or []
            except ValueError as e:
                raise RegistryError(f"{what}: registry answered with something that is not JSON") from e
            yield from items
            next_link = r.links.get("next", {}).get("url")
            url = urllib.parse.urljoin(r.url, next_link) if next_link else ""

    def list_tags(self, repository: str) -> list[str]:
        return list(self._paginate(f"/v2/{repository}/tags/list?n=1000", "tags", what=f"list tags of {repository}"))

    def list_repositories(self) -> list[str]:
        return list(self._paginate("/v2/_catalog?n=1000", "repositories", what=f"list repositories of {self.hostname}"))


def _json_bytes(value: Any) -> bytes:
    return json.dumps(value).encode()
