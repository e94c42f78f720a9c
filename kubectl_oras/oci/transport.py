"""HTTP to one registry: a pooled session, timeouts, one retry policy, auth, errors mapped once.

``RetryPolicy`` is data (attempts, backoff, Retry-After cap, total deadline) and ``retrying`` is
the one loop that applies it: to single requests here, and to whole operations in the client
(a streamed upload started again, a download resumed with Range). An error is retried when it
says it is ``transient`` (429, 5xx, a connection that failed or broke); everything else is raised
at once with the message the user sees.
"""

from __future__ import annotations

import functools
import json
import logging
import math
import queue
import threading
import time
import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from http.cookiejar import DefaultCookiePolicy
from typing import Any, Protocol, TypeVar

import requests
import requests.adapters
import urllib3

from ..backoff import Backoff
from .auth import CREDENTIALS_HINT, AuthCache, RequestToken, Scope, answer_challenge, parse_token_answer
from .bodies import (
    ANSWER_BODY_SECONDS,
    ENDED,
    TOO_BIG,
    error_body,
    finish_refusal,
    is_unread_redirect,
    read_within,
    settle,
)
from .defaults import Timeouts
from .digests import IO_BLOCK
from .errors import (
    RETRY_STATUSES,
    AuthenticationFailed,
    Cancelled,
    DeadlineExceeded,
    NotFound,
    RegistryError,
    RegistryUnreachable,
)

T = TypeVar("T")


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to try again after a transient failure (counted since the last
    progress: a download that resumes and moves forward starts afresh).

    With the default timeouts, a registry that accepts connections and never answers fails an
    operation after two read timeouts: no new try starts ``deadline`` seconds after the first.
    """

    attempts: int = 5  # tries in all, the first included
    backoff: Backoff = Backoff(base=0.2, cap=5.0)  # before the second try 0.2 s, doubled for each further one; no jitter
    max_retry_after: float = 30.0  # a registry's Retry-After is honoured up to this
    deadline: float | None = 60.0  # seconds from the first try after which no new try starts
    # A port that refuses connections (a registry stopped for a moment, e.g. for its garbage
    # collector) is tried again for this long, whatever ``attempts`` and ``deadline`` say. The
    # agent in the pods waits; a command at a terminal had better say at once (0).
    refused_for: float = 0.0

    def delay(self, attempt: int, retry_after: float | None = None) -> float:
        """Seconds to wait before try number ``attempt + 1`` (``attempt`` counts from 1)."""
        if retry_after is not None:
            return min(max(retry_after, 0.0), self.max_retry_after)
        return self.backoff.delay(attempt)


def worst_case_seconds(policy: RetryPolicy, timeouts: Timeouts) -> float:
    """The longest one operation can take when the registry never answers (connects, then silence)."""
    waited, attempt = 0.0, 1
    while True:
        waited += timeouts.read
        if timeouts.total is not None and waited >= timeouts.total:
            return timeouts.total
        if attempt >= policy.attempts:
            return waited
        pause = policy.delay(attempt)
        if policy.deadline is not None and waited + pause > policy.deadline:
            return waited
        waited += pause
        attempt += 1


class Deadline:
    """The end of the time a whole command may take (``Timeouts.total``)."""

    def __init__(self, seconds: float, *, clock: Callable[[], float] = time.monotonic) -> None:
        self.seconds = seconds
        self._clock = clock
        self._at = clock() + seconds

    def remaining(self) -> float:
        return self._at - self._clock()

    def check(self, what: str) -> None:
        if self.remaining() <= 0:
            raise self.exceeded(what)

    def exceeded(self, what: str) -> DeadlineExceeded:
        return DeadlineExceeded(f"{what}: not done within the {self.seconds:g} s its timeout allows")


def check_going(what: str, *, deadline: Deadline | None, cancel: threading.Event | None) -> None:
    """Raise if the operation must stop: the user's time is up, or it was cancelled."""
    if cancel is not None and cancel.is_set():
        raise Cancelled(f"{what}: stopped")
    if deadline is not None:
        deadline.check(what)


