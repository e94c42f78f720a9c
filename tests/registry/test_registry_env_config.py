"""An OrasCache's registry configured by environment alone (controller/core/cache_auth.py), on
real registries: the config file is the one the official image ships, untouched; everything we
need comes from registry_environment() and the htpasswd Secret's data.

In the test only the address, the storage directory and the htpasswd path are replaced (a
loopback port and temporary directories instead of :5000 and the pod's mounts), and only by
changing the values of the variables registry_environment() sets.
"""

from __future__ import annotations

import socket
import subprocess
from pathlib import Path

import pytest
import requests

from controller.core.cache_auth import (
    REALM,
    htpasswd_data,
    new_credentials,
    registry_environment,
)
from kubectl_oras.oci.client import Credentials, RegistryClient
from kubectl_oras.oci.delete import delete_artifact
from kubectl_oras.oci.errors import AuthenticationFailed
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.orascache import PASSWORD_KEY, USER_KEY
from tests.support.net import free_port
from tests.support.registries import IMAGE_CONFIG, KINDS, RegistryProcess, start_with_environment

# What an image's config file might say instead: another storage driver, deletes off, another
# htpasswd file, a debug server (pprof, metrics) on a second port, the access log on.
CONTRARY_CONFIG = """\
version: 0.1
log:
  accesslog:
    disabled: false
storage:
  inmemory: {{}}
  delete:
    enabled: false
http:
  addr: :5000
  debug:
    addr: 127.0.0.1:{debug_port}
auth:
  htpasswd:
    realm: somewhere-else
    path: /nonexistent/htpasswd
"""


