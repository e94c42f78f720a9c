"""List and watch: one watch request as a stream of events, and an ``Informer`` that keeps a store
of one resource's objects up to date through watches, re-watches and re-lists.

docs/kube-client.md ("Watching") says what the apiserver does with resourceVersions, bookmarks
and 410 Gone, and how the informer answers each.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections import Counter
from collections.abc import AsyncGenerator, Callable, Mapping
from typing import Any, Protocol

from ..backoff import Backoff
from ..tasks import cancel_and_wait
from .api import Kube, Resource
from .errors import ClusterUnreachable, Forbidden, Gone, KubeError, Unauthorized, api_error

log = logging.getLogger("kubectl_oras.watch")

ADDED, MODIFIED, DELETED, BOOKMARK, ERROR = "ADDED", "MODIFIED", "DELETED", "BOOKMARK", "ERROR"
OBJECT_EVENTS = frozenset({ADDED, MODIFIED, DELETED})

CONNECT_TIMEOUT = 10.0  # seconds to open the watch's connection
MAX_EVENT_BYTES = 64 * 1024 * 1024  # one event (one line); etcd keeps objects far smaller (1.5 MiB by default)

Event = tuple[str, dict[str, Any]]
Key = tuple[str, str]  # (namespace, name); "" for a cluster-scoped object's namespace


class InformerStore(Protocol):
    """What a reader sees of an ``Informer``: its objects by key, and one of them by namespace and name."""

    @property
    def store(self) -> Mapping[Key, dict[str, Any]]: ...

    def get(self, namespace: str, name: str) -> dict[str, Any] | None: ...


def read_timeout(timeout_seconds: int) -> float:
    """How long a watch may be silent: the server ends it at ``timeout_seconds``, so a little more."""
    return timeout_seconds * 1.1 + 5.0


def collection_path(resource: Resource, namespace: str | None) -> str:
    """The collection's path in one namespace, or across all namespaces when ``namespace`` is None."""
    if namespace is None and resource.namespaced:
        return Resource(resource.api_version, resource.kind, resource.plural, namespaced=False).path()
    return resource.path(namespace=namespace)


def _snippet(data: bytes | str, n: int = 120) -> str:
    text = data.decode("utf-8", "replace") if isinstance(data, bytes) else data
    return repr(text[:n] + ("…" if len(text) > n else ""))


# -- the stream ---------------------------------------------------------------------------------


class LineSplitter:
    """Bytes in chunks of any size → complete lines (without their newline; blank lines skipped).

    aiohttp's ``readline`` refuses a line longer than twice the session's ``read_bufsize``
    (512 KiB by aiohttp's default; kubernetes-asyncio's session sets 2 MiB, so 4 MiB), a limit
    that belongs to whoever built the session. This keeps the parts of an unfinished line and
    joins them once its newline arrives, up to ``max_line`` bytes, whatever the chunks."""

    def __init__(self, *, max_line: int = MAX_EVENT_BYTES) -> None:
        self.max_line = max_line
        self._parts: list[bytes] = []
        self._size = 0

    def feed(self, chunk: bytes) -> list[bytes]:
        lines = []
        start = 0
        while (end := chunk.find(b"\n", start)) >= 0:
            piece = chunk[start:end]
            if self._parts:
                self._check(self._size + len(piece))
                self._parts.append(piece)
                line = b"".join(self._parts)
                self._parts, self._size = [], 0
            else:
                self._check(len(piece))
                line = piece
            if line.strip():
                lines.append(line)
            start = end + 1
        if start < len(chunk):
            rest = chunk[start:]
            self._check(self._size + len(rest))
            self._parts.append(rest)
            self._size += len(rest)
        return lines

    def finish(self) -> bytes | None:
        """The last line when the stream ended without a newline after it, else None."""
        line = b"".join(self._parts)
        self._parts, self._size = [], 0
        return line if line.strip() else None

    def _check(self, size: int) -> None:
        if size > self.max_line:
            raise KubeError(f"a watch event is larger than {self.max_line} bytes")