def retrying(policy: RetryPolicy, operation: Callable[[], T], *, on_retry: Callable[[], None] | None = None,
             deadline: Deadline | None = None, sleep: Callable[[float], None] = time.sleep,
             clock: Callable[[], float] = time.monotonic) -> T:
    """Run ``operation`` until it succeeds, raises a non-transient error, or the policy is spent.

    The error that ends it says how many tries were made when there were several.
    """
    started = clock()
    attempt = 1
    while True:
        try:
            return operation()
        except RegistryError as e:
            if getattr(e, "progressed", False):
                # A download that moved forward before it broke has its tries, and its time, back:
                # the policy bounds how long we wait for a registry that makes no progress.
                attempt, started = 0, clock()
            wait = policy.delay(max(attempt, 1), e.retry_after)
            elapsed = clock() - started
            if getattr(e, "refused", False) and elapsed + wait <= policy.refused_for:
                spent = deadline is not None and deadline.remaining() < wait
            else:
                spent = (attempt >= policy.attempts
                         or (policy.deadline is not None and elapsed + wait > policy.deadline)
                         or (deadline is not None and deadline.remaining() < wait))
            if not e.transient or spent:
                if e.transient and attempt > 1 and e.args:
                    e.args = (f"{e.args[0]} (gave up after {attempt} tries in {elapsed:.0f} s)", *e.args[1:])
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


IDLE_CONNECTION = 60.0  # seconds a kept connection may sit unused before it is closed rather than used


# Seconds for a connection's idleness, counting while the machine sleeps (a laptop's suspended hour
# leaves a connection as stale as an hour awake; the monotonic clock stops meanwhile). Linux has it.
_idle_clock: Callable[[], float] = (functools.partial(time.clock_gettime, time.CLOCK_BOOTTIME)
                                    if hasattr(time, "CLOCK_BOOTTIME") else time.monotonic)


class _KeptConnections:
    """A connection pool that does not use a connection again after it sat unused for
    IDLE_CONNECTION seconds (a NAT or a load balancer may have dropped it without a word, and a
    request sent on it would wait a whole read timeout for an answer), and closes quietly a
    connection one more than it keeps (opened for a burst of threads) instead of warning."""

    pool: Any

    def _get_conn(self, timeout: float | None = None) -> Any:
        conn = super()._get_conn(timeout)  # type: ignore[misc]
        kept_at = getattr(conn, "kept_at", None)
        if kept_at is not None and _idle_clock() - kept_at > IDLE_CONNECTION:
            conn.close()  # its next request connects afresh, as after urllib3's own dropped check
        return conn

    def _put_conn(self, conn: Any) -> None:
        # ``conn`` is None after a request failed (urllib3 puts the empty place back): urllib3 would
        # warn that it discards a connection there too.
        if self.pool is not None:
            if conn is not None:
                conn.kept_at = _idle_clock()
            try:
                self.pool.put(conn, block=False)
                return
            except AttributeError:  # the pool was closed meanwhile
                pass
            except queue.Full:
                if conn is not None:
                    conn.close()
                return
        super()._put_conn(conn)  # type: ignore[misc]


class _KeptHTTPConnectionPool(_KeptConnections, urllib3.HTTPConnectionPool):
    pass


class _KeptHTTPSConnectionPool(_KeptConnections, urllib3.HTTPSConnectionPool):
    pass


_KEPT_POOLS = {"http": _KeptHTTPConnectionPool, "https": _KeptHTTPSConnectionPool}


