"""`kubectl oras cp` and `tag` against real registries: a copy has the source's digest and bytes,
within one registry its blobs are mounted (never sent), a blob the destination has is skipped,
each side has its own credentials; `tag` adds tags without moving a blob."""

import json
import os

import pytest
from typer.testing import CliRunner

from kubectl_oras.cli import app
from kubectl_oras.oci.client import Credentials, RegistryClient
from kubectl_oras.oci.copy import copy_artifact
from kubectl_oras.oci.errors import DigestMismatch
from kubectl_oras.oci.manifest import INDEX_MEDIA_TYPE, MANIFEST_MEDIA_TYPE
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.oci.referrers import fallback_tag, index_in_tag, referrers
from tests.support.faulty_proxy import FaultyProxy
from tests.support.registries import REFERRERS_API, htpasswd_file, start_registry
from tests.support.trees import make_tree, snapshot

runner = CliRunner()
EMPTY_DIGEST = "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"  # of b"{}"
EMPTY_MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE, "layers": [], "config": {
    "mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY_DIGEST, "size": 2}}).encode()


def cli(*args, env=None):
    result = runner.invoke(app, [str(a) for a in args], env=env)
    assert "Traceback" not in result.output + result.stderr
    return result


@pytest.fixture
def artifact(workdir):
    """A file and a directory (a tar+gzip layer) of a few MiB, to push."""
    make_tree(workdir / "results")
    (workdir / "big.bin").write_bytes(os.urandom(3 << 20))
    return ["big.bin", "results"]


@pytest.fixture
def other_registry(registry, tmp_path_factory):
    """A second registry of the other kind, with auth: a copy between two registries, each side
    with its own credentials."""
    kind = "distribution-2.8" if registry.kind == "distribution-3" else "distribution-3"
    proc = start_registry(kind, htpasswd=htpasswd_file(tmp_path_factory.mktemp("auth"), "writer", "s3cret"))
    yield proc
    proc.stop()


def manifest_bytes(client, ref):
    return client.fetch_manifest_bytes(ref.repository, ref.target, what="read")[3]


def test_cp_between_two_registries_keeps_the_digest_and_every_byte(registry, other_registry, client, ref,
                                                                   artifact, workdir):
    pushed = push_artifact(client, ref, artifact)
    r = cli("cp", f"{ref}", f"{other_registry.host}/copies/hwloc", "--plain-http", "-o", "json",
            env={"ORAS_TO_USER": "writer", "ORAS_TO_PASS": "s3cret"})
    assert r.exit_code == 0, r.stderr
    copied = json.loads(r.stdout)
    assert copied["digest"] == pushed.digest
    assert copied["reference"] == f"{other_registry.host}/copies/hwloc:v1"  # no tag on DST: SRC's
    assert copied["blobs"] == 3 and copied["blobsSkipped"] == 0 and copied["blobsMounted"] == 0
    there = RegistryClient(other_registry.host, plain_http=True, credentials=Credentials("writer", "s3cret"))
    copy_ref = Reference(other_registry.host, "copies/hwloc", "v1")
    assert manifest_bytes(there, copy_ref) == manifest_bytes(client, ref)
    pull_artifact(there, copy_ref, str(workdir / "out"))
    assert (workdir / "out" / "big.bin").read_bytes() == (workdir / "big.bin").read_bytes()
    assert snapshot(workdir / "out" / "results") == snapshot(workdir / "results")

    again = cli("cp", f"{ref}", f"{other_registry.host}/copies/hwloc:v2", "--plain-http", "-o", "json",
                env={"ORAS_TO_USER": "writer", "ORAS_TO_PASS": "s3cret"})
    assert json.loads(again.stdout)["blobsSkipped"] == 3 and json.loads(again.stdout)["bytesSent"] == 0


def test_cp_without_the_destination_credentials_is_refused_by_the_destination(registry, other_registry, client,
                                                                             ref, artifact):
    push_artifact(client, ref, artifact)
    r = cli("cp", f"{ref}", f"{other_registry.host}/copies/hwloc", "--plain-http",
            env={"ORAS_TO_USER": "writer", "ORAS_TO_PASS": None, "ORAS_USER": None, "ORAS_PASS": None})
    assert r.exit_code == 1
    assert "ORAS_TO_USER is set and ORAS_TO_PASS is not" in r.stderr
    r = cli("cp", f"{ref}", f"{other_registry.host}/copies/hwloc", "--plain-http",
            env={"ORAS_USER": None, "ORAS_PASS": None, "HOME": str(other_registry.root)})
    assert r.exit_code == 1 and f"registry {other_registry.host} requires credentials" in r.stderr


def test_cp_within_one_registry_mounts_every_blob_and_sends_none(registry, client, ref, artifact):
    pushed = push_artifact(client, ref, artifact)
    proxy = FaultyProxy(registry.host).start()
    try:
        through = RegistryClient(proxy.host, plain_http=True)
        result = copy_artifact(through, Reference(proxy.host, ref.repository, "v1"), through,
                               Reference(proxy.host, "archive/hwloc", "kept"), same_registry=True)
    finally:
        proxy.stop()
    assert result.digest == pushed.digest and result.blobs_mounted == 3 and result.bytes_sent == 0
    mounts = [(m, p, s) for m, p, s in proxy.seen if m == "POST" and "mount=" in p]
    assert len(mounts) == 3 and {s for _, _, s in mounts} == {201}, proxy.seen
    assert not [p for m, p, _ in proxy.seen if m in ("PUT", "PATCH") and "/blobs/" in p]  # no blob sent
    assert not [p for m, p, _ in proxy.seen if m == "GET" and "/blobs/" in p]  # nor read
    assert client.resolve("archive/hwloc", "kept", what="look") == pushed.digest


def test_a_source_that_breaks_off_mid_blob_is_read_again(registry, other_registry, client, ref, artifact):
    pushed = push_artifact(client, ref, artifact)
    proxy = FaultyProxy(registry.host).start()
    big = pushed.layers[0].digest  # big.bin's 3 MiB: cut after the first
    proxy.add(lambda m, p: m == "GET" and p.endswith(big), "truncate", 1 << 20)
    try:
        result = copy_artifact(RegistryClient(proxy.host, plain_http=True), Reference(proxy.host, ref.repository, "v1"),
                               RegistryClient(other_registry.host, plain_http=True,
                                              credentials=Credentials("writer", "s3cret")),
                               Reference(other_registry.host, "copies/broken", "v1"), concurrency=1)
    finally:
        proxy.stop()
    assert result.digest == pushed.digest
    assert len([p for m, p, _ in proxy.seen if m == "GET" and p.endswith(big)]) == 2  # cut, then read again


def test_a_source_that_sends_other_content_is_refused_and_nothing_is_tagged(registry, other_registry, client, ref,
                                                                           artifact):
    push_artifact(client, ref, artifact)
    proxy = FaultyProxy(registry.host).start()
    proxy.add(lambda m, p: m == "GET" and "/blobs/" in p, "corrupt", times=100)
    there = RegistryClient(other_registry.host, plain_http=True, credentials=Credentials("writer", "s3cret"))
    try:
        with pytest.raises(DigestMismatch, match=f"{proxy.host} sent content with digest"):
            copy_artifact(RegistryClient(proxy.host, plain_http=True), Reference(proxy.host, ref.repository, "v1"),
                          there, Reference(other_registry.host, "copies/corrupt", "v1"))
    finally:
        proxy.stop()
    assert there.resolve("copies/corrupt", "v1", what="look") is None


def test_tag_puts_the_same_manifest_under_new_tags(registry, client, ref, artifact):
    pushed = push_artifact(client, ref, artifact)
    r = cli("tag", str(ref), "best", "keep-1", "--plain-http", "-o", "json")
    assert r.exit_code == 0, r.stderr
    assert json.loads(r.stdout) == {"reference": str(ref), "digest": pushed.digest, "tags": ["best", "keep-1"]}
    for tag in ("best", "keep-1"):
        assert manifest_bytes(client, ref.with_tag(tag)) == manifest_bytes(client, ref)
    r = cli("tag", str(ref), "ok", "bad/tag", "--plain-http")
    assert r.exit_code == 1 and "'bad/tag' cannot be a tag" in r.stderr and "nothing was tagged" in r.stderr
    assert client.resolve(ref.repository, "ok", what="look") is None  # checked before anything was sent


def test_an_index_is_copied_with_the_manifests_it_lists(registry, other_registry, client, ref, artifact, workdir):
    one = push_artifact(client, ref, ["big.bin"])
    two = push_artifact(client, ref.with_tag("v2"), ["results"])
    index = json.dumps({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [
        {"mediaType": MANIFEST_MEDIA_TYPE, "digest": pushed.digest,
         "size": len(manifest_bytes(client, ref.with_tag(tag)))} for pushed, tag in ((one, "v1"), (two, "v2"))]}).encode()
    client.put_manifest(ref.repository, "both", index, media_type=INDEX_MEDIA_TYPE)
    there = RegistryClient(other_registry.host, plain_http=True, credentials=Credentials("writer", "s3cret"))
    result = copy_artifact(client, ref.with_tag("both"), there, Reference(other_registry.host, "copies/both", "both"))
    assert result.manifests == 3 and result.media_type == INDEX_MEDIA_TYPE
    assert manifest_bytes(there, Reference(other_registry.host, "copies/both", "both")) == index
    pulled = pull_artifact(there, Reference(other_registry.host, "copies/both", None, two.digest), str(workdir / "two"))
    assert pulled.digest == two.digest and snapshot(workdir / "two" / "results") == snapshot(workdir / "results")


def test_a_missing_source_is_said_naming_both_sides(registry, other_registry, client, ref):
    r = cli("cp", f"{ref.registry}/{ref.repository}:nothing", f"{other_registry.host}/copies/none", "--plain-http",
            env={"ORAS_TO_USER": "writer", "ORAS_TO_PASS": "s3cret"})
    assert r.exit_code == 1
    assert r.stderr.startswith(f"error: copy {ref.registry}/{ref.repository}:nothing: not found: ")
    assert r.stderr.strip().endswith(f"(copying {ref.registry}/{ref.repository} to {other_registry.host}/copies/none)")


@pytest.fixture
def api_registry():
    """A registry that serves the referrers API (go-containerregistry's)."""
    proc = start_registry(REFERRERS_API)
    yield proc
    proc.stop()


def test_cp_takes_the_provenance_statement_along_and_leaves_a_referrer_about_another(
        registry, other_registry, api_registry, client, ref, workdir):
    """A push by hand attaches a statement; a copy out keeps saying where the artifact came from, to a
    registry without the referrers API (the sha256-<hex> index) and to one with it. A referrer listed
    under the artifact but about another (anyone may write the index) is not copied, and said so."""
    (workdir / "a.txt").write_text("a")
    assert cli("push", f"{ref}", "a.txt", "--plain-http").exit_code == 0
    digest = client.resolve(ref.repository, ref.tag, what="t")
    (workdir / "b.txt").write_text("b")
    assert cli("push", f"{ref.registry}/{ref.repository}:other", "b.txt", "--plain-http").exit_code == 0
    other = client.resolve(ref.repository, "other", what="t")
    [about_other] = referrers(client, ref.repository, other)
    index_in_tag(client, ref.repository, digest, about_other)  # listed under the artifact, about another

    writer = {"ORAS_TO_USER": "writer", "ORAS_TO_PASS": "s3cret"}
    r = cli("cp", f"{ref}", f"{other_registry.host}/copies/hand", "--plain-http", "-o", "json", env=writer)
    assert r.exit_code == 0, r.stderr
    copied = json.loads(r.stdout)
    assert copied["referrers"] == 1
    assert copied["referrersNotCopied"] == [{"digest": about_other["digest"], "problem": (
        f"copy referrer {ref.repository}@{about_other['digest']}: its subject is {other}, not {digest}")}]
    assert f"warning: not copied: copy referrer {ref.repository}@{about_other['digest']}: its subject" in r.stderr

    for host, env in ((other_registry.host, {"ORAS_USER": "writer", "ORAS_PASS": "s3cret"}), (api_registry.host, None)):
        if env is None:
            r = cli("cp", f"{ref}", f"{host}/copies/hand", "--plain-http", "-o", "json")
            assert r.exit_code == 0 and json.loads(r.stdout)["referrers"] == 1, r.stderr
        shown = cli("inspect", f"{host}/copies/hand:{ref.tag}", "--plain-http", "-o", "json", env=env)
        assert shown.exit_code == 0, shown.stderr
        found = json.loads(shown.stdout)
        assert found["digest"] == digest
        [statement] = found["provenance"]["statements"]  # the one about the artifact, and no other
        assert statement["subject"][0]["digest"] == {"sha256": digest.removeprefix("sha256:")}
        assert statement["predicate"]["buildDefinition"]["internalParameters"] == {"pushedBy": "local user"}
    text = cli("cp", f"{ref}", f"{api_registry.host}/copies/hand:again", "--plain-http").stdout
    assert "Referrers: 1 copied, 1 not (see above)" in text


def test_cp_of_an_artifact_whose_referrers_are_listed_wrong_or_twice_copies_it_and_says_what_was_not(
        registry, other_registry, client, ref, workdir):
    """Anyone who can push to a repository can write a sha256-<hex> tag: the artifact is copied
    whatever it holds, each referrer once, and what could not be done is said."""
    writer = {"ORAS_TO_USER": "writer", "ORAS_TO_PASS": "s3cret"}
    there = RegistryClient(other_registry.host, plain_http=True, credentials=Credentials("writer", "s3cret"))
    (workdir / "a.txt").write_text("a")
    assert cli("push", f"{ref}", "a.txt", "--plain-http").exit_code == 0
    digest = client.resolve(ref.repository, ref.tag, what="t")
    [statement] = referrers(client, ref.repository, digest)
    index_in_tag(client, ref.repository, digest, {**statement, "annotations": {"again": "1"}})  # listed twice
    index, _, _ = client.fetch_manifest(ref.repository, fallback_tag(digest), what="t")
    assert len(index["manifests"]) == 1  # index_in_tag keeps one entry a digest: write two by hand
    client.put_manifest(ref.repository, fallback_tag(digest), json.dumps(
        {**index, "manifests": [statement, statement]}).encode(), media_type=INDEX_MEDIA_TYPE)

    # The destination's own sha256-<hex> tag taken by something that is no index.
    there.upload_blob_bytes("copies/twice", b"{}", EMPTY_DIGEST)
    there.put_manifest("copies/twice", fallback_tag(digest), EMPTY_MANIFEST)
    r = cli("cp", f"{ref}", f"{other_registry.host}/copies/twice", "--plain-http", "-o", "json", env=writer)
    assert r.exit_code == 0, r.stderr
    copied = json.loads(r.stdout)
    assert copied["digest"] == digest and copied["referrers"] == 0
    [left] = copied["referrersNotCopied"]  # the statement once, though listed twice
    assert left["digest"] == statement["digest"]
    assert "put at the destination by digest, but not listed there" in left["problem"]
    assert "is not an image index of referrers" in left["problem"]

    # The source's sha256-<hex> tag put on the artifact itself: no list of referrers at all.
    client.put_manifest(ref.repository, fallback_tag(digest), manifest_bytes(client, ref))
    r = cli("cp", f"{ref}", f"{other_registry.host}/copies/listless", "--plain-http", "-o", "json", env=writer)
    assert r.exit_code == 0, r.stderr
    copied = json.loads(r.stdout)
    assert copied["digest"] == digest and copied["referrers"] == 0
    [left] = copied["referrersNotCopied"]
    assert left["digest"] == digest and left["problem"].endswith("(the artifact is copied, its referrers not)")
    assert "warning: not copied: list the referrers of" in r.stderr
    assert there.resolve("copies/listless", ref.tag, what="t") == digest
