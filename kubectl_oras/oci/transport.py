"""HTTP to one registry: a pooled session, timeouts, one retry policy, auth, errors mapped once.

``RetryPolicy`` is data (attempts, backoff, Retry-After cap, total deadline) and ``retrying`` is
the one loop that applies it: to single requests here, and to whole operations in the client
(a streamed upload started again, a download resumed with Range). An error is retried when it
says it is ``transient`` (429, 5xx, a connection that failed or broke); everything else is raised
at once with the message the user sees.
"""

from __future__ import annotations

import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Protocol, TypeVar

import requests
import requests.adapters

from .auth import AuthCache, RequestToken, Scope, answer_challenge, parse_token_answer
from .digests import IO_BLOCK
from .errors import AuthenticationFailed, NotFound, RegistryError, RegistryUnreachable

RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})
T = TypeVar("T")


@dataclass(frozen=True)
class Timeouts:
    connect: float = 10.0
    read: float = 120.0  # between bytes, not for the whole transfer


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to try again after a transient failure."""

    attempts: int = 5  # tries in all, the first included
    backoff: float = 0.2  # seconds before the second try; doubled for each further one
    max_backoff: float = 5.0
    max_retry_after: float = 30.0  # a registry's Retry-After is honoured up to this
    deadline: float | None = None  # seconds from the first try after which no new try starts

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try number ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return min(self.backoff * 2 ** (attempt - 1), self.max_backoff)


def retrying(policy: RetryPolicy, operation: Callable[[], T], *, on_retry: Callable[[], None] | None = None,
             sleep: Callable[[float], None] = time.sleep, clock: Callable[[], float] = time.monotonic) -> T:
    """Run ``operation`` until it succeeds, raises a non-transient error, or the policy is spent."""
    started = clock()
    attempt = 1
    while True:
        try:
            return operation()
        except RegistryError as e:
            if not e.transient or attempt >= policy.attempts:
                raise
            wait = policy.delay(attempt, e.retry_after)
            if policy.deadline is not None and clock() + wait - started > policy.deadline:
                raise
        attempt += 1
        if on_retry:
            on_retry()
        sleep(wait)


class Body(Protocol):
    """A streamed request body: sent once, so a request carrying one is never replayed here."""

    def read(self, n: int = -1) -> bytes: ...

    def __len__(self) -> int: ...


class ReplayUpload(AuthenticationFailed):
    """A streamed upload met an auth challenge mid-way: it must start again, now authenticated."""

    def __init__(self, what: str) -> None:
        super().__init__(f"{what}: the registry keeps asking for authentication", status=401, transient=True,
                         retry_after=0.0)


class _BlockAdapter(requests.adapters.HTTPAdapter):
    """Send request bodies in 1 MiB blocks (urllib3's default 16 KiB costs ~10% CPU on big blobs)."""

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        pool_kwargs["blocksize"] = IO_BLOCK
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)


def _repository_of(path: str) -> str | None:
    """The repository a /v2/ API path is about, or None (catalog, ping)."""
    for marker in ("/blobs/", "/manifests/", "/tags/", "/referrers/"):
        if marker in path and path.startswith("/v2/"):
            return path[len("/v2/") : path.index(marker)]
    return None


def _oci_messages(response: requests.Response) -> tuple[str, tuple[str, ...]]:
    try:
        errors = response.json().get("errors") or []
    except (ValueError, AttributeError):
        return "", ()
    messages = []
    codes = []
    for err in errors if isinstance(errors, list) else []:
        if isinstance(err, dict):
            codes.append(str(err.get("code", "")))
            messages.append(str(err.get("message") or err.get("code") or ""))
    return "; ".join(m for m in messages if m), tuple(codes)


def _retry_after(response: requests.Response) -> float | None:
    try:
        return float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None


