"""The HTTPS server around the admission cores: /mutate (pods, admission.py), /validate
(workloads, workload_review.py: never a patch) and /healthz (aiohttp).

No client holds it up: a request must arrive in time (its headers within ``request_timeout`` of
connecting or of the previous answer, its body within ``request_timeout`` after them), a TLS
handshake too, and at most ``max_connections`` connections are served at once (one past that is
closed before its handshake), so slow or idle clients cannot use up the file descriptors that the
owner lookups and /healthz need.
"""

from __future__ import annotations

import asyncio
import json
import logging
import resource
import socket
import ssl
import time
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from aiohttp.typedefs import Middleware

from kubectl_oras.kube.errors import ObjectNotFound
from kubectl_oras.pods.caches import CacheView
from kubectl_oras.pods.entrypoint import ResolvedImage
from kubectl_oras.tasks import cancel_and_wait

from ..core.admission import (
    MalformedReview,
    PodToInject,
    RequestPayload,
    ReviewResponse,
    controlling_owner,
    denied,
    inject_agent,
    parse_review,
    pod_label,
    read_pod,
)
from ..core.workload_review import WorkloadToCheck, check_workload, read_workload
from .image_commands import ImageLookupFailed

log = logging.getLogger("kubectl_oras.webhook")

OwnerLookup = Callable[[str, dict[str, Any]], Awaitable[dict[str, str] | None]]
CacheLookup = Callable[[str, str], Awaitable[CacheView]]  # (namespace, name) -> what the cluster says of it
HoldsCache = Callable[[str], bool]  # namespace -> whether it holds an OrasCache
# (namespace, pod, container, image, seconds left for it) -> what its image runs
ImageLookup = Callable[[str, dict[str, Any], str, str, float], Awaitable[ResolvedImage]]
Observer = Callable[[str, float], None]  # (outcome, seconds) of each review
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
MAX_BODY = 3 * 1024 * 1024  # a pod object is at most ~1.5 MiB (etcd's limit); reviews carry it plus oldObject
REQUEST_TIMEOUT = 10.0  # the apiserver's own default timeout for a webhook call is 10 s
# What one pod's review may spend on its lookups (owner, cache, image), inside the 5 s the
# webhook configuration gives the apiserver's call (webhook_configuration.py: timeout_seconds).
REVIEW_SECONDS = 4.5


async def no_owner_lookup(namespace: str, owner: dict[str, Any]) -> dict[str, str] | None:
    return None


def no_caches(namespace: str) -> bool:
    return False


async def default_cache(namespace: str, name: str) -> CacheView:
    """No cluster to ask: every cache exists with the defaults (what `kubectl oras inject` assumes)."""
    return CacheView.default(name)


def bad_request(reason: str) -> web.Response:
    return web.json_response({"error": reason}, status=400)


def body_within(timeout: float) -> Middleware:
    """Middleware: read the whole body within ``timeout`` or answer 408 and close the connection."""

    @web.middleware
    async def read_body(request: web.Request, handler: Handler) -> web.StreamResponse:
        if request.can_read_body:
            try:
                await asyncio.wait_for(request.read(), timeout)  # kept by the request: handlers read it again
            except TimeoutError:
                log.warning("%s sent no whole request body within %g s; closing the connection", request.remote, timeout)
                raise web.HTTPRequestTimeout(text=f"the request body did not arrive within {timeout:g} s") from None
        return await handler(request)

    return read_body


