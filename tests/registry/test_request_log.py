"""-v 6 logs each request to the registry (method, URL, status, time), as kubectl's -v 6 logs its
own, and never a credential: not the password, not the Authorization header, not a URL's query."""

from __future__ import annotations

import base64
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.registries import htpasswd_file, start_registry

REPO = Path(__file__).resolve().parents[2]
USER, PASSWORD = "experimenter", "s3cret-Pa55word"


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    d = tmp_path_factory.mktemp("secured")
    proc = start_registry("distribution-3", htpasswd=htpasswd_file(d, USER, PASSWORD))
    yield proc
    proc.stop()


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