class _BlockAdapter(requests.adapters.HTTPAdapter):
    """Send request bodies in 1 MiB blocks (urllib3's default 16 KiB costs ~10% CPU on big blobs),
    from pools that keep connections as ``_KeptConnections`` says, through a proxy too."""

    def init_poolmanager(self, connections: int, maxsize: int, block: bool = False, **pool_kwargs: Any) -> None:
        pool_kwargs["blocksize"] = IO_BLOCK
        super().init_poolmanager(connections, maxsize, block, **pool_kwargs)
        self.poolmanager.pool_classes_by_scheme = _KEPT_POOLS

    def proxy_manager_for(self, proxy: str, **proxy_kwargs: Any) -> Any:
        # requests makes a manager of its own for each proxy, with urllib3's pools and blocks.
        if proxy not in self.proxy_manager and not proxy.lower().startswith("socks"):
            proxy_kwargs["blocksize"] = IO_BLOCK
        manager = super().proxy_manager_for(proxy, **proxy_kwargs)
        # On every call, not only the one that made it: a thread may take the manager from
        # requests before the thread that made it has set it here (its pools are made later).
        if type(manager) is urllib3.ProxyManager:  # a SOCKS manager's pools speak SOCKS
            manager.pool_classes_by_scheme = _KEPT_POOLS
        return manager


def _repository_of(path: str) -> str | None:
    """The repository a /v2/ API path is about, or None (catalog, ping)."""
    for marker in ("/blobs/", "/manifests/", "/tags/", "/referrers/"):
        if marker in path and path.startswith("/v2/"):
            return path[len("/v2/") : path.index(marker)]
    return None


class _RedirectPastDeadline(requests.RequestException):
    """A redirect answered after the deadline: not followed (``Transport.request`` says whose)."""


TOKEN_ANSWER_LIMIT = 1 << 20  # a token service's JSON: a token of a few KiB, with room


def _oci_messages(body: bytes) -> tuple[str, tuple[str, ...]]:
    try:
        errors = json.loads(body).get("errors") or []
    except (ValueError, AttributeError, RecursionError):
        return "", ()
    messages = []
    codes = []
    for err in errors if isinstance(errors, list) else []:
        if isinstance(err, dict):
            codes.append(str(err.get("code", "")))
            messages.append(str(err.get("message") or err.get("code") or ""))
    return "; ".join(m for m in messages if m), tuple(codes)


def read_timed_out(error: BaseException) -> bool:
    """A read timeout in the middle of a body reaches us as a ConnectionError wrapping urllib3's."""
    import urllib3.exceptions

    cause: BaseException | None = error
    for _ in range(8):  # a short chain: requests wraps urllib3 wraps the socket's timeout
        if cause is None:
            break
        if isinstance(cause, (urllib3.exceptions.ReadTimeoutError, TimeoutError)):
            return True
        nested = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None
        cause = nested or cause.__cause__ or cause.__context__
    return False


# A gateway that could not reach the registry behind it, or a registry not ready to serve (its
# storage health check failing): not up yet. Any other answer, 401 and 404 included, is a registry.
NOT_UP_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class Probe:
    """One look at whether a registry answers: ``up``, or why not (``reason``, a short phrase)."""

    up: bool
    reason: str = ""


def judge_status(status: int, reason: str = "") -> Probe:
    if status in NOT_UP_STATUSES:
        return Probe(False, f"it answers {status}{' ' + reason if reason else ''}")
    return Probe(True)


def _causes(error: BaseException) -> list[BaseException]:
    out: list[BaseException] = []
    cause: BaseException | None = error
    while cause is not None and len(out) < 8:  # requests wraps urllib3 wraps the socket's error
        out.append(cause)
        reason = getattr(cause, "reason", None)  # urllib3's MaxRetryError holds its cause there
        nested = cause.args[0] if cause.args and isinstance(cause.args[0], BaseException) else None
        cause = (reason if isinstance(reason, BaseException) else None) or nested or cause.__cause__ or cause.__context__
    return out


