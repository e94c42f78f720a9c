"""A session keeps its connections to a registry between calls (transfers/session.py), and must
not let that keeping go wrong: a forked process must not read answers meant for its parent or
siblings on a socket they share, credentials from a docker login are read for each call (a login
renewed mid-run counts on the next call), and a connection the network dropped silently while
it sat idle is not used again (the call would wait a whole read timeout for an answer that never
comes), nor is one a burst of threads left idle while single calls went on. Threads beyond the
connections kept say nothing; a docker config of an odd shape is the same as none. Each is fed
here against a real registry with auth on. What a registry cannot be made to do (a refusal whose
body never comes, a proxy, a redirect to storage) a scripted server does."""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import signal
import socket
import threading
import time

import pytest
import urllib3

import kubectl_oras
import kubectl_oras.oci.bodies as bodies
import kubectl_oras.oci.transport as transport
import kubectl_oras.transfers.session as session_module
from kubectl_oras.oci.client import Credentials, RegistryClient, Timeouts
from kubectl_oras.oci.errors import AuthenticationFailed
from tests.support.net import free_port
from tests.support.registries import SECURED_PASSWORD, SECURED_USER
from tests.support.scripted_http import Answer, ScriptedServer

USER, PASSWORD = SECURED_USER, SECURED_PASSWORD


def pushed_tags(oras, tmp_path, count: int) -> dict[str, str]:
    """``count`` tags of one repository, each a different file: tag -> manifest digest."""
    digests = {}
    for i in range(count):
        path = tmp_path / f"f{i}.txt"
        path.write_text(f"content {i}\n" * (i + 1))
        digests[str(i)] = oras.push(f"forked/x:{i}", [str(path)]).digest
    return digests


def test_forked_processes_never_read_each_others_answers(secured, tmp_path):
    with kubectl_oras.session(registry=secured.host, plain_http=True, username=USER, password=PASSWORD) as oras:
        digests = pushed_tags(oras, tmp_path, 6)  # the session now holds an open connection
        children = []
        for child in range(6):
            pid = os.fork()
            if pid == 0:  # the child: 30 reads on the session it inherited
                wrong = 0
                try:
                    for k in range(30):
                        tag = str((child + k) % 6)
                        wrong += oras.artifact(f"forked/x:{tag}").digest != digests[tag]
                except BaseException:
                    os._exit(2)
                os._exit(1 if wrong else 0)
            children.append(pid)
        codes = [os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1]) for pid in children]
        assert codes == [0] * 6, codes  # 1: a wrong answer, 2: an error
        assert all(oras.artifact(f"forked/x:{tag}").digest == digest for tag, digest in digests.items())


def docker_config_only(home, monkeypatch):
    """No credentials in the environment, and a docker config (its path returned) in ``home``."""
    monkeypatch.setenv("HOME", str(home))
    for name in ("ORAS_USER", "ORAS_PASS", "ORAS_PUSH_PASS", "ORAS_PULL_PASS"):
        monkeypatch.delenv(name, raising=False)
    config = home / ".docker" / "config.json"
    config.parent.mkdir()
    return config


def test_a_docker_login_renewed_mid_session_counts_on_the_next_call(secured, tmp_path, monkeypatch):
    config = docker_config_only(tmp_path, monkeypatch)

    def login(password: str) -> None:
        auth = base64.b64encode(f"{USER}:{password}".encode()).decode()
        config.write_text(json.dumps({"auths": {secured.host: {"auth": auth}}}))

    (tmp_path / "f.txt").write_text("result")
    login(PASSWORD)
    with kubectl_oras.session(registry=secured.host, plain_http=True) as oras:
        oras.push("renewed/x:1", [str(tmp_path / "f.txt")])
        login("a-password-changed-since")
        with pytest.raises(AuthenticationFailed):
            oras.tags("renewed/x")
        login(PASSWORD)  # what a cron job renewing a short-lived login does
        assert oras.tags("renewed/x") == ["1"]