def make_app(*, agent_image: str, lookup_owner: OwnerLookup = no_owner_lookup, lookup_cache: CacheLookup = default_cache,
             holds_cache: HoldsCache = no_caches, request_timeout: float = REQUEST_TIMEOUT,
             observe: Observer | None = None, lookup_image: ImageLookup | None = None) -> web.Application:
    """``observe(outcome, seconds)`` hears of every review: allowed, mutated, denied or error.
    ``holds_cache(namespace)``: where a pod whose owner cannot be read is denied rather than
    admitted as it is (the owner's annotations may mark it for that namespace's cache).
    ``lookup_image``: the command of a launcher without one (image_commands.py); without it such
    a pod is denied, asking for a command."""

    Reviewer = Callable[[RequestPayload], Awaitable[ReviewResponse]]

    def answering(review: Reviewer) -> Handler:
        async def answer(request: web.Request) -> web.Response:
            started = time.monotonic()
            response, outcome = await decide(request, review)
            if observe is not None:
                observe(outcome, time.monotonic() - started)
            return response

        return answer

    async def decide(request: web.Request, review: Reviewer) -> tuple[web.Response, str]:
        """The answer, and its outcome for the metrics: mutated, allowed, denied or error."""
        try:
            admission = parse_review(json.loads(await request.read()))
        except RecursionError:
            return bad_request("not an AdmissionReview: nested too deeply"), "error"
        except ValueError as e:  # MalformedReview, JSONDecodeError and UnicodeDecodeError are ValueErrors
            return bad_request(f"not an AdmissionReview: {e}"), "error"
        try:
            response = await review(admission)
        except MalformedReview as e:
            return bad_request(f"not an AdmissionReview: {e}"), "error"
        result = response["response"]
        outcome = "mutated" if "patch" in result else "allowed" if result["allowed"] else "denied"
        log.info("%s %s %s/%s: %s", admission.get("operation"), (admission.get("kind") or {}).get("kind"),
                 admission.get("namespace"), pod_label(admission.get("object")),
                 "patched" if "patch" in result
                 else ("allowed" if result["allowed"] else f"denied: {result['status']['message']}"))
        return web.json_response(response), outcome

    async def review_pod(admission: RequestPayload) -> ReviewResponse:
        """The verdict, the owner's annotations and the pod's OrasCache read from the cluster."""
        started = time.monotonic()
        owner = controlling_owner(admission.get("object"))
        owner_annotations = None
        if owner is not None:
            namespace = admission.get("namespace") or ""
            try:
                owner_annotations = await lookup_owner(namespace, owner)
            except ObjectNotFound:  # no such owner: nothing of it counts (the garbage collector deletes the pod)
                pass
            except Exception as e:
                log.warning("could not read %s/%s: %s", owner.get("kind"), owner.get("name"), e)
                if holds_cache(namespace):
                    # Its annotations may mark the pod for this namespace's cache: admitted as it
                    # is, the step would run without its agent. Its controller tries again.
                    return denied(admission["uid"], f"cannot read the pod's owner {owner.get('kind')} {owner.get('name')} "
                                  f"in {namespace}, whose annotations may mark it for the cache: {e}; try again",
                                  code=503, reason="ServiceUnavailable")
                # Where no cache is, the webhook fails open for such pods: the pod's own annotations count.
        marked = read_pod(admission, owner_annotations=owner_annotations)
        if not isinstance(marked, PodToInject):
            return marked
        cache = None
        if marked.cache is not None:
            try:
                cache = await lookup_cache(marked.namespace, marked.cache)
            except Exception as e:  # deny: injecting without knowing the cache's registry and Secret would break the step later
                log.warning("could not read OrasCache %s/%s: %s", marked.namespace, marked.cache, e)
                return denied(admission["uid"], f"cannot read OrasCache {marked.cache!r} in {marked.namespace} to wire "
                              f"the pod to its registry: {e}; try again", code=503, reason="ServiceUnavailable")
        image = None
        launcher = marked.launcher_image
        if launcher is not None and lookup_image is not None:
            try:
                left = REVIEW_SECONDS - (time.monotonic() - started)  # the owner's and the cache's took the rest
                image = await lookup_image(marked.namespace, marked.pod, *launcher, left)
            except ImageLookupFailed as e:
                return (denied(admission["uid"], str(e), code=503, reason="ServiceUnavailable") if e.transient
                        else denied(admission["uid"], str(e)))
        return inject_agent(marked, agent_image=agent_image, cache=cache, image=image)

    async def review_workload(admission: RequestPayload) -> ReviewResponse:
        """The verdict on a workload's marked pod templates, the OrasCaches they name read from the cluster."""
        marked = read_workload(admission)
        if not isinstance(marked, WorkloadToCheck):
            return marked
        caches, unread = {}, []
        for name in marked.caches:
            try:
                caches[name] = await lookup_cache(marked.namespace, name)
            except Exception as e:  # fail open, as the entry does: each pod is checked against its cache when made
                log.warning("could not read OrasCache %s/%s: %s", marked.namespace, name, e)
                unread.append(f"cannot read OrasCache {name!r} in {marked.namespace} ({e}): the workload's pods "
                              "are checked against it when they are made")
        return check_workload(marked, agent_image=agent_image, caches=caches, warnings=unread)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    # keepalive_timeout also closes a connection that has not sent whole headers in time (aiohttp
    # starts it at connect); lingering_time 0: after a 408, close instead of reading on.
    app = web.Application(client_max_size=MAX_BODY, middlewares=[body_within(request_timeout)],
                          handler_args={"keepalive_timeout": request_timeout, "lingering_time": 0})
    app.router.add_post("/mutate", answering(review_pod))
    app.router.add_post("/validate", answering(review_workload))
    app.router.add_get("/healthz", healthz)
    return app