def judge_error(error: BaseException, *, connect: float, read: float) -> Probe:
    """A request that got no HTTP answer: a registry that does not answer yet, or (TLS) one that
    answers in a way only the real request can explain, so it counts as up."""
    import urllib3.exceptions

    if isinstance(error, requests.exceptions.SSLError):
        return Probe(True)  # something speaks there; the first real request says what is wrong
    if isinstance(error, requests.exceptions.ConnectTimeout):
        return Probe(False, f"no connection within {connect:g} s")
    if isinstance(error, requests.exceptions.ReadTimeout) or read_timed_out(error):
        return Probe(False, f"no answer within {read:g} s")
    for cause in _causes(error):
        if isinstance(cause, urllib3.exceptions.NameResolutionError) or "Name or service not known" in str(cause) \
                or "Temporary failure in name resolution" in str(cause):
            return Probe(False, "its name does not resolve")
        if isinstance(cause, ConnectionRefusedError) or "Connection refused" in str(cause):
            return Probe(False, "connection refused")
        if isinstance(cause, ConnectionResetError):
            return Probe(False, "connection reset")
    text = str(error).split("Caused by ")[-1].rstrip(")") if "Caused by" in str(error) else str(error)
    return Probe(False, text[:200] or type(error).__name__)


def _retry_after(response: requests.Response) -> float | None:
    try:
        seconds = float(response.headers.get("Retry-After", ""))
    except ValueError:
        return None
    return seconds if math.isfinite(seconds) else None


