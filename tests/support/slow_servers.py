"""Registries that accept connections and then misbehave in time: silent, or dripping a byte at a
time. Test doubles for those faults only; 127.0.0.1 only."""

from __future__ import annotations

import socket
import threading
from collections.abc import Callable, Iterator

import pytest


def serve_on_loopback(handle: Callable[[socket.socket, threading.Event], None]) -> Iterator[str]:
    """A server on 127.0.0.1 that gives every connection to ``handle`` in a thread; yields HOST:PORT."""
    server = socket.create_server(("127.0.0.1", 0))
    stop = threading.Event()
    held: list[socket.socket] = []

    def accept() -> None:
        server.settimeout(0.2)
        while not stop.is_set():
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            held.append(conn)
            threading.Thread(target=handle, args=(conn, stop), daemon=True).start()

    threading.Thread(target=accept, daemon=True).start()
    yield f"127.0.0.1:{server.getsockname()[1]}"
    stop.set()
    server.close()
    for conn in held:
        conn.close()


@pytest.fixture
def silent_registry():
    """Accepts every connection, reads what it is sent, answers nothing."""
    yield from serve_on_loopback(lambda conn, stop: None)


@pytest.fixture
def dripping_registry():
    """Answers every request with headers promising a big body, then sends it a byte at a time,
    one every half second: no read ever times out."""

    def drip(conn: socket.socket, stop: threading.Event) -> None:
        try:
            conn.recv(65536)
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n{")
            while not stop.wait(0.5):
                conn.sendall(b" ")
        except OSError:
            return

    yield from serve_on_loopback(drip)