class ForgetfulRelay:
    """A TCP relay to the registry that forgets a connection idle for more than ``forget_after``
    seconds, as a NAT or a load balancer does: what comes on it afterwards is swallowed, and
    nothing (no FIN, no RST) tells the client. ``delay``: seconds each request waits before it is
    passed on (requests overlap as on a slow link)."""

    def __init__(self, target: str, *, forget_after: float, delay: float = 0.0) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.forget_after = forget_after
        self.delay = delay
        self.held, self.holding, self.drop_held = 0, 0, False
        self.all_held = threading.Event()
        self.all_held.set()
        self.listener = socket.create_server(("127.0.0.1", free_port()))
        self.host = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.opened = 0
        self.swallowed = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                self.opened += 1
            upstream = socket.create_connection(self.target)
            last = [time.monotonic()]  # the connection's last traffic, either way
            threading.Thread(target=self._pump, args=(client, upstream, last, True), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, last, False), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, last: list[float], asking: bool) -> None:
        forgotten = False
        try:
            while data := source.recv(65536):
                if asking:
                    forgotten = forgotten or time.monotonic() - last[0] > self.forget_after
                    if forgotten:
                        with self.lock:
                            self.swallowed += 1
                        continue
                    if not self.all_held.is_set():
                        with self.lock:
                            self.held += 1
                            if self.held >= self.holding:
                                self.all_held.set()
                        self.all_held.wait(30)
                        if self.drop_held:  # the connection breaks with the request unanswered
                            source.close()
                            sink.close()
                            return
                    time.sleep(self.delay)
                last[0] = time.monotonic()
                sink.sendall(data)
        except OSError:
            pass

    def hold(self, count: int, *, drop: bool = False) -> None:
        """The next ``count`` requests wait (up to 30 s) until all of them came: that many are in
        flight at once, each on a connection of its own, however fast or slow the machine is.
        ``drop``: then their connections break, unanswered."""
        with self.lock:
            self.held, self.holding, self.drop_held = 0, count, drop
            self.all_held.clear()

    def close(self) -> None:
        self.listener.close()


@pytest.fixture
def quick_idle(monkeypatch):
    """Connections unused for half a second are not used again (a minute, outside the tests)."""
    monkeypatch.setattr(transport, "IDLE_CONNECTION", 0.5)


def test_a_connection_dropped_silently_while_idle_is_not_used_again(secured, tmp_path, quick_idle):
    relay = ForgetfulRelay(secured.host, forget_after=1.0)
    try:
        (tmp_path / "f.txt").write_text("result")
        with kubectl_oras.session(registry=relay.host, plain_http=True, username=USER, password=PASSWORD) as oras:
            oras.push("idle/x:1", [str(tmp_path / "f.txt")])
            time.sleep(1.2)  # the session's connections sit idle; the network forgets them
            assert oras.artifact("idle/x:1").tag == "1"
        assert relay.swallowed == 0  # nothing was sent on a forgotten connection (it would wait 30 s)
    finally:
        relay.close()


def test_connections_left_idle_by_a_burst_are_not_used_in_the_next_one(secured, tmp_path, quick_idle):
    """An inventory's burst, then one file after another (one connection busy, the rest idle), then
    another burst: the connections the calls between left idle are not used again."""
    relay = ForgetfulRelay(secured.host, forget_after=1.0, delay=0.02)
    try:
        with kubectl_oras.session(registry=relay.host, plain_http=True, username=USER, password=PASSWORD) as oras:
            pushed_tags(oras, tmp_path, 4)

            def burst() -> None:
                threads = [threading.Thread(target=oras.artifact, args=(f"forked/x:{i % 4}",)) for i in range(8)]
                for thread in threads:
                    thread.start()
                for thread in threads:
                    thread.join(20)

            burst()
            for i in range(6):
                oras.artifact(f"forked/x:{i % 4}")
                time.sleep(0.3)
            burst()
        assert relay.swallowed == 0
    finally:
        relay.close()


@pytest.mark.parametrize("broken", [False, True], ids=["answered", "connections-broken"])
def test_threads_beyond_the_kept_connections_say_nothing(secured, tmp_path, caplog, broken):
    """More threads at once than the session keeps connections: those beyond are closed quietly,
    also when their requests failed (urllib3 puts back an empty place then) and were tried again."""
    beyond = session_module.KEPT_POOL + 8
    relay = ForgetfulRelay(secured.host, forget_after=60)
    try:
        with kubectl_oras.session(registry=relay.host, plain_http=True, username=USER, password=PASSWORD) as oras:
            repository = f"beyond-{int(broken)}/x"
            (tmp_path / "f.txt").write_text("result")
            oras.push(f"{repository}:0", [str(tmp_path / "f.txt")])
            opened_before = relay.opened
            relay.hold(beyond, drop=broken)  # each thread's request waits until every thread's came
            answers: list[list[str]] = []
            threads = [threading.Thread(target=lambda: answers.append(oras.tags(repository))) for _ in range(beyond)]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join(60)
        assert relay.held == beyond  # so many at once, more than the session keeps
        assert relay.opened - opened_before >= beyond - session_module.KEPT_POOL
        assert answers == [["0"]] * beyond  # every thread had its answer
        assert not [r for r in caplog.records if r.levelname == "WARNING"], caplog.text
    finally:
        relay.close()


