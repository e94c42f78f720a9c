"""Port-forward without kubectl: a listener on 127.0.0.1 whose every accepted connection becomes
one websocket to a pod's ``portforward`` subresource (``v4.channel.k8s.io``, channels.py).

Two layers. ``Tunnel`` is the asyncio core: it resolves the target (a Service's ready pod, as
``kubectl port-forward svc/NAME`` does, forward_target.py, or a named pod), probes it once, then
listens; each connection opens its own websocket (``Kube.websocket``: the ``ApiClient``'s session,
TLS context, bearer token and refresh hooks) and pumps bytes both ways with backpressure. When a
websocket cannot be opened because the pod is gone, a Service's ready pod is looked up again
(waiting up to ``wait_ready`` seconds) and the connection goes on there. ``PortForward`` is the
synchronous face for the CLI: an event loop in a daemon thread, ``address`` ("127.0.0.1:PORT")
for the transfer engine, which never knows it is talking through a tunnel, and ``last_error``
for a failure message. docs/kube-client.md ("Port-forward") has the protocol as observed.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
import threading
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Generic, TypeVar, cast

import aiohttp

from ..errors import OrasError
from ..tasks import cancel_and_wait
from .api import PODS, SERVICES, Kube
from .channels import SUBPROTOCOL, ChannelReader, data_message, upgrade_refused
from .errors import ClusterUnreachable, Forbidden, KubeError, PortForwardError, Unauthorized
from .forward_target import choose_pod, selector, service_port

log = logging.getLogger("kubectl_oras.portforward")

LISTEN_HOST = "127.0.0.1"
READ_SIZE = 256 * 1024  # the most one local read, and so one websocket message to the pod, carries
LISTEN_BACKLOG = 100  # connections the kernel holds for us before we accept them (asyncio's default)
PROBE_TIMEOUT = 10.0  # seconds for the kubelet's port header on the probe
PROBE_QUIET = 0.3  # seconds the probe's error channel must stay quiet after the header
EOF_GRACE = 1.0  # seconds the pod may still answer after the local side stopped sending (as the kubelet allows)
WAIT_READY = 30.0  # seconds to wait for a ready pod behind the Service, at the start and after a pod is gone

Found = TypeVar("Found")  # what a ``target`` looked up on its way to saying where to forward


@dataclass(frozen=True)
class ForwardTo:
    """Where connections go: a Service's port (number or name), or a pod's port number."""

    namespace: str
    port: int | str
    service: str | None = None
    pod: str | None = None

    def __post_init__(self) -> None:
        if (self.service is None) == (self.pod is None):
            raise ValueError("forward to a service or to a pod")
        if self.pod is not None and not isinstance(self.port, int):
            raise ValueError("a pod's port is a number")

    @property
    def what(self) -> str:
        return f"service {self.namespace}/{self.service}" if self.service else f"pod {self.namespace}/{self.pod}"


class Tunnel:
    """The asyncio core. ``await start()`` resolves, probes and listens; ``await close()``."""

    def __init__(self, kube: Kube, to: ForwardTo, *, wait_ready: float = WAIT_READY, listen_port: int = 0) -> None:
        self.kube = kube
        self.to = to
        self.namespace = to.namespace
        self.service = to.service
        self.what = to.what
        self.wait_ready = wait_ready
        self.listen_port = listen_port
        self.last_error: str | None = None
        self.connections = 0  # local connections accepted
        self.reconnects = 0  # times the Service's pod was looked up again
        self.frames = 0  # messages from the kubelet, and the largest (docs/kube-client.md says what they were)
        self.largest_frame = 0
        self.frames_sent = 0  # messages to the kubelet, and the data they carried
        self.bytes_sent = 0
        self.target: tuple[str, int] | None = None  # (pod, port) connections go to
        self._listener: socket.socket | None = None
        self._accepting: asyncio.Task[None] | None = None
        self._streams: set[asyncio.Task[None]] = set()
        self._stale = False

    @property
    def address(self) -> str:
        return f"{LISTEN_HOST}:{self.listen_port}"

    # -- life --------------------------------------------------------------------------------

    async def start(self) -> None:
        await self._retarget(wait=self.wait_ready)
        await self._probe()
        listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            listener.bind((LISTEN_HOST, self.listen_port))
            listener.listen(LISTEN_BACKLOG)
            listener.setblocking(False)
        except BaseException:
            listener.close()
            raise
        self._listener = listener
        self.listen_port = listener.getsockname()[1]
        self._accepting = asyncio.create_task(self._accept(listener))

    async def close(self) -> None:
        if self._accepting is not None:
            await cancel_and_wait([self._accepting])
        if self._listener is not None:
            self._listener.close()
        await cancel_and_wait(list(self._streams))

    # -- the target ---------------------------------------------------------------------------

    async def resolve(self) -> tuple[str, int]:
        """(pod, port) now: the Service's ready pod, or the named pod if it is ready."""
        if self.service is None:
            assert self.to.pod is not None
            pod = await self.kube.get(PODS, self.to.pod, namespace=self.namespace)
            return choose_pod([pod], self.to.port, where=self.what)
        service = await self.kube.get(SERVICES, self.service, namespace=self.namespace)
        target = service_port(service, self.to.port)
        pods = await self.kube.list(PODS, namespace=self.namespace, label_selector=selector(service))
        return choose_pod(pods.get("items") or [], target, where=self.what)

    async def _retarget(self, *, wait: float) -> tuple[str, int]:
        """Resolve, waiting up to ``wait`` seconds while no pod is ready."""
        deadline = asyncio.get_running_loop().time() + wait
        while True:
            try:
                self.target = await self.resolve()
                self._stale = False
                return self.target
            except PortForwardError:  # NoReadyPod and a Service that names no usable port
                if asyncio.get_running_loop().time() >= deadline:
                    raise
            await asyncio.sleep(0.5)

    # -- one websocket ------------------------------------------------------------------------

    async def open(self, pod: str, port: int) -> aiohttp.ClientWebSocketResponse:
        """The websocket to ``pod``'s ``port``, upgraded; a KubeError naming what refused it."""
        return await self.kube.websocket(
            PODS.path(namespace=self.namespace, name=pod, subresource="portforward"), query={"ports": str(port)},
            protocol=SUBPROTOCOL, what=f"port-forward to pod {self.namespace}/{pod}", error=PortForwardError,
            refused=lambda status, body: upgrade_refused(status, body, namespace=self.namespace, pod=pod, port=port))

    async def connect(self) -> tuple[aiohttp.ClientWebSocketResponse, str, int]:
        """A websocket to the current target; when the pod is gone (or the last stream ended in
        the kubelet's error), the Service's ready pod is looked up again, waiting for one up to
        ``wait_ready`` seconds. RBAC, credentials and an unreachable API are not retried."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.wait_ready
        if self.target is None or (self._stale and self.service):
            await self._retarget(wait=self.wait_ready)
        while True:
            assert self.target is not None
            pod, port = self.target
            try:
                return await self.open(pod, port), pod, port
            except (Forbidden, Unauthorized, ClusterUnreachable):
                raise
            except KubeError as e:
                if self.service is None or loop.time() >= deadline:
                    raise
                log.info("port-forward: %s; looking for the ready pod behind %s again", e, self.what)
                self.last_error = str(e)
            self.reconnects += 1
            await asyncio.sleep(0.2)
            previous = self.target
            await self._retarget(wait=max(0.0, deadline - loop.time()))
            if self.target == previous:
                await asyncio.sleep(0.5)

    async def _probe(self) -> None:
        """One websocket before listening, so that RBAC, a missing pod or a refused port are said at
        once: the upgrade succeeds, the port header arrives, and the error channel stays quiet."""
        ws, pod, port = await self.connect()
        channels = ChannelReader(port)
        what = f"port-forward to pod {self.namespace}/{pod} port {port}"
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + PROBE_TIMEOUT
            quiet_until: float | None = None
            ended = False
            while True:
                now = loop.time()
                limit = quiet_until if quiet_until is not None else deadline
                if now >= limit:
                    break
                try:
                    message = await asyncio.wait_for(ws.receive(), limit - now)
                except TimeoutError:
                    break
                if message.type == aiohttp.WSMsgType.BINARY:
                    channels.feed(message.data)
                    if channels.error:
                        break
                    if channels.started and quiet_until is None:
                        quiet_until = loop.time() + PROBE_QUIET
                elif message.type in (aiohttp.WSMsgType.CLOSE, aiohttp.WSMsgType.CLOSING, aiohttp.WSMsgType.CLOSED,
                                      aiohttp.WSMsgType.ERROR):
                    ended = True
                    break
            if channels.error:
                raise PortForwardError(f"{what}: {channels.error_message()}")
            if not channels.started:
                said = "closed the stream" if ended else f"sent nothing for {PROBE_TIMEOUT:g} s"
                raise PortForwardError(f"{what}: the kubelet {said} before the port header")
        finally:
            await ws.close()

    # -- one local connection -----------------------------------------------------------------

    async def _accept(self, listener: socket.socket) -> None:
        loop = asyncio.get_running_loop()
        while True:
            try:
                connection, _ = await loop.sock_accept(listener)
            except OSError as e:  # out of file descriptors, an aborted connection: the next may work
                log.warning("port-forward: cannot accept a connection: %s", e)
                await asyncio.sleep(0.1)
                continue
            connection.setblocking(False)
            connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            task = asyncio.create_task(self._serve(connection))
            self._streams.add(task)
            task.add_done_callback(self._streams.discard)

    async def _serve(self, connection: socket.socket) -> None:
        self.connections += 1
        try:
            try:
                ws, pod, port = await self.connect()
            except OrasError as e:
                self.last_error = str(e)
                log.warning("port-forward: %s", e)
                return
            await self._pump(ws, ChannelReader(port), connection, pod)
        except asyncio.CancelledError:
            pass
        finally:
            connection.close()

    async def _pump(self, ws: aiohttp.ClientWebSocketResponse, channels: ChannelReader, connection: socket.socket,
                    pod: str) -> None:
        """Bytes both ways until either side ends. Backpressure: a full local socket stops our reads
        of the websocket (aiohttp then stops reading its socket); a slow pod, our local reads.

        The local socket is read straight into the message that goes to the pod (after its channel
        byte) and written from the kubelet's message as it came: no stream buffer in between."""
        loop = asyncio.get_running_loop()

        async def upstream() -> None:
            while True:
                message, data = data_message(READ_SIZE)  # a new one each time: aiohttp may keep what it is given
                n = await loop.sock_recv_into(connection, data)
                if not n:
                    return
                self.frames_sent += 1
                self.bytes_sent += n
                # aiohttp takes any bytes-like here (it checks for bytes, bytearray or memoryview)
                await ws.send_bytes(cast(bytes, message[:1 + n]))

        async def downstream() -> None:
            while True:
                message = await ws.receive()
                if message.type != aiohttp.WSMsgType.BINARY:
                    if message.type == aiohttp.WSMsgType.TEXT:
                        continue  # only the base64 protocol sends text, and we do not ask for it
                    return
                self.frames += 1
                self.largest_frame = max(self.largest_frame, len(message.data))
                incoming = channels.feed(message.data)
                if incoming.data is not None:
                    await loop.sock_sendall(connection, incoming.data)

        up = asyncio.create_task(upstream())
        down = asyncio.create_task(downstream())
        local_first = False
        try:
            done, _ = await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            if up in done and not down.done():
                local_first = True
                await asyncio.wait({down}, timeout=EOF_GRACE)
        finally:
            failures = await cancel_and_wait((up, down))
            await ws.close()
        failure = failures[0] if failures else None
        log.debug("port-forward: stream to %s ended (%s first, close code %s, %d messages ignored)", pod,
                  "local side" if local_first else "pod side", ws.close_code, channels.ignored)
        if channels.error:
            self.last_error = f"port-forward to pod {self.namespace}/{pod}: {channels.error_message()}"
            self._stale = True
        elif isinstance(failure, OrasError):
            self.last_error = str(failure)
        elif failure is not None and not isinstance(failure, (ConnectionError, OSError)):
            self.last_error = f"port-forward to pod {self.namespace}/{pod}: {failure}"
        elif not local_first and ws.close_code not in (None, 1000):  # how it closes after we close it is no failure
            self.last_error = f"port-forward to pod {self.namespace}/{pod}: the stream ended with code {ws.close_code}"


