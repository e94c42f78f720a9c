"""A stand-in for the apiserver and the kubelet behind a port-forward, on loopback (aiohttp), for
injecting faults exactly: it answers GET of a Service and of pods, list of pods, and upgrades
``pods/NAME/portforward`` to a websocket speaking the kubelet's side of ``v4.channel.k8s.io``,
forwarding to a real TCP server per pod (``backends``). The tier-3 tests are the evidence it
works with the real kubelet; this double is for what a real cluster cannot be made to do on cue.

Faults, set on the instance: ``forbid`` (403 with a Status), ``no_header`` (never the port
header), ``error_text`` (the error channel says it and closes), ``drop_after`` (the connection is
cut after so many bytes to us, for the next ``drops`` streams).
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web

SUBPROTOCOL = "v4.channel.k8s.io"


def status(code: int, message: str, reason: str) -> web.Response:
    body = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "message": message, "reason": reason, "code": code}
    return web.Response(status=code, text=json.dumps(body), content_type="application/json")


def pod(name: str, *, ready: bool = True, phase: str = "Running", created: str = "2026-01-01T00:00:00Z",
        labels: dict[str, str] | None = None, port_name: str = "registry") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "lab", "labels": labels or {"app": "oras"}, "creationTimestamp": created},
            "spec": {"containers": [{"name": "registry", "ports": [{"name": port_name, "containerPort": 5000}]}]},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": "True" if ready else "False"}]}}


def service(name: str = "oras", target: int | str = "registry") -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": "lab"},
            "spec": {"selector": {"app": "oras"}, "ports": [{"name": "registry", "port": 5000, "targetPort": target}]}}


@dataclass
class Upgrade:
    pod: str
    port: int
    authorization: str
    protocols: str


@dataclass
class KubeletDouble:
    services: dict[str, dict[str, Any]] = field(default_factory=dict)
    pods: dict[str, dict[str, Any]] = field(default_factory=dict)
    backends: dict[str, tuple[str, int]] = field(default_factory=dict)
    forbid: bool = False
    no_header: bool = False
    error_text: str | None = None
    drop_after: int | None = None
    drops: int = 1
    upgrades: list[Upgrade] = field(default_factory=list)
    url: str = ""

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/api/v1/namespaces/{ns}/services/{name}", self._service)
        app.router.add_get("/api/v1/namespaces/{ns}/pods", self._pods)
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}", self._pod)
        app.router.add_get("/api/v1/namespaces/{ns}/pods/{name}/portforward", self._portforward)
        return app

    async def _service(self, request: web.Request) -> web.Response:
        return self._object(self.services, "services", request.match_info["name"])

    async def _pods(self, request: web.Request) -> web.Response:
        return web.json_response({"kind": "PodList", "items": list(self.pods.values())})

    async def _pod(self, request: web.Request) -> web.Response:
        return self._object(self.pods, "pods", request.match_info["name"])

    @staticmethod
    def _object(table: dict[str, dict[str, Any]], plural: str, name: str) -> web.Response:
        if name not in table:
            return status(404, f'{plural} "{name}" not found', "NotFound")
        return web.json_response(table[name])

    async def _portforward(self, request: web.Request) -> web.StreamResponse:
        ns, name = request.match_info["ns"], request.match_info["name"]
        port = int(request.query["ports"])
        self.upgrades.append(Upgrade(name, port, request.headers.get("Authorization", ""),
                                     request.headers.get("Sec-WebSocket-Protocol", "")))
        if self.forbid:
            return status(403, f'pods "{name}" is forbidden: User "alice" cannot create resource "pods/portforward" '
                               f'in API group "" in the namespace "{ns}"', "Forbidden")
        if name not in self.pods:
            return status(404, f'pods "{name}" not found', "NotFound")
        ws = web.WebSocketResponse(protocols=(SUBPROTOCOL,), max_msg_size=0)
        await ws.prepare(request)
        header = port.to_bytes(2, "little")
        if not self.no_header:
            await ws.send_bytes(b"\x00" + header)
            await ws.send_bytes(b"\x01" + header)
        if self.error_text is not None:
            await ws.send_bytes(b"\x01" + self.error_text.encode())
            await ws.close()
            return ws
        if self.no_header:
            async for _ in ws:
                pass
            return ws
        try:
            reader, writer = await asyncio.open_connection(*self.backends[name])
        except OSError as e:
            await ws.send_bytes(b"\x01" + f"an error occurred forwarding {port} -> {port}: error forwarding port {port} "
                                          f"to pod {name}, uid : dial tcp4 127.0.0.1:{port}: connect: {e}".encode())
            await ws.close()
            return ws
        async def up() -> None:
            async for message in ws:
                if message.type == WSMsgType.BINARY and message.data[:1] == b"\x00":
                    writer.write(message.data[1:])
                    await writer.drain()
            writer.close()

        async def down() -> None:
            sent = 0
            while chunk := await reader.read(32 * 1024):  # the kubelet's io.Copy buffer
                await ws.send_bytes(b"\x00" + chunk)
                sent += len(chunk)
                if self.drop_after is not None and self.drops > 0 and sent >= self.drop_after:
                    self.drops -= 1
                    assert request.transport is not None
                    request.transport.abort()
                    return
            await ws.close()

        tasks = [asyncio.create_task(up()), asyncio.create_task(down())]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        writer.close()
        return ws


@contextmanager
def running(double: KubeletDouble) -> Iterator[KubeletDouble]:
    """The double served on a loopback port from its own thread's event loop."""
    loop = asyncio.new_event_loop()
    runner = web.AppRunner(double.app())
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    double.url = f"http://127.0.0.1:{sock.getsockname()[1]}"

    async def start() -> None:
        await runner.setup()
        await web.SockSite(runner, sock).start()

    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(start(), loop).result(10)
    try:
        yield double
    finally:
        asyncio.run_coroutine_threadsafe(runner.cleanup(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)
        loop.close()


class TcpBackend:
    """A pod's port: ``echo`` sends back what it gets; ``source`` sends ``size`` bytes of a pattern
    and counts what it managed to send (``sent``), to watch backpressure."""

    def __init__(self, mode: str = "echo", size: int = 0) -> None:
        self.mode, self.size, self.sent = mode, size, 0
        self.sock = socket.socket()
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)
        self.address = self.sock.getsockname()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn:
            try:
                if self.mode == "echo":
                    while data := conn.recv(1 << 16):
                        conn.sendall(data)
                else:
                    block = bytes(range(256)) * 256
                    left = self.size
                    while left > 0:
                        n = conn.send(block[: min(len(block), left)])
                        self.sent += n
                        left -= n
            except OSError:
                pass

    def close(self) -> None:
        self.sock.close()