def test_a_docker_config_of_another_shape_is_the_same_as_none(secured, tmp_path, monkeypatch):
    config = docker_config_only(tmp_path, monkeypatch)
    for shape in ({"auths": {secured.host: "oops"}}, {"auths": {secured.host: {"auth": 5}}}, {"auths": []}, []):
        config.write_text(json.dumps(shape))
        with kubectl_oras.session(registry=secured.host, plain_http=True) as oras:
            with pytest.raises(AuthenticationFailed, match="set ORAS_USER and ORAS_PASS"):
                oras.tags("forked/x")


# -- a third review: a refusal that does not come, proxies, redirects, forks, renewed credentials

TAGS = Answer(200, {"Content-Type": "application/json"}, b'{"name": "x", "tags": ["1"]}')
REFUSAL = Answer(401, {"WWW-Authenticate": 'Basic realm="test"', "Content-Type": "application/json"},
                 b'{"errors": [{"code": "UNAUTHORIZED", "message": "authentication required"}]}')


def seconds_to_list_asked_for_credentials(refusal: Answer, *, read: float) -> float:
    """Seconds a client with credentials takes to list a repository on a server that answers its
    first request with ``refusal``, the request with credentials with the tags."""
    server = ScriptedServer(lambda path, authorization: TAGS if authorization else refusal)
    try:
        client = RegistryClient(server.host, plain_http=True, credentials=Credentials("u", "p"),
                                timeouts=Timeouts(read=read), docker_config=False)
        started = time.monotonic()
        assert client.list_tags("x") == ["1"]
        took = time.monotonic() - started
        client.close()
    finally:
        server.close()
    return took


@pytest.mark.parametrize("refusal, connections", [
    (dataclasses.replace(REFUSAL, chunked=True), 1),  # read to its end: its connection serves
    (dataclasses.replace(REFUSAL, stall=20), 2),  # its body does not come: left, and closed
], ids=["chunked", "stalled"])
def test_a_refusal_is_read_to_its_end_only_when_it_comes_at_once(connects, refusal, connections):
    took = seconds_to_list_asked_for_credentials(refusal, read=20)
    assert len(connects) == connections, connects
    assert took < 10  # a hang check: not the 20 s read timeout a body that never comes would cost


def through_proxy(monkeypatch, proxy: str) -> None:
    """Every plain-HTTP request goes through ``proxy``."""
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.setenv(name, proxy)
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)


def test_a_connection_through_a_proxy_is_not_used_again_after_sitting_idle(monkeypatch, quick_idle):
    """requests makes a pool manager of its own for a proxy: its pools check idleness too."""
    proxy = ScriptedServer(lambda path, authorization: TAGS)
    relay = ForgetfulRelay(proxy.host, forget_after=1.0)  # a NAT between the client and its proxy
    try:
        through_proxy(monkeypatch, f"http://{relay.host}")
        client = RegistryClient("registry.example:5000", plain_http=True, docker_config=False, retries=0,
                                timeouts=Timeouts(read=5))
        assert client.list_tags("x") == ["1"]
        time.sleep(1.2)  # the NAT forgets the connection
        assert client.list_tags("x") == ["1"]
        client.close()
        assert relay.swallowed == 0
        assert [target for target, _ in proxy.seen] == ["http://registry.example:5000/v2/x/tags/list?n=1000"] * 2
    finally:
        relay.close()
        proxy.close()


