"""A reverse proxy in front of a real registry that injects faults into chosen requests.

This is a test double for the fault only: every request it lets through is answered by the real
registry behind it. ``rules`` maps a predicate on (method, path) to a fault, applied to the next
``times`` matching requests:

  ("status", 503)       answer with that status instead of forwarding (with an OCI error body
                        whose message is "injected fault")
  ("corrupt", None)     forward, but flip a byte of the response body
  ("truncate", n)       forward, but send only the first n body bytes, then close
  ("reset", n)          forward, send n body bytes, then reset the connection
  ("stall", n)          a GET or HEAD: forward, send n body bytes, then fall silent (the
                        connection stays open until the proxy stops); any other request: read
                        its body, then never answer
  ("hold", None)        keep the request (``holding`` is set) until ``let_go()`` or the proxy
                        stops, then forward it: a request in flight for as long as a test wants
"""

from __future__ import annotations

import http.client
import socket
import struct
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from .net import free_port


@dataclass
class Rule:
    matches: Callable[[str, str], bool]
    fault: str
    arg: int | None = None
    times: int = 1


@dataclass
class FaultyProxy:
    upstream: str
    rules: list[Rule] = field(default_factory=list)
    seen: list[tuple[str, str, int]] = field(default_factory=list)
    host: str = ""
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _released: threading.Event = field(default_factory=threading.Event)
    holding: threading.Event = field(default_factory=threading.Event)
    _let_go: threading.Event = field(default_factory=threading.Event)

    def let_go(self) -> None:
        """Forward the requests a "hold" rule keeps, and every later one."""
        self._let_go.set()

    def add(self, matches: Callable[[str, str], bool], fault: str, arg: int | None = None, *, times: int = 1) -> None:
        with self._lock:
            self.rules.append(Rule(matches, fault, arg, times))

    def take_rule(self, method: str, path: str) -> Rule | None:
        with self._lock:
            for rule in self.rules:
                if rule.times > 0 and rule.matches(method, path):
                    rule.times -= 1
                    return rule
        return None

    def start(self) -> FaultyProxy:
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def _forward(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else None
                if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
                    body = self._read_chunked()
                rule = proxy.take_rule(self.command, self.path)
                if rule and rule.fault == "hold":
                    proxy.holding.set()
                    while not proxy._let_go.wait(0.05) and not proxy._released.is_set():
                        pass
                if rule and rule.fault == "stall" and self.command not in ("GET", "HEAD"):
                    proxy.seen.append((self.command, self.path, 0))
                    proxy._released.wait(300)
                    self.close_connection = True
                    return
                if rule and rule.fault == "status":
                    explanation = b'{"errors":[{"code":"UNAVAILABLE","message":"injected fault"}]}'
                    self.send_response(rule.arg or 503)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(explanation)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(explanation)
                    proxy.seen.append((self.command, self.path, rule.arg or 503))
                    return
                host, port = proxy.upstream.rsplit(":", 1)
                conn = http.client.HTTPConnection(host, int(port), timeout=60)
                hop = ("host", "transfer-encoding", "content-length")
                headers = {k: v for k, v in self.headers.items() if k.lower() not in hop}
                if body is not None:
                    headers["Content-Length"] = str(len(body))
                conn.request(self.command, self.path, body=body, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                conn.close()
                proxy.seen.append((self.command, self.path, resp.status))
                if rule and rule.fault == "corrupt" and data:
                    data = bytes([data[0] ^ 0xFF]) + data[1:]
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() in ("content-length", "transfer-encoding", "connection"):
                        continue
                    if k.lower() == "location":
                        v = v.replace(proxy.upstream, proxy.host)
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command == "HEAD":
                    return
                if rule and rule.fault == "stall":
                    self.wfile.write(data[: rule.arg or 0])
                    self.wfile.flush()
                    proxy._released.wait(300)
                    self.close_connection = True
                    return
                if rule and rule.fault in ("truncate", "reset"):
                    self.wfile.write(data[: rule.arg or 0])
                    self.wfile.flush()
                    if rule.fault == "reset":
                        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR) if rule.fault == "truncate" else None
                    return
                self.wfile.write(data)

            def _read_chunked(self) -> bytes:
                out = b""
                while True:
                    size = int(self.rfile.readline().strip(), 16)
                    if size == 0:
                        self.rfile.readline()
                        return out
                    out += self.rfile.read(size)
                    self.rfile.readline()

            do_GET = do_HEAD = do_PUT = do_POST = do_PATCH = do_DELETE = _forward

        port = free_port()
        self._server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self._server.daemon_threads = True
        self.host = f"127.0.0.1:{port}"
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        self._released.set()
        if self._server:
            self._server.shutdown()
            self._server.server_close()