def default_max_connections() -> int:
    """Half the process's file descriptors (the rest: the apiserver client, certificates, logs), 8 to 1024."""
    soft, _ = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft == resource.RLIM_INFINITY:
        soft = 2048
    return max(8, min(1024, soft // 2))


class CappedSite(web.BaseSite):
    """A TCP site (TLS when given a context) serving at most ``max_connections`` connections at once.

    It accepts connections itself so that one past the cap is closed at once, before its TLS
    handshake, and a handshake that does not finish within ``handshake_timeout`` is dropped.
    """

    def __init__(self, runner: web.BaseRunner, host: str, port: int, *, ssl_context: ssl.SSLContext | None,
                 max_connections: int, handshake_timeout: float = REQUEST_TIMEOUT) -> None:
        super().__init__(runner, ssl_context=ssl_context)
        self.host, self.port = host, port
        self.max_connections = max_connections
        self.handshake_timeout = handshake_timeout
        self.handshaking: set[asyncio.Task[None]] = set()
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None

    @property
    def name(self) -> str:
        return f"{'https' if self._ssl_context else 'http'}://{self.host}:{self.port}"

    def open_connections(self) -> int:
        server = self._runner.server
        return len(self.handshaking) + (len(server.connections) if server else 0)

    async def start(self) -> None:
        await super().start()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        self._listener = socket.create_server((self.host, self.port), family=family, backlog=self._backlog)
        self._listener.setblocking(False)
        self.port = self._listener.getsockname()[1]
        self._accepting = asyncio.get_running_loop().create_task(self._accept(self._listener))

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                conn, peer = await loop.sock_accept(listener)
            except OSError as e:  # e.g. EMFILE: wait for descriptors to come back instead of spinning
                log.warning("cannot accept a connection: %s", e)
                await asyncio.sleep(0.5)
                continue
            if self.open_connections() >= self.max_connections:
                log.warning("%s:%s refused: %d connections open already", peer[0], peer[1], self.max_connections)
                conn.close()
                continue
            task = loop.create_task(self._open(conn, peer))
            self.handshaking.add(task)
            task.add_done_callback(self.handshaking.discard)

    async def _open(self, conn: socket.socket, peer: Any) -> None:
        server = self._runner.server
        assert server is not None
        loop = asyncio.get_running_loop()
        try:
            if self._ssl_context is None:
                await loop.connect_accepted_socket(server, conn)
            else:
                await loop.connect_accepted_socket(server, conn, ssl=self._ssl_context,
                                                   ssl_handshake_timeout=self.handshake_timeout)
            # Counted in server.connections from here: stop counting it as handshaking now, not when
            # the task's done-callback runs later (counted twice meanwhile, it refused a client early).
            task = asyncio.current_task()
            if task is not None:
                self.handshaking.discard(task)
        except asyncio.CancelledError:  # the site stops
            conn.close()
            raise
        except Exception as e:  # a failed or slow handshake: that client's problem, not the server's
            log.debug("%s: connection dropped: %s", peer, e or type(e).__name__)
            conn.close()

    async def stop(self) -> None:
        tasks = [t for t in (self._accepting, *self.handshaking) if t is not None]
        failures = await cancel_and_wait(tasks)
        if failures:
            raise failures[0]
        if self._listener is not None:
            self._listener.close()
        await super().stop()


async def start_server(app: web.Application, *, host: str, port: int, ssl_context: ssl.SSLContext | None,
                       max_connections: int | None = None,
                       handshake_timeout: float = REQUEST_TIMEOUT) -> tuple[web.AppRunner, CappedSite]:
    """Serve ``app`` on host:port; stop it with ``runner.cleanup()``."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = CappedSite(runner, host, port, ssl_context=ssl_context,
                      max_connections=max_connections or default_max_connections(),
                      handshake_timeout=handshake_timeout)
    await site.start()
    return runner, site


def server_ssl_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context
