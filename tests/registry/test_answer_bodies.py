"""The bodies of answers the client reads but does not stream (an error's explanation, the reply to
a PUT, a redirect's, a token service's) are read within a size and a time (oci/bodies.py): a
registry that drips one, or sends one without end, neither holds a call past its read timeout nor
fills the memory. Each test feeds one such answer from a server on loopback; each hung or read
everything before bodies were bounded."""

from __future__ import annotations

import socket
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass

import pytest

import kubectl_oras.oci.bodies as bodies
from kubectl_oras.oci.client import RegistryClient, Timeouts
from kubectl_oras.oci.errors import DeadlineExceeded, NotFound, RegistryError, RegistryUnreachable
from kubectl_oras.oci.manifest import MANIFEST_MEDIA_TYPE as MANIFEST
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


@dataclass
class AsIs:
    """A body sent byte for byte as the iterator gives it, chunk framing included (for the tricks)."""
    parts: Iterator[bytes]


class Server:
    """Answers each request by ``script(first_line, host) -> (head, body)``: a body of chunks is sent
    as they come (framed as chunks when the head says so); counts the bytes of such bodies sent."""

    def __init__(self, script: Callable[[str, str], tuple[str, Iterator[bytes] | AsIs | bytes]]) -> None:
        self.script = script
        self.sent = 0
        self.connections = 0
        self._serving = serve_on_loopback(self._handle)
        self.host = next(self._serving)

    def _handle(self, conn: socket.socket, stop: threading.Event) -> None:
        self.connections += 1
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
                if isinstance(body, AsIs):
                    for part in body.parts:
                        conn.sendall(part)
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

    def start(script: Callable[[str, str], tuple[str, Iterator[bytes] | AsIs | bytes]]) -> Server:
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
    def script(line: str, host: str) -> tuple[str, Iterator[bytes] | AsIs | bytes]:
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
    def script(line: str, host: str) -> tuple[str, Iterator[bytes] | AsIs | bytes]:
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


# -- a second review: reads that go on receiving without end, HEADs, a chain of redirects

def trailers() -> Iterator[bytes]:
    """A chunked body that ends, then trailer lines without end (http.client reads them all)."""
    yield b"2\r\n{}\r\n0\r\n"
    while True:
        time.sleep(0.2)
        yield b"X-More: y\r\n"


def chunk_extension() -> Iterator[bytes]:
    """A chunk-size line whose extension drips (the line may be 64 KiB long)."""
    yield b"1;"
    while True:
        time.sleep(0.2)
        yield b"a"


def empty_gzip_blocks() -> Iterator[bytes]:
    """gzip blocks that inflate to nothing, sent as chunks (urllib3's read1 reads on until it has
    something to give)."""
    squeeze = zlib.compressobj(6, zlib.DEFLATED, 31)
    header = squeeze.compress(b"") + squeeze.flush(zlib.Z_SYNC_FLUSH)
    yield b"%x\r\n%s\r\n" % (len(header), header)
    while True:
        time.sleep(0.2)
        block = squeeze.flush(zlib.Z_SYNC_FLUSH) or b"\x00\x00\x00\xff\xff"
        yield b"%x\r\n%s\r\n" % (len(block), block)


TRICKS = {"trailers": trailers, "chunk-extension": chunk_extension, "empty-gzip-blocks": empty_gzip_blocks}


def tricked(status: str, trick: str, more: str = "") -> tuple[str, AsIs]:
    gzip = "Content-Encoding: gzip\n" if trick == "empty-gzip-blocks" else ""
    return f"HTTP/1.1 {status}\n{CHUNKED}{gzip}{more}", AsIs(TRICKS[trick]())


@pytest.mark.timeout(60)
@pytest.mark.parametrize("trick", list(TRICKS))
@pytest.mark.parametrize("status", ["201 Created", "500 Oops"], ids=["reply", "explanation"])
def test_a_body_that_keeps_coming_without_giving_a_byte_is_cut_off_in_time(serve, trick, status):
    """A read of such a body never returns by itself, and a socket timeout never rings: the
    connection is shut from outside it at its time."""
    server = serve(lambda line, host: tricked(status, trick))
    started = time.monotonic()
    try:
        assert client(server).put_manifest("a", "1", b"{}").status_code == 201
    except RegistryError as e:
        assert status == "500 Oops" and "registry answered 500" in str(e)
    assert time.monotonic() - started < 10  # the 1 s read timeout


@pytest.mark.timeout(60)
@pytest.mark.parametrize("trick", list(TRICKS))
def test_a_manifest_that_keeps_coming_without_giving_a_byte_is_given_up_on_at_its_limit(serve, trick, monkeypatch):
    import kubectl_oras.oci.client as client_module

    monkeypatch.setattr(client_module, "SMALL_ANSWER_SECONDS", 1.5)
    server = serve(lambda line, host: tricked("200 OK", trick, f"Content-Type: {MANIFEST}\n"))
    started = time.monotonic()
    with pytest.raises(RegistryUnreachable, match="read a:1: the registry took over 1.5 s to send"):
        client(server, read=30).fetch_manifest("a", "1", what="read a:1")
    assert time.monotonic() - started < 10  # not the 30 s read timeout, nor for ever


