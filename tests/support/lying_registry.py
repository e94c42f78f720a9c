"""A fake registry on 127.0.0.1 that answers chosen requests with bodies that lie.

A test double for the fault only: it knows nothing of the registry API beyond the answers a test
gives it. ``answer(path, Answer(...))`` sets what a GET or HEAD of ``path`` gets (the path with
its query, or without it); every other request is a 404 with an OCI error body. A body may be
bytes (sent with a Content-Length) or a function giving chunks (sent chunked, for answers that
never end); ``sent`` counts the body bytes written per path, so a test can tell how much of an
answer the client read before it hung up.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .net import free_port


@dataclass
class Answer:
    body: bytes | Callable[[], Iterator[bytes]] = b""
    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)


@dataclass
class LyingRegistry:
    routes: dict[str, Answer] = field(default_factory=dict)
    seen: list[tuple[str, str]] = field(default_factory=list)
    sent: dict[str, int] = field(default_factory=dict)
    host: str = ""
    _server: ThreadingHTTPServer | None = None

    def answer(self, path: str, answer: Answer) -> None:
        self.routes[path] = answer

    def url(self, path: str) -> str:
        return f"http://{self.host}{path}"

    def start(self) -> LyingRegistry:
        fake = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _answer(self) -> None:
                fake.seen.append((self.command, self.path))
                answer = fake.routes.get(self.path) or fake.routes.get(self.path.split("?", 1)[0])
                if answer is None:
                    answer = Answer(json.dumps({"errors": [{"code": "NAME_UNKNOWN", "message": "no such thing"}]}).encode(),
                                    status=404, headers={"Content-Type": "application/json"})
                self.send_response(answer.status)
                for key, value in answer.headers.items():
                    self.send_header(key, value)
                streamed = callable(answer.body)
                if streamed:
                    self.send_header("Transfer-Encoding", "chunked")
                else:
                    assert isinstance(answer.body, bytes)
                    self.send_header("Content-Length", str(len(answer.body)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                path = self.path
                try:
                    if isinstance(answer.body, bytes):
                        self.wfile.write(answer.body)
                        fake.sent[path] = fake.sent.get(path, 0) + len(answer.body)
                        return
                    for chunk in answer.body():
                        self.wfile.write(f"{len(chunk):x}\r\n".encode() + chunk + b"\r\n")
                        fake.sent[path] = fake.sent.get(path, 0) + len(chunk)
                    self.wfile.write(b"0\r\n\r\n")
                except (BrokenPipeError, ConnectionResetError):
                    self.close_connection = True  # the client hung up: what it read is in ``sent``

            do_GET = do_HEAD = _answer

        port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.host = f"127.0.0.1:{port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server:
            self._server.shutdown()
            self._server.server_close()