class Transport:
    """One registry's HTTP: shared safely by the transfer threads."""

    def __init__(self, hostname: str, *, plain_http: bool = False, insecure: bool = False, auth: AuthCache,
                 timeouts: Timeouts = Timeouts(), retry: RetryPolicy = RetryPolicy(), pool_size: int = 8,
                 user_agent: str = "kubectl-oras") -> None:
        self.hostname = hostname
        self.plain_http = plain_http
        self.insecure = insecure
        self.auth = auth
        self.timeouts = timeouts
        self.retry = retry
        self.session = requests.Session()
        # Some registries (Harbor) take a cookie as a sign of a browser and start CSRF checks.
        self.session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        adapter = _BlockAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
        self.session.mount("http://", adapter)
        self.session.mount("https://", adapter)
        self.session.headers["User-Agent"] = user_agent
        if insecure:
            import urllib3

            urllib3.disable_warnings(urllib3.exceptions.InsecureRequestWarning)

    def url(self, path: str) -> str:
        return f"{'http' if self.plain_http else 'https'}://{self.hostname}{path}"

    @property
    def _timeout(self) -> tuple[float, float]:
        return (self.timeouts.connect, self.timeouts.read)

    def request(self, method: str, url: str, *, what: str, headers: dict[str, str] | None = None,
                body: bytes | Body | None = None, stream: bool = False, ok: tuple[int, ...] = (200,),
                retry: bool = True) -> requests.Response:
        """One API call: auth, timeouts, retries on 429/5xx/connection errors, errors mapped once.

        ``what`` names the thing being done for the error message ("pull dinosaur/hello:latest").
        A streamed body cannot be replayed: such calls pass ``retry=False`` and the caller starts
        the whole upload again (``ReplayUpload`` after an auth challenge).
        """
        if not url.startswith("http"):
            url = self.url(url)
        scope: Scope = (_repository_of(urllib.parse.urlparse(url).path), method not in ("GET", "HEAD"))
        answered = False

        def once() -> requests.Response:
            nonlocal answered
            while True:
                try:
                    response = self.session.request(
                        method, url, headers={**(headers or {}), **self.auth.headers(scope)}, data=body,
                        stream=stream, verify=not self.insecure, timeout=self._timeout, allow_redirects=True)
                except (requests.ConnectionError, requests.Timeout) as e:
                    raise self.unreachable(e, what) from e
                if response.status_code == 401 and not answered:
                    response.close()
                    self._authenticate(response, scope, what)
                    answered = True
                    if body is not None and not isinstance(body, bytes):
                        raise ReplayUpload(what)  # the body is spent
                    continue
                if response.status_code not in ok:
                    response.close()
                    raise self.error_for(response, what)
                return response

        return retrying(self.retry, once) if retry else once()

    def _authenticate(self, response: requests.Response, scope: Scope, what: str) -> None:
        """Obtain what a 401 asks for: basic auth, or a bearer token for the scope it names."""
        decision = answer_challenge(response.headers.get("Www-Authenticate", ""), credentials=self.auth.credentials,
                                    registry=self.hostname, what=what)
        if not isinstance(decision, RequestToken):
            self.auth.use_basic()
            return
        headers = {"Authorization": decision.authorization} if decision.authorization else {}
        try:
            r = self.session.get(decision.realm, params=decision.params, headers=headers, verify=not self.insecure,
                                 timeout=self._timeout)
        except requests.RequestException as e:
            raise RegistryUnreachable(
                f"{what}: cannot reach the token service {decision.realm} (for registry {self.hostname}): {e}") from e
        token = parse_token_answer(r.status_code, r.content, realm=decision.realm, registry=self.hostname,
                                   have_credentials=self.auth.credentials is not None, what=what,
                                   content_type=r.headers.get("Content-Type", ""))
        self.auth.remember(scope, token)

    def error_for(self, response: requests.Response, what: str) -> RegistryError:
        """An HTTP error as our error hierarchy: the one place that maps them."""
        status = response.status_code
        message, codes = _oci_messages(response)
        detail = f": {message}" if message else ""
        if status == 401:
            hint = "" if self.auth.credentials else "; set ORAS_USER and ORAS_PASS"
            return AuthenticationFailed(f"{what}: unauthorized (401){detail}{hint}", status=status, codes=codes)
        if status == 403:
            return AuthenticationFailed(f"{what}: denied (403){detail}", status=status, codes=codes)
        if status == 404:
            return NotFound(f"{what}: not found{detail}", status=status, codes=codes)
        return RegistryError(f"{what}: registry answered {status} {response.reason}{detail}", status=status,
                             codes=codes, transient=status in RETRY_STATUSES, retry_after=_retry_after(response))

    def unreachable(self, error: BaseException, what: str) -> RegistryUnreachable:
        text = str(error)
        hint = ""
        tls = isinstance(error, requests.exceptions.SSLError)
        if tls:
            if "WRONG_VERSION_NUMBER" in text or "wrong version number" in text:
                hint = " (the registry speaks plain HTTP: pass --plain-http)"
            elif "CERTIFICATE_VERIFY_FAILED" in text:
                hint = " (untrusted certificate: pass --insecure to skip verification)"
        elif isinstance(error, requests.exceptions.ConnectionError) and not self.plain_http and "Connection refused" not in text:
            hint = " (is it HTTPS? for a plain-HTTP registry pass --plain-http)"
        reason = text.split("Caused by ")[-1].rstrip(")") if "Caused by" in text else text
        # A TLS failure does not heal by trying again; a refused or broken connection may.
        return RegistryUnreachable(f"{what}: cannot reach registry {self.hostname}: {reason}{hint}", transient=not tls)