class _Session(requests.Session):
    """A requests session that reads the environment once per origin, not once per request.

    With ``trust_env`` (requests' default, which we keep: ``HTTPS_PROXY``, ``NO_PROXY`` and
    ``REQUESTS_CA_BUNDLE`` apply to registries as to everything else), requests looks up the proxy
    and CA bundle variables for every request: ``get_environ_proxies`` walks the whole of
    ``os.environ`` four times (urllib's ``getproxies_environment``, called twice, loops over every
    variable twice). That was 0.17 ms of the 0.77 ms of Python one request cost with
    35 variables (bench/snakemake_storage.py's inventory sends one request per file), and a pod has
    more: Kubernetes adds variables for every Service of its namespace. The answer depends only on
    the URL's scheme and host and on variables our processes never change while they run, so the
    first answer for an origin is kept for the session's life.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple[Any, ...], Any] = {}

    def merge_environment_settings(self, url: str | bytes | None, proxies: Any, stream: Any, verify: Any,
                                   cert: Any) -> Any:
        if proxies or not self.trust_env or not isinstance(url, str):
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urllib.parse.urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert)
        settings = self._environment.get(key)
        if settings is None:
            settings = super().merge_environment_settings(url, proxies, stream, verify, cert)
            self._environment[key] = settings
        return {**settings, "proxies": dict(settings["proxies"])}  # requests may change what it is given

    def rebuild_proxies(self, prepared_request: requests.PreparedRequest, proxies: Any) -> Any:
        """The proxies for a redirect's target, from the environment for its own host.

        requests starts a redirect from the proxies of the request redirected and only adds the
        environment's when the new host has none: a registry reached through ``HTTP(S)_PROXY`` that
        redirects a blob to storage ``NO_PROXY`` exempts sent that request through the proxy still
        (tests/registry/test_request_log.py)."""
        if self.trust_env and isinstance(prepared_request.url, str):
            proxies = self.merge_environment_settings(prepared_request.url, {}, None, None, None)["proxies"]
        return super().rebuild_proxies(prepared_request, proxies)


REQUEST_LOG = logging.getLogger("kubectl_oras.requests")  # -v 6 and up (docs/cli.md)


def log_request(response: requests.Response, *args: Any, **kwargs: Any) -> None:
    """One line per answered request at -v 6: method, URL, status, time. The URL without its query
    and user part (a presigned blob URL's query is a credential); never a header."""
    if REQUEST_LOG.isEnabledFor(logging.DEBUG):
        url = urllib.parse.urlsplit(response.url)
        shown = f"{url.scheme}://{url.hostname}{f':{url.port}' if url.port else ''}{url.path}{'?…' if url.query else ''}"
        REQUEST_LOG.debug("%s %s %d %s in %d ms", response.request.method, shown, response.status_code,
                          response.reason or "", response.elapsed.total_seconds() * 1000)


class Transport:
    """One registry's HTTP: shared safely by the transfer threads."""

    def __init__(self, hostname: str, *, plain_http: bool = False, insecure: bool = False, auth: AuthCache,
                 timeouts: Timeouts = Timeouts(), retry: RetryPolicy = RetryPolicy(), pool_size: int = 8,
                 user_agent: str = "kubectl-oras", name: str | None = None) -> None:
        """``hostname`` is where requests go; ``name`` how messages say the registry (default: the
        hostname; through a port-forward, the cache, not the tunnel's local address)."""
        self.hostname = hostname
        self.name = name or hostname
        self.plain_http = plain_http
        self.insecure = insecure
        self.auth = auth
        self.timeouts = timeouts
        self.deadline = Deadline(timeouts.total) if timeouts.total is not None else None
        self.retry = retry
        self.session = _Session()
        self.session.hooks["response"].extend([self._settle_redirect, log_request])
        # Some registries (Harbor) take a cookie as a sign of a browser and start CSRF checks.
        self.session.cookies.set_policy(DefaultCookiePolicy(allowed_domains=[]))
        # Pools for 4 hosts: a blob redirected to storage keeps the registry's connections, and back.
        adapter = _BlockAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
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
        """(connect, read) for the next request: never past the command's deadline."""
        connect, read = self.timeouts.connect, self.timeouts.read
        if self.deadline is not None:
            left = max(self.deadline.remaining(), 0.001)
            connect, read = min(connect, left), min(read, left)
        return (connect, read)

    def check_going(self, what: str, cancel: threading.Event | None = None) -> None:
        check_going(what, deadline=self.deadline, cancel=cancel)

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
                self.check_going(what)
                limits = self._timeout
                try:
                    # Streamed whatever the caller asks: no body is read whole before it is looked at (oci/bodies.py).
                    response = self.session.request(
                        method, url, headers={**(headers or {}), **self.auth.headers(scope)}, data=body,
                        stream=True, verify=not self.insecure, timeout=limits, allow_redirects=True)
                except _RedirectPastDeadline as e:
                    assert self.deadline is not None
                    raise self.deadline.exceeded(what) from e
                except (requests.ConnectionError, requests.Timeout, requests.exceptions.ChunkedEncodingError,
                        requests.exceptions.ContentDecodingError) as e:
                    # Also a body that broke off while it was read (a manifest, a tag list).
                    if self.deadline is not None and self.deadline.remaining() <= 0:
                        raise self.deadline.exceeded(what) from e
                    raise self.unreachable(e, what, limits=limits) from e
                except requests.RequestException as e:  # redirects without end, an invalid redirect URL, …
                    raise RegistryError(f"{what}: {type(e).__name__}: {e}") from e
                if response.status_code == 401 and not answered:
                    finish_refusal(response, seconds=self._timeout[1])
                    response.close()
                    self._authenticate(response, scope, what)
                    answered = True
                    if body is not None and not isinstance(body, bytes):
                        raise ReplayUpload(what)  # the body is spent
                    continue
                if response.status_code not in ok:
                    error = self.error_for(response, what)  # reads the explanation before closing
                    response.close()
                    raise error
                if not stream:
                    settle(response, seconds=self._timeout[1])
                return response

        return retrying(self.retry, once, deadline=self.deadline) if retry else once()

    def _settle_redirect(self, response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
        """A response hook: requests reads a redirect's body whole before it follows it (an endless
        one filled the memory), and follows up to 30 with the timeouts of the first request; so each
        redirect's body is read here within bounds and the time left, and none is followed past the
        deadline."""
        if is_unread_redirect(response):
            if self.deadline is not None and self.deadline.remaining() <= 0:
                response.close()
                raise _RedirectPastDeadline()
            asked = kwargs.get("timeout")  # the request's own (a probe's is shorter)
            read = asked[1] if isinstance(asked, tuple) and isinstance(asked[1], (int, float)) else math.inf
            settle(response, seconds=min(self._timeout[1], read))
        return response

    def probe(self, *, limit: float) -> Probe:
        """One ``GET /v2/`` without credentials, no retry, within ``limit`` seconds: does the
        registry answer? Only the status line is read."""
        connect, read = min(self.timeouts.connect, limit), min(self.timeouts.read, limit)
        try:
            response = self.session.get(self.url("/v2/"), stream=True, verify=not self.insecure,
                                        timeout=(connect, read), allow_redirects=False)
        except (requests.ConnectionError, requests.Timeout) as e:
            return judge_error(e, connect=connect, read=read)
        except _RedirectPastDeadline:
            return judge_status(307)  # it answered, with a redirect; what comes next is past the deadline
        response.close()
        return judge_status(response.status_code, response.reason or "")

    def _authenticate(self, response: requests.Response, scope: Scope, what: str) -> None:
        """Obtain what a 401 asks for: basic auth, or a bearer token for the scope it names."""
        decision = answer_challenge(response.headers.get("Www-Authenticate", ""), credentials=self.auth.credentials,
                                    registry=self.name, what=what)
        if not isinstance(decision, RequestToken):
            self.auth.use_basic()
            return
        headers = {"Authorization": decision.authorization} if decision.authorization else {}
        service = f"the token service {decision.realm} (for registry {self.name})"
        try:
            r = self.session.get(decision.realm, params=decision.params, headers=headers, verify=not self.insecure,
                                 timeout=self._timeout, stream=True)
        except _RedirectPastDeadline as e:
            assert self.deadline is not None
            raise self.deadline.exceeded(what) from e
        except requests.RequestException as e:
            reached = self.unreachable(e, what)  # a TLS failure is not tried again; a refused connection is
            raise RegistryUnreachable(f"{what}: cannot reach {service}: {e}", transient=reached.transient) from e
        seconds = min(ANSWER_BODY_SECONDS, self._timeout[1])
        answer, why = read_within(r, limit=TOKEN_ANSWER_LIMIT, seconds=seconds)
        if why != ENDED and r.status_code == 200:
            said = (f"sent over {TOKEN_ANSWER_LIMIT >> 10} KiB" if why == TOO_BIG
                    else f"did not send its answer within {seconds:g} s")
            raise RegistryUnreachable(f"{what}: {service} {said}; giving up", transient=False)
        token = parse_token_answer(r.status_code, answer, realm=decision.realm, registry=self.name,
                                   have_credentials=self.auth.credentials is not None, what=what,
                                   content_type=r.headers.get("Content-Type", ""))
        self.auth.remember(scope, token)

    def error_for(self, response: requests.Response, what: str) -> RegistryError:
        """An HTTP error as our error hierarchy: the one place that maps them."""
        status = response.status_code
        message, codes = _oci_messages(error_body(response, seconds=self._timeout[1]))
        detail = f": {message}" if message else ""
        if status == 401:
            hint = "" if self.auth.credentials else CREDENTIALS_HINT
            return AuthenticationFailed(f"{what}: unauthorized (401){detail}{hint}", status=status, codes=codes)
        if status == 403:
            return AuthenticationFailed(f"{what}: denied (403){detail}", status=status, codes=codes)
        if status == 404:
            return NotFound(f"{what}: not found{detail}", status=status, codes=codes)
        return RegistryError(f"{what}: registry answered {status} {response.reason}{detail}", status=status,
                             codes=codes, transient=status in RETRY_STATUSES, retry_after=_retry_after(response))

    def unreachable(self, error: BaseException, what: str, *, limits: tuple[float, float] | None = None) -> RegistryUnreachable:
        connect, read = limits or (self.timeouts.connect, self.timeouts.read)
        if isinstance(error, requests.exceptions.ConnectTimeout):
            return RegistryUnreachable(f"{what}: registry {self.name} did not accept a connection within {connect:g} s")
        if isinstance(error, requests.exceptions.ReadTimeout) or read_timed_out(error):
            return RegistryUnreachable(f"{what}: registry {self.name} did not answer within {read:g} s")
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
        refused = any(s in text for s in ("Connection refused", "Connection reset", "RemoteDisconnected",
                                          "Connection aborted"))
        return RegistryUnreachable(f"{what}: cannot reach registry {self.name}: {reason}{hint}", transient=not tls,
                                   refused=refused and not tls)