def decode_event(line: bytes, *, what: str) -> Event:
    """One line of a watch → (type, object). An ERROR event raises its Status mapped to our errors
    (code 410: ``Gone``); a line that is not an event raises a KubeError saying what is wrong."""
    try:
        event = json.loads(line)
    except (ValueError, RecursionError) as e:  # UnicodeDecodeError is a ValueError
        raise KubeError(f"{what}: the watch sent a line that is not JSON ({e}): {_snippet(line)}") from None
    if not isinstance(event, dict):
        raise KubeError(f"{what}: the watch sent JSON that is not an event: {_snippet(line)}")
    kind, obj = event.get("type"), event.get("object")
    if kind is None and event.get("kind") == "Status":  # a bare Status instead of an event
        raise api_error(_code(event), event, what=what)
    if not isinstance(kind, str) or not isinstance(obj, dict):
        raise KubeError(f"{what}: the watch sent an event without a type and an object: {_snippet(line)}")
    if kind == ERROR:
        raise api_error(_code(obj), obj, what=what, http_reason="in an ERROR event")
    if kind != BOOKMARK and kind not in OBJECT_EVENTS:
        raise KubeError(f"{what}: the watch sent an event of unknown type {kind!r}")
    metadata = obj.get("metadata")
    if not isinstance(metadata, dict) or not isinstance(metadata.get("resourceVersion"), str):
        raise KubeError(f"{what}: the watch sent a {kind} event without metadata.resourceVersion: {_snippet(line)}")
    if kind != BOOKMARK and not (isinstance(metadata.get("name"), str) and metadata["name"]):
        raise KubeError(f"{what}: the watch sent a {kind} event for an object without a name: {_snippet(line)}")
    return kind, obj


def _code(status: dict[str, Any]) -> int:
    code = status.get("code")
    return code if isinstance(code, int) and not isinstance(code, bool) else 0


async def watch(kube: Kube, resource: Resource, *, namespace: str | None = None, resource_version: str,
                timeout_seconds: int, label_selector: str | None = None, bookmarks: bool = True,
                connect_timeout: float = CONNECT_TIMEOUT) -> AsyncGenerator[Event, None]:
    """One watch request: the events after ``resource_version``, until the server ends the watch
    at ``timeout_seconds`` (then the iteration ends). ``namespace=None`` watches every namespace.

    Raises ``Gone`` when the resourceVersion is too old (list again), ``ClusterUnreachable`` when
    the connection fails or stays silent past ``read_timeout(timeout_seconds)``, and the mapped
    ``KubeError`` for any other refusal or a malformed event. Leaving the iteration early (break,
    cancellation) closes the connection."""
    what = f"watch {resource.describe(None, namespace)}"
    query: list[tuple[str, str]] = [("watch", "1"), ("resourceVersion", resource_version),
                                    ("timeoutSeconds", str(int(timeout_seconds)))]
    if bookmarks:
        query.append(("allowWatchBookmarks", "true"))
    if label_selector:
        query.append(("labelSelector", label_selector))
    splitter = LineSplitter()
    chunks = kube.stream(collection_path(resource, namespace), what=what, query=query, connect_timeout=connect_timeout,
                         read_timeout=read_timeout(timeout_seconds))
    async with contextlib.aclosing(chunks):
        async for chunk in chunks:
            for line in splitter.feed(chunk):
                yield decode_event(line, what=what)
    last = splitter.finish()
    if last is not None:
        yield decode_event(last, what=what)


# -- the informer -------------------------------------------------------------------------------


# Doubling from half a second to 30 s, each wait stretched by up to half again at random (never
# past 30 s) so that the replicas' informers, failing together, do not retry together.
INFORMER_BACKOFF = Backoff(base=0.5, cap=30.0, jitter=(1.0, 1.5))


def key_of(obj: dict[str, Any]) -> Key:
    metadata = obj.get("metadata") or {}
    return str(metadata.get("namespace") or ""), str(metadata.get("name") or "")


def resource_version_of(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("resourceVersion") or "")


def _uid(obj: dict[str, Any]) -> str:
    return str((obj.get("metadata") or {}).get("uid") or "")


