"""What each request to the registry costs besides itself. -v 6 logs it (method, URL, status,
time), as kubectl's -v 6 logs its own, and never a credential: not the password, not the
Authorization header, not a URL's query. The proxy and CA bundle variables are read once per
registry, not once per request (requests walks the whole environment for them every time:
oci/transport.py's ``_Session``), and still decide where requests go, a redirect's by its own host."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import requests.sessions

from kubectl_oras.oci.client import Credentials, RegistryClient
from kubectl_oras.oci.errors import RegistryUnreachable
from kubectl_oras.oci.transport import RetryPolicy
from tests.support.net import free_port
from tests.support.registries import SECURED_PASSWORD, SECURED_USER
from tests.support.scripted_http import Answer, ScriptedServer

REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = SECURED_USER, SECURED_PASSWORD


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(REPO), "ORAS_USER": USER, "ORAS_PASS": PASSWORD, "HOME": str(cwd)}
    return subprocess.run([sys.executable, "-m", "kubectl_oras", *args], cwd=cwd, env=env, capture_output=True,
                          text=True, timeout=120)


def test_v6_logs_each_registry_request_and_no_credential(secured, tmp_path):
    (tmp_path / "f.txt").write_text("result")
    host = secured.host
    pushed = cli("push", "logged/x:1", "f.txt", "-r", host, "--plain-http", "-v", "6", cwd=tmp_path)
    assert pushed.returncode == 0, pushed.stderr
    lines = pushed.stderr.splitlines()
    assert any(re.search(rf"PUT http://{re.escape(host)}/v2/logged/x/manifests/1 201 Created in \d+ ms$", line)
               for line in lines), pushed.stderr
    assert any(re.search(r" 401 Unauthorized in \d+ ms$", line) for line in lines)  # the challenge, then the answer
    assert any(re.search(r"PUT http://\S+/v2/logged/x/blobs/uploads/\S+\?… 201 Created", line) for line in lines)
    listed = cli("-v", "6", "tags", "logged/x", "-r", host, "--plain-http", "-o", "name", cwd=tmp_path)  # -v first
    assert listed.stdout == "logged/x:1\n" and f"GET http://{host}/v2/logged/x/tags/list?… 200 OK" in listed.stderr
    said = pushed.stdout + pushed.stderr + listed.stdout + listed.stderr
    basic = base64.b64encode(f"{USER}:{PASSWORD}".encode()).decode()
    for secret in (PASSWORD, basic, "Authorization", "Basic "):
        assert secret not in said


def test_without_v_nothing_is_logged(secured, tmp_path):
    quiet = cli("tags", "logged/none", "-r", secured.host, "--plain-http", "-v", "5", cwd=tmp_path)
    assert "http://" not in quiet.stderr


def client_for(host: str) -> RegistryClient:
    return RegistryClient(host, plain_http=True, credentials=Credentials(USER, PASSWORD), docker_config=False)


def test_many_requests_read_the_environment_once(secured, monkeypatch):
    looked_up = []
    real = requests.sessions.get_environ_proxies

    def counted(url, no_proxy=None):
        looked_up.append(url)
        return real(url, no_proxy=no_proxy)

    monkeypatch.setattr(requests.sessions, "get_environ_proxies", counted)
    client = client_for(secured.host)
    for _ in range(10):
        assert client.resolve("nothing/here", "latest", what="check") is None
    assert len(looked_up) == 1, looked_up  # one registry: eleven requests (the first answered 401)


def test_the_proxy_variables_still_decide_where_requests_go(secured, monkeypatch):
    nowhere = f"http://127.0.0.1:{free_port()}"  # a proxy that is not there
    monkeypatch.setenv("HTTP_PROXY", nowhere)
    monkeypatch.setenv("http_proxy", nowhere)
    monkeypatch.delenv("NO_PROXY", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    client = client_for(secured.host)
    client.transport.retry = RetryPolicy(attempts=1)
    for _ in range(2):  # the first answer kept is the proxy's, every time
        with pytest.raises(RegistryUnreachable):
            client.resolve("nothing/here", "latest", what="check")

    monkeypatch.setenv("NO_PROXY", "127.0.0.1")
    monkeypatch.setenv("no_proxy", "127.0.0.1")
    direct = client_for(secured.host)
    for _ in range(2):
        assert direct.resolve("nothing/here", "latest", what="check") is None


def test_a_redirect_goes_through_the_proxy_its_own_host_is_given(monkeypatch):
    """A registry reached through HTTP_PROXY redirects a blob to storage that NO_PROXY exempts: the
    blob is fetched directly (requests kept the registry's proxy for the redirect)."""
    storage = ScriptedServer(lambda path, authorization: Answer(200, {}, b"from storage"))
    storage_port = storage.server_address[1]
    proxy = ScriptedServer(lambda path, authorization: Answer(307, {"Location": f"http://localhost:{storage_port}/blob"})
                           if "/v2/" in path else Answer(200, {}, b"from the proxy"))
    try:
        for name in ("HTTP_PROXY", "http_proxy"):
            monkeypatch.setenv(name, f"http://{proxy.host}")
        for name in ("NO_PROXY", "no_proxy"):
            monkeypatch.setenv(name, "localhost")
        client = RegistryClient("registry.example:5000", plain_http=True, docker_config=False, retries=0)
        answer = client.request("GET", "/v2/x/blobs/sha256:" + "0" * 64, what="read a blob")
        assert answer.content == b"from storage"
        seen = [[target for target, _ in server.seen] for server in (proxy, storage)]
        assert seen == [[f"http://registry.example:5000/v2/x/blobs/sha256:{'0' * 64}"], ["/blob"]]
    finally:
        proxy.close()
        storage.close()


def test_a_sessions_calls_share_one_connection_and_one_authentication(secured, tmp_path, connects, caplog):
    """A workflow tool asks exists, mtime and size of each file one call at a time: each is one
    request on a connection already open and authenticated, not a new connection and a 401 first."""
    import kubectl_oras

    (tmp_path / "f.txt").write_text("result")
    caplog.set_level("DEBUG", logger="kubectl_oras.requests")
    with kubectl_oras.session(registry=secured.host, plain_http=True, username=USER, password=PASSWORD) as oras:
        oras.push("shared/x:1", [str(tmp_path / "f.txt")])
        pushed = len(caplog.records)
        for _ in range(10):
            assert oras.artifact("shared/x:1").tag == "1"
        assert oras.tags("shared/x") == ["1"]
    reads = [r.getMessage() for r in caplog.records[pushed:]]
    assert len(reads) == 11 and all(" 200 OK in " in line for line in reads), reads
    assert sum(" 401 Unauthorized in " in r.getMessage() for r in caplog.records) == 1
    assert connects == [int(secured.host.rsplit(":", 1)[1])], connects  # the push's one, kept

    connects.clear()
    with kubectl_oras.session(registry=secured.host, plain_http=True, username=USER, password=PASSWORD) as again:
        again.tags("shared/x")  # a streamed answer: its 401 is read to its end, the connection kept
        again.artifact("shared/x:1")
    # A new session, a new connection (nothing is kept past the session that closed), and only one:
    # through a cache, each would be a new stream of the port-forward.
    assert connects == [int(secured.host.rsplit(":", 1)[1])], connects