class PortForward(Generic[Found]):
    """The synchronous face: ``with PortForward(namespace="lab", service="oras", port=5000) as pf:``
    then talk to ``pf.address``. Starting resolves, probes and listens, or raises the one-line
    error; the tunnel runs in a daemon thread's event loop until ``close()``."""

    def __init__(self, *, namespace: str | None = None, port: int | str | None = None, service: str | None = None,
                 pod: str | None = None, kubeconfig: str | None = None, context: str | None = None,
                 connect: Callable[[], Awaitable[Kube]] | None = None, wait_ready: float = WAIT_READY,
                 target: Callable[[Kube], Awaitable[tuple[ForwardTo, Found]]] | None = None) -> None:
        """Forward to ``service`` (or ``pod``) in ``namespace`` on ``port``; or, with ``target``, to
        where ``target(kube)`` says once connected (one connection for the lookup and the tunnel:
        an exec credential plugin runs once, and both see the same context). What the target found
        besides (a cache's endpoint) is ``found`` once started."""
        if target is None:
            if namespace is None or port is None:
                raise ValueError("give a namespace and a port, or a target")
            self.to: ForwardTo | None = ForwardTo(namespace, port, service, pod)
        else:
            self.to = None
        self._target = target
        self.found: Found | None = None
        self.wait_ready = wait_ready
        self._connect = connect or (lambda: _kube(kubeconfig, context))
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._kube: Kube | None = None
        self.tunnel: Tunnel | None = None

    def __enter__(self) -> PortForward[Found]:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @property
    def address(self) -> str:
        assert self.tunnel is not None, "start() first"
        return self.tunnel.address

    @property
    def last_error(self) -> str | None:
        """The last forwarding failure (the kubelet's error, a pod gone, a refused upgrade), to add
        to a failure message; None when every stream went well."""
        return self.tunnel.last_error if self.tunnel else None

    def start(self) -> None:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="port-forward", daemon=True)
        self._thread.start()
        try:
            asyncio.run_coroutine_threadsafe(self._start(), self._loop).result()
        except BaseException:
            self.close()
            raise

    async def _start(self) -> None:
        self._kube = await self._connect()
        if self._target is not None:
            self.to, self.found = await self._target(self._kube)
        assert self.to is not None
        self.tunnel = Tunnel(self._kube, self.to, wait_ready=self.wait_ready)
        await self.tunnel.start()

    def close(self) -> None:
        loop, thread = self._loop, self._thread
        if loop is None or thread is None:
            return
        self._loop = self._thread = None
        if not loop.is_closed() and thread.is_alive():
            with contextlib.suppress(Exception):  # a start cut short (Ctrl-C) leaves its task: end it first
                asyncio.run_coroutine_threadsafe(_cancel_the_rest(), loop).result(timeout=5)
            with contextlib.suppress(Exception):
                asyncio.run_coroutine_threadsafe(self._stop(), loop).result(timeout=10)
            loop.call_soon_threadsafe(loop.stop)
            thread.join(5)
        if not thread.is_alive():
            loop.close()

    async def _stop(self) -> None:
        if self.tunnel is not None:
            await self.tunnel.close()
        if self._kube is not None:
            await self._kube.close()


async def _cancel_the_rest() -> None:
    await cancel_and_wait([t for t in asyncio.all_tasks() if t is not asyncio.current_task()])


async def _kube(kubeconfig: str | None, context: str | None) -> Kube:
    from .config import connect

    return await connect(kubeconfig=kubeconfig, context=context)
