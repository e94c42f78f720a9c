"""A small HTTP/1.1 server on loopback that keeps its connections alive and answers each GET from a
script: for the tests of what the client does with the connections it keeps, where a registry
cannot be made to misbehave (a 401 whose body never comes, a proxy, a redirect to storage)."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class Answer:
    status: int
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b""
    chunked: bool = False  # the body in one chunk and the last, no Content-Length
    stall: float = 0.0  # seconds the body is held back after the headers (Content-Length still said)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # connections stay open between requests
    server: ScriptedServer

    def log_message(self, *args: object) -> None:
        return None

    def setup(self) -> None:
        super().setup()
        with self.server.lock:
            self.server.open += 1

    def finish(self) -> None:
        with self.server.lock:
            self.server.open -= 1
        super().finish()

    def do_GET(self) -> None:
        self.server.seen.append((self.path, self.headers.get("Authorization")))
        answer = self.server.script(self.path, self.headers.get("Authorization"))
        self.send_response(answer.status)
        for name, value in answer.headers.items():
            self.send_header(name, value)
        if answer.chunked:
            self.send_header("Transfer-Encoding", "chunked")
        else:
            self.send_header("Content-Length", str(len(answer.body)))
        self.end_headers()
        self.wfile.flush()
        if answer.stall:
            time.sleep(answer.stall)
        if answer.chunked:
            self.wfile.write(b"%x\r\n%s\r\n0\r\n\r\n" % (len(answer.body), answer.body))
        else:
            self.wfile.write(answer.body)


class ScriptedServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, script: Callable[[str, str | None], Answer]) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.script = script
        self.seen: list[tuple[str, str | None]] = []  # (target, Authorization) of each request
        self.open = 0  # connections the clients have not closed yet
        self.lock = threading.Lock()
        self.host = f"127.0.0.1:{self.server_address[1]}"
        threading.Thread(target=self.serve_forever, daemon=True).start()

    def handle_error(self, request: object, client_address: object) -> None:
        return None  # a client that gave up on an answer is what some tests feed

    def close(self) -> None:
        self.shutdown()
        self.server_close()