def test_a_head_says_the_size_of_what_a_get_would_send_and_keeps_its_connection(serve):
    """A HEAD's Content-Length is the blob's size, not a body to come: its connection serves the next."""
    server = serve(lambda line, host: ("HTTP/1.1 200 OK\nContent-Length: 104857600\n", b""))
    checks = client(server)
    assert all(checks.blob_exists("a", "sha256:" + "0" * 64) for _ in range(5))
    assert server.connections == 1


@pytest.mark.timeout(60)
def test_a_chain_of_dripping_redirects_is_not_followed_past_the_deadline(serve):
    def script(line: str, host: str) -> tuple[str, Iterator[bytes] | AsIs | bytes]:
        hop = int(line.split("hop=")[1].split()[0]) if "hop=" in line else 0
        return f"HTTP/1.1 307 Go\nLocation: /v2/a/manifests/1?hop={hop + 1}\n{CHUNKED}", drip()

    server = serve(script)
    chained = RegistryClient(server.host, plain_http=True, timeouts=Timeouts(read=2, total=3), retries=0,
                             docker_config=False)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="delete a:1: not done within the 3 s"):
        chained.delete_manifest("a", "1")
    assert time.monotonic() - started < 6  # 3 s, not 30 redirects of 2 s each


def test_a_token_answer_said_to_be_too_big_is_refused_as_such(serve):
    def script(line: str, host: str) -> tuple[str, Iterator[bytes] | AsIs | bytes]:
        if "/token" in line:
            return "HTTP/1.1 200 OK\nContent-Length: 2000000000\n", b"{"
        return f'HTTP/1.1 401 No\nWWW-Authenticate: Bearer realm="http://{host}/token"\nContent-Length: 0\n', b""

    server = serve(script)
    with pytest.raises(RegistryUnreachable, match="/token .* sent over 1024 KiB; giving up"):
        client(server).list_tags("a")


@pytest.mark.timeout(60)
def test_a_probe_redirected_to_a_dripping_body_answers_within_its_limit(serve):
    server = serve(lambda line, host: (f"HTTP/1.1 302 Found\nLocation: /elsewhere\n{CHUNKED}", drip()))
    started = time.monotonic()
    client(server, read=30).probe(limit=2)
    assert time.monotonic() - started < 6  # the probe's 2 s, not the read timeout


@pytest.mark.timeout(60)
def test_a_token_service_redirecting_past_the_deadline_ends_the_call_at_it(serve):
    def script(line: str, host: str) -> tuple[str, Iterator[bytes] | AsIs | bytes]:
        if "/token" in line:
            return f"HTTP/1.1 307 Go\nLocation: /token-{time.monotonic()}\n{CHUNKED}", drip()
        return f'HTTP/1.1 401 No\nWWW-Authenticate: Bearer realm="http://{host}/token"\nContent-Length: 0\n', b""

    server = serve(script)
    short = RegistryClient(server.host, plain_http=True, timeouts=Timeouts(read=5, total=1.5), retries=0,
                           docker_config=False)
    started = time.monotonic()
    with pytest.raises(DeadlineExceeded, match="list tags of .*/a: not done within the 1.5 s"):
        short.list_tags("a")
    assert time.monotonic() - started < 6


def test_a_probe_answered_with_a_redirect_after_the_deadline_says_the_registry_is_up(serve):
    server = serve(lambda line, host: ("HTTP/1.1 302 Found\nLocation: /elsewhere\nContent-Length: 0\n", b""))
    late = RegistryClient(server.host, plain_http=True, timeouts=Timeouts(total=0.2), retries=0, docker_config=False)
    time.sleep(0.3)
    assert late.probe(limit=2).up


def idle_in_pool(checks: RegistryClient, host: str) -> int:
    """Connections to ``host`` waiting in the client's pools for a request."""
    adapter = checks.transport.session.get_adapter(f"http://{host}/")
    pools = [pool for pool in adapter.poolmanager.pools._container.values() if f"{pool.host}:{pool.port}" == host]
    assert pools, "no pool for the host"
    return sum(1 for pool in pools for conn in list(pool.pool.queue) if conn is not None)


def test_a_watched_connection_goes_back_to_its_pool_only_once_its_watch_is_let_off(serve, monkeypatch):
    """urllib3 gives a connection back inside the read that ends its body: were the watchdog to
    ring between that read and its letting off, it would cut another thread's request."""
    server = serve(lambda line, host: ("HTTP/1.1 201 Created\nContent-Length: 2\n", b"{}"))
    checks = client(server)
    idle_when_let_off = []
    real = bodies._WATCHDOG.disarm

    def disarm(watch):
        idle_when_let_off.append(idle_in_pool(checks, server.host))
        real(watch)

    monkeypatch.setattr(bodies._WATCHDOG, "disarm", disarm)
    for _ in range(3):
        assert checks.put_manifest("a", "1", b"{}").status_code == 201
    assert idle_when_let_off == [0, 0, 0]  # still ours while watched
    assert idle_in_pool(checks, server.host) == 1 and server.connections == 1  # then given back, and used again

