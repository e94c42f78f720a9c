"""The transfers, once, for the command line and the Python API: pull, push, the tags of a
repository, the repositories, delete, and an open registry for retention (gc). A ``Session``
opens what a place needs when first asked (a cache's port-forward, once, reused by every later
call) and closes it at the end of its ``with`` block.

Through a cache, the engine connects to the tunnel's local address but knows the registry by the
cache's name, so no message needs an address cut out; an error keeps its class, gains
``(cache NS/NAME)`` when it does not say so already, and what the port-forward saw go wrong.

The engine and the cluster stack are imported when a session first opens something.
"""

from __future__ import annotations

import copy
import os
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING

from ..errors import OrasError
from ..oci.defaults import DEFAULT_ARTIFACT_TYPE
from .options import TransferOptions
from .places import Located, Place, locate, place_of

if TYPE_CHECKING:
    from ..cluster.registry import CacheRegistry
    from ..oci.client import Credentials, RegistryClient
    from ..oci.delete import Deleted
    from ..oci.describe import Artifact
    from ..oci.manifest import Blob
    from ..oci.progress import Progress
    from ..oci.pull import PullResult
    from ..oci.push import PushResult

@dataclass(frozen=True)
class Reached:
    """How output names the registry a transfer reached: ``name`` is the registry's host, or
    ``cache lab/oras`` for the cache ``cache`` (``lab/oras``)."""

    name: str
    cache: str | None = None

    @property
    def suffix(self) -> str:
        """`` (cache lab/oras)`` after a line about a cache's registry; nothing for a registry."""
        return f" (cache {self.cache})" if self.cache else ""

    @property
    def description(self) -> dict[str, str]:
        """For -o json|yaml through a cache: which one (a registry's output is as it always was)."""
        return {"cache": self.cache} if self.cache else {}