def store_diff(old: dict[Key, dict[str, Any]], new: dict[Key, dict[str, Any]]) -> list[Event]:
    """What a watcher would have been told between the store ``old`` and a fresh list ``new``:
    DELETED (with the last state known) for objects gone, ADDED for new ones, MODIFIED for those
    whose resourceVersion differs. A name now held by another object (a new uid) is the old one
    DELETED and the new one ADDED. Deletions come first; each group in key order."""
    deleted: list[Event] = []
    changed: list[Event] = []
    for key in sorted(old):
        now = new.get(key)
        if now is None or (_uid(now) and _uid(old[key]) and _uid(now) != _uid(old[key])):
            deleted.append((DELETED, old[key]))
    for key in sorted(new):
        before = old.get(key)
        if before is None or (_uid(new[key]) and _uid(before) and _uid(new[key]) != _uid(before)):
            changed.append((ADDED, new[key]))
        elif resource_version_of(before) != resource_version_of(new[key]):
            changed.append((MODIFIED, new[key]))
    return deleted + changed


class ContinueExpired(Gone):
    """410 on a list's continue token: the snapshot the pages came from is gone; list again."""


def restart_reason(error: BaseException) -> str:
    """The counter a failure goes under: expired, continue-expired, unreachable, unauthorized,
    forbidden, throttled, server-error, bad-answer, error (any other refusal) or bug."""
    if isinstance(error, ContinueExpired):
        return "continue-expired"
    if isinstance(error, Gone):
        return "expired"
    if isinstance(error, ClusterUnreachable):
        return "unreachable"
    if isinstance(error, Unauthorized):
        return "unauthorized"
    if isinstance(error, Forbidden):
        return "forbidden"
    if isinstance(error, KubeError):
        if error.status == 429:
            return "throttled"
        if error.status and error.status >= 500:
            return "server-error"
        return "bad-answer" if not error.status else "error"
    return "bug"


