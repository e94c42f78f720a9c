"""A session keeps its connections to a registry between calls (transfers/session.py), and must
not let that keeping go wrong: a forked process must not read answers meant for its parent or
siblings on a socket they share, credentials from a docker login are read for each call (a login
renewed mid-run counts on the next call), and a connection the network dropped silently while
it sat idle is not used again (the call would wait a whole read timeout for an answer that never
comes). Each is fed here against a real registry with auth on."""

from __future__ import annotations

import base64
import json
import os
import socket
import threading

import pytest

import kubectl_oras
import kubectl_oras.transfers.session as session_module
from kubectl_oras.oci.errors import AuthenticationFailed
from tests.support.net import free_port
from tests.support.registries import htpasswd_file, start_registry

USER, PASSWORD = "experimenter", "s3cret-Pa55word"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    d = tmp_path_factory.mktemp("secured")
    proc = start_registry("distribution-3", htpasswd=htpasswd_file(d, USER, PASSWORD))
    yield proc
    proc.stop()


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


def test_a_docker_login_renewed_mid_session_counts_on_the_next_call(secured, tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("ORAS_USER", "ORAS_PASS", "ORAS_PUSH_PASS", "ORAS_PULL_PASS"):
        monkeypatch.delenv(name, raising=False)
    config = tmp_path / ".docker" / "config.json"
    config.parent.mkdir()

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


class SilentlyDroppingRelay:
    """A TCP relay to the registry that, once ``drop()`` is called, forgets every connection open
    then as a NAT or a load balancer does after an idle timeout: what comes on one is swallowed,
    and nothing (no FIN, no RST) tells the client."""

    def __init__(self, target: str) -> None:
        host, port = target.rsplit(":", 1)
        self.target = (host, int(port))
        self.listener = socket.create_server(("127.0.0.1", free_port()))
        self.host = f"127.0.0.1:{self.listener.getsockname()[1]}"
        self.generation = 0
        self.swallowed = 0
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def drop(self) -> None:
        with self.lock:
            self.generation += 1

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            born = self.generation
            threading.Thread(target=self._pump, args=(client, upstream, born), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, None), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, born: int | None) -> None:
        try:
            while data := source.recv(65536):
                if born is not None and born != self.generation:  # a forgotten connection
                    with self.lock:
                        self.swallowed += 1
                    continue
                sink.sendall(data)
        except OSError:
            pass

    def close(self) -> None:
        self.listener.close()


def test_a_connection_dropped_silently_while_idle_is_not_used_again(secured, tmp_path, monkeypatch):
    monkeypatch.setattr(session_module, "KEPT_IDLE", 0.5)
    relay = SilentlyDroppingRelay(secured.host)
    try:
        (tmp_path / "f.txt").write_text("result")
        with kubectl_oras.session(registry=relay.host, plain_http=True, username=USER, password=PASSWORD) as oras:
            oras.push("idle/x:1", [str(tmp_path / "f.txt")])
            relay.drop()  # the session's connections sit idle; the network forgets them
            threading.Event().wait(0.7)
            assert oras.artifact("idle/x:1").tag == "1"
        assert relay.swallowed == 0  # nothing was sent on a forgotten connection (it would wait 30 s)
    finally:
        relay.close()