class Session:
    """Transfers with one set of options. ``on_start(what)`` is called as each one starts talking
    to its registry (the command line arms its --timeout alarm there).

    Threads may share a session: the first transfer to a cache opens its one port-forward, the
    others wait for it and use it too. A ``with`` block inside another on the same session leaves
    it open for the outer one. A closed session refuses further transfers, so no port-forward is
    ever opened that nothing will close."""

    def __init__(self, options: TransferOptions, *, on_start: Callable[[str], None] | None = None,
                 credentials: Credentials | None = None) -> None:
        """``credentials``: a registry's (not a cache's, which come from its Secret), in place of
        those of the environment (``cp`` gives each side its own)."""
        self.options = options
        self.credentials = credentials
        self._on_start = on_start
        self._stack = ExitStack()
        self._cache: CacheRegistry | None = None
        self._clients: dict[tuple[object, ...], _Kept] = {}
        self._lock = threading.Lock()
        self._depth = 0
        self._closed = False
        _SESSIONS.add(self)

    def __enter__(self) -> Session:
        with self._lock:
            self._refuse_if_closed()
            self._depth += 1
        return self

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self._depth -= 1
            last = self._depth <= 0
        if last:
            self.close()

    def close(self) -> None:
        """Close the clients' connections and the port-forward, if one was opened; later transfers
        are refused."""
        with self._lock:
            self._closed = True
            self._cache = None
            kept, self._clients = self._clients, {}
            stack, self._stack = self._stack, ExitStack()
        for one in kept.values():  # before the port-forward they go through
            if one.pid == os.getpid():  # a forked child leaves its parent's sockets alone
                one.client.close()
        stack.close()

    def _refuse_if_closed(self) -> None:
        if self._closed:
            raise OrasError("this session is closed: open a new one for more transfers")

    def locate(self, reference: str, *, default_tag: str | None = "latest") -> Located:
        """``reference`` parsed once, and where it lives (places.py: locate)."""
        return locate(reference, self.options, default_tag=default_tag)

    def place(self) -> Place:
        """Where a command without a reference goes (ls, gc)."""
        return place_of(self.options)

    def reached(self, place: Place) -> Reached:
        """How output names ``place``, once a transfer has reached it."""
        if place.registry is not None:
            return Reached(place.registry)
        cache = self._open_cache()
        return Reached(cache.name, f"{cache.endpoint.namespace}/{cache.endpoint.name}")

    # -- the transfers ------------------------------------------------------------------------

    def pull(self, where: Located, output_dir: str = ".", *, include: Sequence[str] | None = None,
             unpack: bool = True, concurrency: int = 4, progress: Progress | None = None,
             replace: bool = True) -> PullResult:
        """The artifact's files into ``output_dir``; a missing one says which tags there are.
        ``replace=False``: a file there with other content is refused (oci/pull.py)."""
        from ..oci.errors import NotFound
        from ..oci.pull import pull_artifact, tags_said

        with self.registry(where.place, push=False, what=f"pull {where.name}") as client:
            try:
                return pull_artifact(client, where.reference, output_dir, include=list(include) if include else None,
                                     unpack=unpack, concurrency=concurrency, progress=progress,
                                     replace_files=replace)
            except NotFound as e:
                raise NotFound(f"{e}; {tags_said(client, where.reference)}", status=e.status, codes=e.codes) from e

    def push(self, where: Located, paths: Sequence[str], *, annotations: Mapping[str, str] | None = None,
             artifact_type: str = DEFAULT_ARTIFACT_TYPE, concurrency: int = 4,
             progress: Progress | None = None) -> PushResult:
        """Files and directories (each directory one tar+gzip layer) as one artifact."""
        from ..oci.digest_cache import DigestCache
        from ..oci.push import push_artifact

        with self.registry(where.place, push=True, what=f"push {where.name}") as client:
            return push_artifact(client, where.reference, list(paths), annotations=dict(annotations or {}),
                                 artifact_type=artifact_type, concurrency=concurrency, progress=progress,
                                 cache=DigestCache())

    def tags(self, where: Located, *, referrer_tags: bool = False) -> list[str]:
        """The tags of a repository (``where`` located with no default tag), in the registry's order;
        the ``sha256-<hex>`` tags that index referrers (provenance) only with ``referrer_tags``."""
        from ..oci.errors import InvalidReference
        from ..oci.reference import is_fallback_tag

        ref = where.reference
        if ref.tag or ref.digest:
            raise InvalidReference(f"{where.text!r}: give a repository without a tag or digest")
        with self.registry(where.place, push=False, what=f"list tags of {where.name}") as client:
            listed = client.list_tags(ref.repository)
        return listed if referrer_tags else [tag for tag in listed if not is_fallback_tag(tag)]

    def layers(self, where: Located) -> list[Blob]:
        """The layers of the manifest ``where`` names (a tag or a digest), its files unread."""
        from ..oci.errors import NotFound
        from ..oci.manifest import layers_of
        from ..oci.pull import tags_said

        what = f"pull {where.reference}"
        with self.registry(where.place, push=False, what=f"pull {where.name}") as client:
            try:
                manifest, _, _ = client.fetch_manifest(where.reference.repository, where.reference.target, what=what)
            except NotFound as e:
                raise NotFound(f"{e}; {tags_said(client, where.reference)}", status=e.status, codes=e.codes) from e
            return layers_of(manifest, what=what)

    def artifact(self, where: Located) -> Artifact:
        """What a tag holds, from its manifest alone: created, digest, layers (oci/describe.py)."""
        from ..oci.describe import describe_artifact
        from ..oci.errors import InvalidReference

        ref = where.reference
        if not ref.tag or ref.digest:
            raise InvalidReference(f"{where.text!r}: give a tag (repo:tag)")
        with self.registry(where.place, push=False, what=f"read {where.name}") as client:
            return describe_artifact(client, ref.repository, ref.tag)

    def artifacts(self, where: Located) -> list[Artifact]:
        """Every tag of a repository (``where`` located with no default tag) described: one listing,
        the manifests read side by side; none for a repository that does not exist."""
        from ..oci.describe import describe_repository
        from ..oci.errors import InvalidReference

        ref = where.reference
        if ref.tag or ref.digest:
            raise InvalidReference(f"{where.text!r}: give a repository without a tag or digest")
        with self.registry(where.place, push=False, what=f"describe {where.name}") as client:
            return describe_repository(client, ref.repository)

    def repositories(self, place: Place) -> list[str]:
        """The repositories in a registry, those that are valid names."""
        from ..oci.reference import is_valid_repository

        what = "list repositories" + (f" of {place.registry}" if place.registry else "")
        with self.registry(place, push=False, what=what) as client:
            return [r for r in client.list_repositories() if is_valid_repository(r)]

    def tag(self, where: Located, tags: Sequence[str]) -> tuple[str, str]:
        """The manifest ``where`` names put under each of ``tags`` too (no blob moves): its digest
        and media type. Every tag is checked before anything is sent."""
        from ..oci.copy import tag_artifact
        from ..oci.errors import InvalidReference
        from ..oci.reference import TAG_RE, is_valid_tag

        for tag in tags:
            if not is_valid_tag(tag):
                raise InvalidReference(f"{tag!r} cannot be a tag ({TAG_RE.pattern}); nothing was tagged")
        with self.registry(where.place, push=True, what=f"tag {where.name}") as client:
            return tag_artifact(client, where.reference, list(tags))

    def delete(self, where: Located) -> Deleted:
        """A tag (never other tags that share its manifest) or a manifest by digest."""
        from ..oci.delete import delete_artifact
        from ..oci.errors import InvalidReference

        if not where.reference.tag and not where.reference.digest:
            raise InvalidReference(f"{where.text!r}: say which tag or digest to delete (repo:tag)")
        with self.registry(where.place, push=True, what=f"delete {where.name}") as client:
            return delete_artifact(client, where.reference)

    @contextmanager
    def registry(self, place: Place, *, push: bool, what: str, pool_size: int = 8) -> Iterator[RegistryClient]:
        """A client for ``place``, for the ``with`` block (retention's gc runs in one). Through a
        cache, an error in the block is said about the cache, its class kept.

        The session keeps one client per registry, credentials and pool size, so that its calls
        share their connections and authentication: a file's exists, mtime and size (a workflow
        tool asks them one by one) cost one request each, not a new connection (through a cache, a
        new stream of the port-forward) and an unauthenticated try first. A registry's credentials
        are read for each call (the environment's, or a docker login's), and new ones get a new
        client; so does a forked process (its parent's sockets are not its own). A connection
        unused for a minute is not used again (oci/transport.py: IDLE_CONNECTION). With a total
        time limit (``--timeout``), each call has a client of its own, its deadline starting
        with it."""
        from ..oci.auth import docker_config_credentials
        from ..oci.client import Credentials, RegistryClient

        options = self.options
        own = options.timeouts.total is not None
        pool = pool_size if own else max(pool_size, KEPT_POOL)
        host = place.registry
        if host is not None:
            with self._lock:
                self._refuse_if_closed()
            if self._on_start is not None:
                self._on_start(what)
            credentials = (self.credentials or Credentials.from_env(push=push)
                           or docker_config_credentials(host))
            with self._client((host, credentials, pool_size), own, lambda: RegistryClient(
                    host, plain_http=options.plain_http, insecure=options.insecure, credentials=credentials,
                    timeouts=options.timeouts, pool_size=pool, docker_config=False)) as client:
                yield client
            return
        cache = self._open_cache()
        endpoint = cache.endpoint
        credentials = (Credentials(endpoint.username, endpoint.password) if endpoint.username and endpoint.password
                       else Credentials.from_env(push=push))
        if self._on_start is not None:
            self._on_start(what)
        try:
            with self._client((cache.address, credentials, pool_size), own, lambda: RegistryClient(
                    cache.address, plain_http=True, credentials=credentials, timeouts=options.timeouts,
                    pool_size=pool, name=cache.name)) as client:
                yield client
        except OrasError as e:
            said = about_cache(e, cache.name, cache.tunnel_failure)
            if said is e:
                raise
            raise said from e

    @contextmanager
    def _client(self, key: tuple[object, ...], own: bool, make: Callable[[], RegistryClient]) -> Iterator[RegistryClient]:
        """The session's client for ``key``, made on first use (again in a forked process) and
        closed with the session, or before when let go for newer credentials (``_beyond_kept``);
        with ``own``, one for this call alone, closed after it."""
        if own:
            client = make()
            try:
                yield client
            finally:
                client.close()
            return
        pid = os.getpid()
        with self._lock:
            self._refuse_if_closed()
            kept = self._clients.pop(key, None)
            if kept is not None:
                self._clients[key] = kept  # the most recently used last: the oldest are let go first
        if kept is None or kept.pid != pid:
            made = _Kept(make(), pid)  # not under the lock: a fork meanwhile would find it held
            with self._lock:
                if self._closed:
                    made.client.close()
                self._refuse_if_closed()
                kept = self._clients.get(key)
                if kept is None or kept.pid != pid:  # a forked child drops its parent's: their sockets are shared
                    kept = self._clients[key] = made
                    stale = self._beyond_kept(key)
                else:
                    stale = [made]  # another thread made one first
            for one in stale:
                if one.pid == pid:
                    one.client.close()  # a call still using it finishes on connections of its own
        yield kept.client

    def _beyond_kept(self, key: tuple[object, ...]) -> list[_Kept]:
        """The clients of the registry and pool size of ``key`` beyond KEPT_CREDENTIALS, taken out
        (credentials renewed at every call would otherwise each keep sockets open): a forked
        parent's first, then the least recently used."""
        pid = os.getpid()
        same = sorted((k for k in self._clients if k[0] == key[0] and k[2:] == key[2:]),
                      key=lambda k: self._clients[k].pid == pid)  # stable: in the order of use
        return [self._clients.pop(k) for k in same[:max(len(same) - KEPT_CREDENTIALS, 0)]]

    def _open_cache(self) -> CacheRegistry:
        with self._lock:  # one port-forward, whichever thread asks first
            self._refuse_if_closed()
            if self._cache is None:
                from ..cluster.registry import open_cache_registry
                from ..kube.errors import ClusterUnreachable

                options = self.options
                try:
                    self._cache = self._stack.enter_context(open_cache_registry(
                        cache=options.cache_name, namespace=options.namespace, kubeconfig=options.kubeconfig,
                        context=options.context))
                except ClusterUnreachable as e:  # no cluster at all: say the other way too
                    raise ClusterUnreachable(f"{e} (or name a registry with --registry HOST:PORT)") from e
            return self._cache