class Informer:
    """An up-to-date store of one resource's objects (one namespace or all; optionally only those
    a label selector matches), and a callback told about every change.

    ``run`` lists (in pages), then watches from the list's resourceVersion; each event updates the
    store and the resourceVersion (a BOOKMARK only the latter). A watch the server ends is started
    again from the last resourceVersion, without a list. On 410 Gone it lists again and tells the
    callback the difference (``store_diff``): objects created, changed or deleted while it could
    not watch. Any other failure is logged once per distinct message and retried after a backoff;
    ``run`` never raises for API trouble. Counters: ``lists`` (full lists), ``list_pages``,
    ``watches`` (watch requests), ``bookmarks``, ``restarts`` (by ``restart_reason``).

    ``on_change(type, object)`` is called after the store holds the change; it must be quick and
    must not block (put a key on a queue). Its exceptions are logged and otherwise ignored.
    """

    def __init__(self, kube: Kube, resource: Resource, *, namespace: str | None = None,
                 label_selector: str | None = None, on_change: Callable[[str, dict[str, Any]], None],
                 watch_seconds: int = 300, page_size: int = 500, name: str | None = None,
                 on_restart: Callable[[str], None] | None = None, backoff: Backoff | None = None) -> None:
        if watch_seconds < 1 or page_size < 1:
            raise ValueError("watch_seconds and page_size must be at least 1")
        self.kube = kube
        self.resource = resource
        self.namespace = namespace
        self.label_selector = label_selector
        self.on_change = on_change
        self.on_restart = on_restart
        self.watch_seconds = watch_seconds
        self.page_size = page_size
        self.backoff = backoff or INFORMER_BACKOFF
        self.name = name or resource.describe(None, namespace) + (f" ({label_selector})" if label_selector else "")
        self.store: dict[Key, dict[str, Any]] = {}
        self.synced = asyncio.Event()
        self.resource_version: str | None = None  # where the next watch starts; None: list first
        self.lists = 0
        self.list_pages = 0
        self.watches = 0
        self.bookmarks = 0
        self.restarts: Counter[str] = Counter()
        self._failures = 0  # failures in a row but Gone; reset by a list or a watch that worked
        self._gone = 0  # 410s in a row; reset by a watch that worked
        self._logged: set[str] = set()  # messages logged since the last recovery

    def get(self, namespace: str | None, name: str) -> dict[str, Any] | None:
        return self.store.get((namespace or "", name))

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the store up to date until ``stop`` is set; then return at once, cutting a watch
        short. A second ``run`` continues from the last resourceVersion."""
        work = asyncio.create_task(self._loop(), name=f"informer {self.name}")
        stopped = asyncio.create_task(stop.wait())
        try:
            await asyncio.wait({work, stopped}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            await cancel_and_wait((work, stopped))  # nothing to report: the loop handles its every failure

    async def _loop(self) -> None:
        while True:
            try:
                if self.resource_version is None:
                    await self._list()
                await self._watch()
            except asyncio.CancelledError:
                raise
            except Exception as e:  # whatever happens, the informer carries on
                await self._failed(e)

    async def _list(self) -> None:
        self.lists += 1
        what = f"list {self.resource.describe(None, self.namespace)}"
        path = collection_path(self.resource, self.namespace)
        items: dict[Key, dict[str, Any]] = {}
        token: str | None = None
        while True:
            query: dict[str, Any] = {"limit": self.page_size}
            if self.label_selector:
                query["labelSelector"] = self.label_selector
            if token:
                query["continue"] = token
            try:
                page = await self.kube.call("GET", path, query=query, what=what)
            except Gone as e:
                if token:
                    raise ContinueExpired(str(e), status=e.status, reason=e.reason) from e
                raise
            self.list_pages += 1
            for item in page.get("items") or []:
                if not isinstance(item, dict) or not key_of(item)[1]:
                    raise KubeError(f"{what}: the list holds an item without a name: {_snippet(json.dumps(item))}")
                # A list's items carry no kind and apiVersion; watch events' objects do.
                item.setdefault("apiVersion", self.resource.api_version)
                item.setdefault("kind", self.resource.kind)
                items[key_of(item)] = item
            metadata = page.get("metadata") or {}
            token = metadata.get("continue") or None
            if token is None:
                version = metadata.get("resourceVersion")
                if not isinstance(version, str) or not version:
                    raise KubeError(f"{what}: the list has no metadata.resourceVersion")
                break
        changes = store_diff(self.store, items)
        self.store = items
        self.resource_version = version
        self._recovered()
        self.synced.set()
        for kind, obj in changes:
            self._notify(kind, obj)

    async def _watch(self) -> None:
        assert self.resource_version is not None
        self.watches += 1
        events = watch(self.kube, self.resource, namespace=self.namespace, resource_version=self.resource_version,
                       timeout_seconds=self.watch_seconds, label_selector=self.label_selector)
        async with contextlib.aclosing(events):
            async for kind, obj in events:
                self._recovered(watching=True)
                self.resource_version = resource_version_of(obj)
                if kind == BOOKMARK:
                    self.bookmarks += 1
                    continue
                key = key_of(obj)
                if kind == DELETED:
                    self.store.pop(key, None)
                else:
                    self.store[key] = obj
                self._notify(kind, obj)
        self._recovered(watching=True)  # the server ended the watch: start the next one from where this one got

    async def _failed(self, error: Exception) -> None:
        reason = restart_reason(error)
        self.restarts[reason] += 1
        if self.on_restart is not None:
            try:
                self.on_restart(reason)
            except Exception:
                log.exception("informer %s: the restart hook failed", self.name)
        message = f"{type(error).__name__}: {error}"
        if message not in self._logged:
            self._logged.add(message)
            if reason == "bug":
                log.error("informer %s: %s", self.name, message, exc_info=error)
            elif isinstance(error, Gone):
                log.info("informer %s: %s; listing again", self.name, error)
            else:
                log.warning("informer %s: %s; retrying", self.name, error)
        if isinstance(error, Gone):
            # List again, at once the first time; a list whose resourceVersion is already too old
            # for the watch (an apiserver behind the others) waits like any failure.
            self.resource_version = None
            self._gone += 1
            if self._gone == 1:
                return
            delay = self.backoff.delay(self._gone - 1)
        else:
            self._failures += 1
            delay = self.backoff.delay(self._failures)
        await asyncio.sleep(delay)

    def _recovered(self, *, watching: bool = False) -> None:
        if self._failures:
            log.info("informer %s: working again after %d failed attempts", self.name, self._failures)
        self._failures = 0
        self._logged.clear()
        if watching:
            self._gone = 0

    def _notify(self, kind: str, obj: dict[str, Any]) -> None:
        try:
            self.on_change(kind, obj)
        except Exception:
            namespace, name = key_of(obj)
            log.exception("informer %s: the callback failed for %s %s", self.name, kind,
                          f"{namespace}/{name}" if namespace else name)
