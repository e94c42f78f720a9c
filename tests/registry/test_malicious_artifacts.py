"""Artifacts built to attack the puller: each is refused, and nothing is written or left behind."""

import os

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.digests import sha256_digest
from kubectl_oras.oci.errors import DigestMismatch, UnsafePath
from kubectl_oras.oci.manifest import (
    EMPTY_CONFIG,
    EMPTY_CONFIG_BLOB,
    Blob,
    build_manifest,
    directory_layer,
    encode_manifest,
    file_layer,
)
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.reference import Reference
from tests.support.archives import tar_gz
from tests.support.faulty_proxy import FaultyProxy


def publish(client, ref, layers_with_data):
    """Store blobs and a hand-made manifest in the real registry."""
    client.upload_blob_bytes(ref.repository, EMPTY_CONFIG, EMPTY_CONFIG_BLOB.digest)
    for _, data in layers_with_data:
        client.upload_blob_bytes(ref.repository, data, sha256_digest(data))
    manifest = build_manifest(layers=[blob for blob, _ in layers_with_data])
    client.put_manifest(ref.repository, ref.tag, encode_manifest(manifest))


def file_blob(title, data):
    return file_layer(title=title, digest=sha256_digest(data), size=len(data)), data


def dir_blob(title, data):
    return directory_layer(title=title, digest=sha256_digest(data), size=len(data), tar_digest=""), data


def assert_untouched(out, before):
    assert sorted(os.listdir(out)) == before, "the output directory changed"


@pytest.fixture
def out(tmp_path):
    d = tmp_path / "work" / "out"
    d.mkdir(parents=True)
    (d / "keep.txt").write_text("mine")
    return d


@pytest.mark.parametrize(
    "title, message",
    [("../escape.txt", "'..'"), ("/tmp/kubectl-oras-abs-escape.txt", "absolute"), ("a/../../escape.txt", "'..'")],
)
def test_a_traversal_title_is_refused_before_anything_is_fetched(client, ref, out, title, message):
    publish(client, ref, [file_blob("good.txt", b"good"), file_blob(title, b"evil")])
    with pytest.raises(UnsafePath) as e:
        pull_artifact(client, ref, str(out))
    assert message in str(e.value) and "layer title" in str(e.value)
    assert_untouched(out, ["keep.txt"])
    assert not (out.parent / "escape.txt").exists()
    assert not os.path.exists("/tmp/kubectl-oras-abs-escape.txt")


@pytest.mark.parametrize(
    "members, message",
    [
        ([("dir", "d", None), ("sym", "d/link", "../../../../etc")], "points outside"),
        ([("dir", "d", None), ("sym", "d/abs", "/etc/passwd")], "points outside"),
        ([("dir", "d", None), ("file", "d/../../escape.txt", b"x")], "'..'"),
        ([("file", "elsewhere/x", b"x")], "outside directory 'd'"),
    ],
)
def test_a_directory_layer_that_escapes_is_refused_and_nothing_is_placed(client, ref, out, members, message):
    publish(client, ref, [file_blob("good.txt", b"good"), dir_blob("d", tar_gz(*members))])
    with pytest.raises(UnsafePath) as e:
        pull_artifact(client, ref, str(out))
    assert message in str(e.value)
    assert_untouched(out, ["keep.txt"])  # good.txt was verified too, but nothing is placed on failure
    assert not (out.parent / "escape.txt").exists()


def test_a_symlink_then_write_through_it_cannot_escape(client, ref, out):
    evil = tar_gz(("dir", "d", None), ("sym", "d/up", ".."), ("file", "d/up/escape.txt", b"x"))
    publish(client, ref, [dir_blob("d", evil)])
    with pytest.raises(UnsafePath):
        pull_artifact(client, ref, str(out))
    assert_untouched(out, ["keep.txt"])
    assert not (out.parent / "escape.txt").exists()


@pytest.fixture
def proxy(registry):
    p = FaultyProxy(registry.host).start()
    yield p
    p.stop()


def blob_get(digest):
    return lambda method, path: method == "GET" and path.endswith(f"/blobs/{digest}")


def test_a_corrupted_blob_fails_the_digest_check(client, ref, proxy, out):
    layer, data = file_blob("data.bin", os.urandom(50_000))
    publish(client, ref, [(layer, data)])
    proxy.add(blob_get(layer.digest), "corrupt", times=10)
    via_proxy = RegistryClient(proxy.host, plain_http=True, retries=1)
    with pytest.raises(DigestMismatch) as e:
        pull_artifact(via_proxy, Reference(proxy.host, ref.repository, ref.tag), str(out))
    assert layer.digest in str(e.value) and "refusing" in str(e.value)
    assert_untouched(out, ["keep.txt"])


def test_a_truncated_blob_is_refused(client, ref, proxy, out):
    layer, data = file_blob("data.bin", os.urandom(50_000))
    publish(client, ref, [(layer, data)])
    proxy.add(blob_get(layer.digest), "truncate", 1000, times=10)
    via_proxy = RegistryClient(proxy.host, plain_http=True, retries=1)
    with pytest.raises(DigestMismatch) as e:
        pull_artifact(via_proxy, Reference(proxy.host, ref.repository, ref.tag), str(out))
    assert layer.digest in str(e.value) and "truncated" in str(e.value)
    assert_untouched(out, ["keep.txt"])


def test_a_manifest_that_lies_about_a_size_is_refused(client, ref, out):
    data = b"twelve bytes"
    lying = Blob("application/vnd.oci.image.layer.v1.tar", sha256_digest(data), 5, {"org.opencontainers.image.title": "x"})
    client.upload_blob_bytes(ref.repository, EMPTY_CONFIG, EMPTY_CONFIG_BLOB.digest)
    client.upload_blob_bytes(ref.repository, data, sha256_digest(data))
    client.put_manifest(ref.repository, ref.tag, encode_manifest(build_manifest(layers=[lying])))
    with pytest.raises(DigestMismatch, match="more than the 5 bytes"):
        pull_artifact(client, ref, str(out))
    assert_untouched(out, ["keep.txt"])


def test_a_wrong_content_digest_on_a_directory_is_refused(client, ref, out):
    data = tar_gz(("dir", "d", None), ("file", "d/f", b"x"))
    layer = directory_layer(title="d", digest=sha256_digest(data), size=len(data), tar_digest="sha256:" + "0" * 64)
    publish(client, ref, [(layer, data)])
    with pytest.raises(DigestMismatch, match="annotation says"):
        pull_artifact(client, ref, str(out))
    assert_untouched(out, ["keep.txt"])
