"""Transient registry failures are retried; permanent ones fail with a clear message."""

import os

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.errors import RegistryError, RegistryUnreachable
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from tests.support.faulty_proxy import FaultyProxy
from tests.support.net import free_port


@pytest.fixture
def proxy(registry):
    p = FaultyProxy(registry.host).start()
    yield p
    p.stop()


def via(proxy, ref):
    return RegistryClient(proxy.host, plain_http=True, retries=3), Reference(proxy.host, ref.repository, ref.tag)


@pytest.mark.parametrize("status", [429, 500, 502, 503, 504])
def test_push_and_pull_survive_transient_errors(proxy, ref, workdir, status):
    (workdir / "data.bin").write_bytes(os.urandom(100_000))
    client, pref = via(proxy, ref)
    any_request = lambda method, path: True  # noqa: E731
    proxy.add(any_request, "status", status, times=2)
    push_artifact(client, pref, ["data.bin"])
    proxy.add(any_request, "status", status, times=2)
    pull_artifact(client, pref, str(workdir / "out"))
    assert (workdir / "out" / "data.bin").read_bytes() == (workdir / "data.bin").read_bytes()
    assert sum(1 for _, _, code in proxy.seen if code == status) == 4


def test_a_connection_reset_mid_blob_resumes_and_verifies(proxy, ref, workdir):
    payload = os.urandom(3 << 20)
    (workdir / "data.bin").write_bytes(payload)
    client, pref = via(proxy, ref)
    pushed = push_artifact(client, pref, ["data.bin"])
    digest = pushed.layers[0].digest
    proxy.add(lambda m, p: m == "GET" and p.endswith(digest), "reset", 1 << 20)
    pull_artifact(client, pref, str(workdir / "out"))
    assert (workdir / "out" / "data.bin").read_bytes() == payload


def test_a_failed_streamed_upload_starts_again(proxy, ref, workdir):
    payload = os.urandom(9 << 20)  # streamed (hashed on the way out), not hashed first
    (workdir / "big.bin").write_bytes(payload)
    client, pref = via(proxy, ref)
    proxy.add(lambda m, p: m == "PATCH", "status", 503, times=1)
    result = push_artifact(client, pref, ["big.bin"])
    pull_artifact(client, pref, str(workdir / "out"))
    assert (workdir / "out" / "big.bin").read_bytes() == payload
    assert result.bytes_sent == len(payload)  # the failed attempt is not counted twice


def test_persistent_errors_give_up_with_the_status(proxy, ref, workdir):
    (workdir / "f").write_text("f")
    client, pref = via(proxy, ref)
    proxy.add(lambda m, p: True, "status", 503, times=100)
    with pytest.raises(RegistryError, match="503"):
        push_artifact(client, pref, ["f"])


def test_an_unreachable_registry_is_named():
    port = free_port()
    client = RegistryClient(f"127.0.0.1:{port}", plain_http=True, retries=1)
    with pytest.raises(RegistryUnreachable) as e:
        client.list_tags("x")
    assert f"127.0.0.1:{port}" in str(e.value)


def test_talking_https_to_a_plain_http_registry_suggests_plain_http(registry):
    client = RegistryClient(registry.host, plain_http=False, retries=0)
    with pytest.raises(RegistryUnreachable, match="--plain-http"):
        client.list_tags("x")


def test_a_blob_error_keeps_the_registrys_explanation(proxy, ref, workdir):
    (workdir / "data.bin").write_bytes(os.urandom(1000))
    client, pref = via(proxy, ref)
    pushed = push_artifact(client, pref, ["data.bin"])
    proxy.add(lambda m, p: m == "GET" and p.endswith(pushed.layers[0].digest), "status", 503, times=100)
    with pytest.raises(RegistryError, match="503 Service Unavailable: injected fault"):
        pull_artifact(client, pref, str(workdir / "out"))


def test_a_download_that_moves_forward_gets_its_tries_back(proxy, ref, workdir):
    payload = os.urandom(3 << 20)
    (workdir / "data.bin").write_bytes(payload)
    client, pref = via(proxy, ref)  # 4 tries in all
    digest = push_artifact(client, pref, ["data.bin"]).layers[0].digest
    blob = lambda m, p: m == "GET" and p.endswith(digest)  # noqa: E731
    proxy.add(blob, "truncate", 1 << 20)  # one MiB arrives, then the connection ends...
    proxy.add(blob, "status", 503, times=3)  # ...and the registry is busy three times while resuming
    pull_artifact(client, pref, str(workdir / "out"))
    assert (workdir / "out" / "data.bin").read_bytes() == payload


def test_a_manifest_that_breaks_off_while_read_is_read_again(proxy, ref, workdir):
    (workdir / "f").write_text("f")
    client, pref = via(proxy, ref)
    push_artifact(client, pref, ["f"])
    proxy.add(lambda m, p: m == "GET" and "/manifests/" in p, "reset", 20)
    pull_artifact(client, pref, str(workdir / "out"))
    assert (workdir / "out" / "f").read_text() == "f"


def test_a_failing_upload_is_tried_as_often_as_the_policy_says_not_squared(proxy, ref, workdir):
    (workdir / "f").write_text("f")
    client, pref = via(proxy, ref)  # 4 tries in all
    proxy.add(lambda m, p: m == "POST", "status", 503, times=100)
    with pytest.raises(RegistryError, match="503"):
        push_artifact(client, pref, ["f"])
    assert sum(1 for method, _, _ in proxy.seen if method == "POST") == 4