def test_a_blob_redirected_to_storage_leaves_the_registrys_connection_kept(connects, monkeypatch):
    for name in ("HTTP_PROXY", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    storage = ScriptedServer(lambda path, authorization: Answer(200, {}, b"from storage"))
    registry = ScriptedServer(lambda path, authorization: TAGS if "/tags/" in path
                              else Answer(307, {"Location": f"http://{storage.host}/blob"}))
    try:
        client = RegistryClient(registry.host, plain_http=True, docker_config=False, retries=0)
        for _ in range(5):  # a listing, then a blob: as a pull of each file of a directory does
            assert client.list_tags("x") == ["1"]
            assert client.request("GET", "/v2/x/blobs/sha256:" + "0" * 64, what="read a blob").content == b"from storage"
        client.close()
    finally:
        registry.close()
        storage.close()
    assert sorted(connects) == sorted(int(server.host.rsplit(":", 1)[1]) for server in (registry, storage)), connects


def test_a_child_forked_while_another_thread_holds_the_session_goes_on(secured, tmp_path):
    with kubectl_oras.session(registry=secured.host, plain_http=True, username=USER, password=PASSWORD) as oras:
        digest = pushed_tags(oras, tmp_path, 1)["0"]
        holding, release = threading.Event(), threading.Event()

        def inside_a_call() -> None:
            with oras._session._lock:  # where a thread making a call is when another one forks
                holding.set()
                release.wait(30)

        thread = threading.Thread(target=inside_a_call)
        thread.start()
        assert holding.wait(10)
        pid = os.fork()
        if pid == 0:
            signal.alarm(20)  # a child stuck on the lock dies of it
            try:
                os._exit(0 if oras.artifact("forked/x:0").digest == digest else 1)
            except BaseException:
                os._exit(2)
        code = os.waitstatus_to_exitcode(os.waitpid(pid, 0)[1])
        release.set()
        thread.join()
    assert code == 0, code  # the alarm ended a child that waited for a lock no thread of its own would release


def credentials_from_the_environment(monkeypatch, home) -> None:
    """ORAS_USER ``u``, ORAS_PASS as the test sets it, no docker config."""
    monkeypatch.setenv("HOME", str(home))
    for name in ("ORAS_PUSH_PASS", "ORAS_PULL_PASS"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("ORAS_USER", "u")


def test_credentials_renewed_at_every_call_keep_few_connections_open(monkeypatch, tmp_path):
    server = ScriptedServer(lambda path, authorization: TAGS if authorization else REFUSAL)
    credentials_from_the_environment(monkeypatch, tmp_path)
    try:
        with kubectl_oras.session(registry=server.host, plain_http=True) as oras:
            for i in range(40):
                monkeypatch.setenv("ORAS_PASS", f"token-{i}")  # a short-lived token renewed before each call
                assert oras.tags("x") == ["1"]
            deadline = time.monotonic() + 10
            while server.open > session_module.KEPT_CREDENTIALS and time.monotonic() < deadline:
                time.sleep(0.05)  # the server sees a closed connection as its next read ends
            assert server.open <= session_module.KEPT_CREDENTIALS
        assert server.seen[-1][1] == "Basic " + base64.b64encode(b"u:token-39").decode()  # the renewed one
    finally:
        server.close()


# -- a fourth review: the refusal's read within the caller's time, the least recently used let go,
# a proxy's manager taken by a second thread before the first gave it the kept pools

def test_a_refusals_read_waits_no_longer_than_the_read_timeout(connects, monkeypatch):
    monkeypatch.setattr(bodies, "REFUSAL_SECONDS", 30.0)  # the read timeout is the shorter here
    took = seconds_to_list_asked_for_credentials(dataclasses.replace(REFUSAL, stall=20),
                                                 read=0.5)
    assert took < 10, took  # a hang check: 0.5 s of waiting for the body, not the 20 s of its stall


def test_the_client_let_go_for_renewed_credentials_is_the_least_recently_used(monkeypatch, tmp_path):
    server = ScriptedServer(lambda path, authorization: TAGS if authorization else REFUSAL)
    credentials_from_the_environment(monkeypatch, tmp_path)
    try:
        with kubectl_oras.session(registry=server.host, plain_http=True) as oras:
            for i in range(12):  # a steady password in use between tokens renewed each time
                monkeypatch.setenv("ORAS_PASS", "steady" if i % 2 == 0 else f"token-{i}")
                assert oras.tags("x") == ["1"]
    finally:
        server.close()
    refused = sum(authorization is None for _, authorization in server.seen)  # one for each client made
    assert refused == 1 + 6, server.seen  # the steady one made once, each token once


def test_a_proxys_manager_another_thread_made_gets_the_kept_pools(monkeypatch):
    proxy = ScriptedServer(lambda path, authorization: TAGS)
    try:
        through_proxy(monkeypatch, f"http://{proxy.host}")
        client = RegistryClient("registry.example:5000", plain_http=True, docker_config=False, retries=0)
        adapter = client.transport.session.get_adapter("http://registry.example:5000/")
        # What a thread finds when another has just made the manager, before giving it the kept pools.
        adapter.proxy_manager[f"http://{proxy.host}"] = urllib3.ProxyManager(f"http://{proxy.host}")
        assert client.list_tags("x") == ["1"]
        pools = list(adapter.proxy_manager[f"http://{proxy.host}"].pools._container.values())
        assert pools and all(isinstance(pool, transport._KeptConnections) for pool in pools), pools
        client.close()
    finally:
        proxy.close()