KEPT_POOL = 32  # connections a kept client holds for threads sharing a session (more are opened and not kept)
KEPT_CREDENTIALS = 4  # clients kept for one registry with different credentials (push and pull ones, renewed ones)

# Every open session, so that a forked child gets locks of its own: a lock another thread of the
# parent held at the fork stays held in the child, where no thread will ever release it.
_SESSIONS: weakref.WeakSet[Session] = weakref.WeakSet()


def _fresh_locks_in_child() -> None:
    for session in list(_SESSIONS):
        session._lock = threading.Lock()


os.register_at_fork(after_in_child=_fresh_locks_in_child)


@dataclass
class _Kept:
    """A session's client and the process that made it."""

    client: RegistryClient
    pid: int


def about_cache(error: OrasError, cache: str, tunnel_failure: str | None) -> OrasError:
    """``error`` said about the cache (``cache lab/oras``) with what the port-forward saw, as a copy
    of the same class; ``error`` itself when there is nothing to add. A local file's error is not
    about the cache."""
    from ..oci.errors import LocalPathError

    if isinstance(error, LocalPathError):
        return error
    text = str(error)
    said = text if cache in text else f"{text} ({cache})"
    if tunnel_failure and tunnel_failure not in said:
        said += f" (port-forward: {tunnel_failure})"
    if said == text:
        return error
    copied = copy.copy(error)
    copied.args = (said,)
    return copied
