"""The bodies of answers the client reads but does not stream (an error's explanation, the reply to
a PUT, a redirect's, a token service's) are read within a size and a time (oci/bodies.py): a
registry that drips one, or sends one without end, neither holds a call past its read timeout nor
fills the memory. Each test feeds one such answer from a server on loopback; each hung or read
everything before bodies were bounded."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from kubectl_oras.oci.client import RegistryClient, Timeouts
from kubectl_oras.oci.errors import NotFound, RegistryError, RegistryUnreachable
from tests.support.slow_servers import serve_on_loopback

BIG = 256 << 20  # a body the client must not read whole: before, it did


def drip(every: float = 0.2) -> Iterator[bytes]:
    while True:
        time.sleep(every)
        yield b" "


def big() -> Iterator[bytes]:
    block = b"y" * (1 << 20)
    for _ in range(BIG >> 20):
        yield block


class Server:
    """Answers each request by ``script(first_line, host) -> (head, body)``: a body of chunks is sent
    as they come (framed as chunks when the head says so); counts the bytes of such bodies sent."""

    def __init__(self, script: Callable[[str, str], tuple[str, Iterator[bytes] | bytes]]) -> None:
        self.script = script
        self.sent = 0
        self._serving = serve_on_loopback(self._handle)
        self.host = next(self._serving)

    def _handle(self, conn: socket.socket, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                data = b""
                while b"\r\n\r\n" not in data:
                    got = conn.recv(65536)
                    if not got:
                        return
                    data += got
                head, _, rest = data.partition(b"\r\n\r\n")
                length = next((int(line.split(b":")[1]) for line in head.split(b"\r\n")
                               if line.lower().startswith(b"content-length:")), 0)
                while len(rest) < length:
                    rest += conn.recv(65536)
                status_and_headers, body = self.script(head.split(b"\r\n")[0].decode(), self.host)
                conn.sendall(status_and_headers.encode().replace(b"\n", b"\r\n") + b"\r\n")
                if isinstance(body, bytes):
                    conn.sendall(body)
                    continue
                chunked = "chunked" in status_and_headers
                for chunk in body:
                    conn.sendall(b"%x\r\n%s\r\n" % (len(chunk), chunk) if chunked else chunk)
                    self.sent += len(chunk)
                conn.sendall(b"0\r\n\r\n" if chunked else b"")
        except OSError:
            return

    def close(self) -> None:
        next(self._serving, None)


@pytest.fixture
def serve():
    servers: list[Server] = []

    def start(script: Callable[[str, str], tuple[str, Iterator[bytes] | bytes]]) -> Server:
        servers.append(Server(script))
        return servers[-1]

    yield start
    for server in servers:
        server.close()


def client(server: Server, *, read: float = 1.0) -> RegistryClient:
    return RegistryClient(server.host, plain_http=True, timeouts=Timeouts(read=read), retries=0,
                          docker_config=False)


CHUNKED = "Transfer-Encoding: chunked\n"


@pytest.mark.timeout(60)
@pytest.mark.parametrize("status, error", [(404, NotFound), (500, RegistryError)])
@pytest.mark.parametrize("framing", ["Content-Length: 1000\n", CHUNKED], ids=["length", "chunked"])
def test_an_error_whose_explanation_drips_is_raised_within_the_read_timeout(serve, status, error, framing):
    server = serve(lambda line, host: (f"HTTP/1.1 {status} Oops\nContent-Type: application/json\n{framing}",
                                       drip()))
    started = time.monotonic()
    with pytest.raises(error, match=f"read a:1: .*{status}|read a:1: not found"):
        client(server).fetch_manifest("a", "1", what="read a:1")
    assert time.monotonic() - started < 10  # the 1 s read timeout, not a wait for a body without end


@pytest.mark.timeout(60)
def test_a_reply_to_a_put_that_drips_is_left_and_the_put_stands(serve):
    server = serve(lambda line, host: (f"HTTP/1.1 201 Created\n{CHUNKED}", drip()))
    started = time.monotonic()
    assert client(server).put_manifest("a", "1", b"{}").status_code == 201
    assert time.monotonic() - started < 10


@pytest.mark.timeout(120)
def test_an_endless_error_to_a_put_is_not_read_whole(serve):
    server = serve(lambda line, host: (f"HTTP/1.1 500 Oops\n{CHUNKED}", big()))
    with pytest.raises(RegistryError, match="push manifest a:1: registry answered 500"):
        client(server).put_manifest("a", "1", b"{}")
    time.sleep(0.5)  # what the server still had in flight
    assert server.sent < BIG // 4, server.sent  # socket buffers' worth, not the 256 MiB


@pytest.mark.timeout(120)
def test_a_redirect_with_an_endless_body_is_followed_without_reading_it_whole(serve):
    def script(line: str, host: str) -> tuple[str, Iterator[bytes] | bytes]:
        if "/storage/" in line:
            return "HTTP/1.1 200 OK\nContent-Length: 4\n", b"blob"
        return f"HTTP/1.1 307 Temporary Redirect\nLocation: http://{host}/storage/x\n{CHUNKED}", big()

    server = serve(script)
    answer = client(server).open_blob("a", "sha256:" + "0" * 64, what="pull a blob")
    assert (answer.status_code, answer.raw.read()) == (200, b"blob")
    time.sleep(0.5)
    assert server.sent < BIG // 4, server.sent


@pytest.mark.timeout(120)
@pytest.mark.parametrize("body, why", [(drip, "did not send its answer within 1 s"), (big, "sent over 1024 KiB")],
                         ids=["drips", "endless"])
def test_a_token_service_whose_answer_drips_or_has_no_end_is_given_up_on_naming_it(serve, body, why):
    def script(line: str, host: str) -> tuple[str, Iterator[bytes] | bytes]:
        if "/token" in line:
            return f"HTTP/1.1 200 OK\nContent-Type: application/json\n{CHUNKED}", body()
        return (f'HTTP/1.1 401 Unauthorized\nWWW-Authenticate: Bearer realm="http://{host}/token",service="r"\n'
                "Content-Length: 0\n"), b""

    server = serve(script)
    started = time.monotonic()
    with pytest.raises(RegistryUnreachable, match=f"list tags of {server.host}/a: the token service http://{server.host}/token "
                                                  rf"\(for registry .*\) {why}; giving up"):
        client(server).list_tags("a")
    assert time.monotonic() - started < 10