def environment(tmp: Path, *, auth: bool, credentials: dict[str, str] | None = None) -> dict[str, str]:
    """registry_environment() as the pod would get it, with the pod's address and paths moved
    into ``tmp``; the htpasswd Secret's file written where REGISTRY_AUTH_HTPASSWD_PATH says."""
    env = {e["name"]: e["value"] for e in registry_environment(auth=auth, http_secret_name=None)}
    overrides = {"REGISTRY_HTTP_ADDR": f"127.0.0.1:{free_port()}",
                 "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp / "data")}
    if auth:
        assert credentials is not None
        htpasswd = tmp / "htpasswd-mount" / "htpasswd"
        htpasswd.parent.mkdir(parents=True)
        htpasswd.write_text(htpasswd_data(credentials)["htpasswd"])
        overrides["REGISTRY_AUTH_HTPASSWD_PATH"] = str(htpasswd)
    assert set(overrides) <= set(env), "the test only changes values registry_environment() sets"
    return {**env, **overrides}


def client_for(registry: RegistryProcess, credentials: dict[str, str] | None) -> RegistryClient:
    creds = Credentials.from_env(push=True, environ=credentials) if credentials else None
    return RegistryClient(registry.host, plain_http=True, credentials=creds, retries=1)


def listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(0.5)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture(scope="module", params=KINDS)
def cache_registry(request, tmp_path_factory):
    tmp = tmp_path_factory.mktemp(f"cache-{request.param}")
    credentials = new_credentials()
    proc = start_with_environment(request.param, IMAGE_CONFIG, environment(tmp, auth=True, credentials=credentials), tmp)
    proc.extra["credentials"] = credentials
    yield proc
    proc.stop()


def test_agents_credentials_push_pull_list_and_delete(cache_registry, tmp_path):
    client = client_for(cache_registry, cache_registry.extra["credentials"])
    (tmp_path / "result.txt").write_text("42\n")
    ref = Reference(cache_registry.host, "wf/step", "iter-1")
    pushed = push_artifact(client, ref, [str(tmp_path / "result.txt")])
    push_artifact(client, ref.with_tag("iter-2"), [str(tmp_path / "result.txt")], annotations={"n": "2"})
    pulled = pull_artifact(client, ref, str(tmp_path / "out"))
    assert pulled.digest == pushed.digest
    assert (tmp_path / "out" / "result.txt").read_text() == "42\n"
    assert sorted(client.list_tags("wf/step")) == ["iter-1", "iter-2"]
    delete_artifact(client, ref)  # deletes are off unless REGISTRY_STORAGE_DELETE_ENABLED turns them on
    assert client.list_tags("wf/step") == ["iter-2"]
    # The storage is the directory REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY names.
    assert (cache_registry.root / "data" / "docker" / "registry" / "v2" / "repositories" / "wf" / "step").is_dir()


def test_a_wrong_password_and_none_are_refused(cache_registry):
    credentials = cache_registry.extra["credentials"]
    wrong = client_for(cache_registry, {USER_KEY: credentials[USER_KEY], PASSWORD_KEY: credentials[PASSWORD_KEY][:-1]})
    with pytest.raises(AuthenticationFailed, match="401"):
        wrong.list_tags("wf/step")
    with pytest.raises(AuthenticationFailed, match="ORAS_USER"):
        RegistryClient(cache_registry.host, plain_http=True, credentials=None, retries=0).list_repositories()
    r = requests.get(f"http://{cache_registry.host}/v2/")
    assert r.status_code == 401
    assert f'realm="{REALM}"' in r.headers["Www-Authenticate"]


def test_go_oras_pushes_with_the_same_credentials(cache_registry, oras, tmp_path):
    credentials = cache_registry.extra["credentials"]
    (tmp_path / "from-go.txt").write_text("go\n")
    result = subprocess.run(
        [oras, "push", "--plain-http", "--username", credentials[USER_KEY], "--password-stdin",
         f"{cache_registry.host}/wf/go:1", "from-go.txt"],
        cwd=tmp_path, input=credentials[PASSWORD_KEY], capture_output=True, text=True,
        env={"HOME": str(tmp_path), "PATH": "/usr/bin:/bin"})
    assert result.returncode == 0, result.stderr
    pulled = pull_artifact(client_for(cache_registry, credentials), Reference(cache_registry.host, "wf/go", "1"),
                           str(tmp_path / "out"))
    assert (tmp_path / "out" / "from-go.txt").read_text() == "go\n"
    assert pulled.files


def test_the_log_shows_every_variable_was_understood(cache_registry):
    log = cache_registry.log.read_text()
    assert "Ignoring unrecognized environment variable" not in log
    assert "debug server listening" not in log
    assert cache_registry.extra["credentials"][PASSWORD_KEY] not in log


@pytest.mark.parametrize("kind", KINDS)
def test_the_environment_wins_over_a_config_file_that_says_otherwise(kind, tmp_path):
    debug_port = free_port()
    credentials = new_credentials()
    registry = start_with_environment(kind, CONTRARY_CONFIG.format(debug_port=debug_port),
                                      environment(tmp_path, auth=True, credentials=credentials), tmp_path)
    try:
        r = requests.get(f"http://{registry.host}/v2/")
        assert f'realm="{REALM}"' in r.headers["Www-Authenticate"]  # our htpasswd, not the file's
        client = client_for(registry, credentials)
        (tmp_path / "f").write_text("f")
        ref = Reference(registry.host, "wf/contrary", "1")
        push_artifact(client, ref, [str(tmp_path / "f")])
        delete_artifact(client, ref)  # deletes on, whatever the file says
        assert (tmp_path / "data" / "docker").is_dir()  # the filesystem, not the file's inmemory driver
        assert not listening(debug_port)  # no debug server
    finally:
        registry.stop()
    assert "Ignoring unrecognized environment variable" not in registry.log.read_text()


@pytest.mark.parametrize("kind", KINDS)
def test_auth_off_clears_the_auth_a_config_file_turns_on(kind, tmp_path):
    registry = start_with_environment(kind, CONTRARY_CONFIG.format(debug_port=free_port()),
                                      environment(tmp_path, auth=False), tmp_path)
    try:
        client = client_for(registry, None)
        (tmp_path / "f").write_text("f")
        push_artifact(client, Reference(registry.host, "wf/open", "1"), [str(tmp_path / "f")])
        assert client.list_tags("wf/open") == ["1"]
    finally:
        registry.stop()


@pytest.mark.parametrize("kind", KINDS)
def test_an_http_secret_from_the_environment_is_used(kind, tmp_path):
    """REGISTRY_HTTP_SECRET (from the Secret spec.secrets.registryHttp names, in a pod)."""
    env = {**environment(tmp_path, auth=False), "REGISTRY_HTTP_SECRET": "a-shared-secret"}
    registry = start_with_environment(kind, IMAGE_CONFIG, env, tmp_path)
    registry.stop()
    assert "No HTTP secret provided" not in registry.log.read_text()
