"""A provenance statement attached as a referrer: on a registry that serves the referrers API
(go-containerregistry's) and on ones that do not (both distributions: the tag schema's
``sha256-<hex>`` index)."""

from __future__ import annotations

import pytest

from kubectl_oras.oci.manifest import MANIFEST_MEDIA_TYPE, encode_manifest
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.referrers import attach, fallback_tag, read_referrer, referrers
from kubectl_oras.provenance import statement
from tests.support.registries import REFERRERS_API, REFERRERS_KINDS, start_referrers_registry, start_registry

# What each registry does (docs/provenance.md): whether it lists referrers at
# GET /v2/<name>/referrers/<digest>, and whether it answers the PUT of a manifest with a subject with
# OCI-Subject. Neither distribution 2.8 nor v3.0 routes the first (404 page not found);
# go-containerregistry's does, but answers the PUT without OCI-Subject, so a client attaches the
# tag schema's index there too (the distribution spec: no OCI-Subject, no referrers API assumed).
SERVES_REFERRERS_API = {"distribution-2.8": False, "distribution-3": False, "go-containerregistry": True}
ANSWERS_OCI_SUBJECT = {"distribution-2.8": False, "distribution-3": False, "go-containerregistry": False}


@pytest.fixture(scope="module", params=REFERRERS_KINDS)
def registry(request):
    proc = start_registry(request.param)
    yield proc
    proc.stop()


def subject_of(pushed) -> dict:
    return {"mediaType": MANIFEST_MEDIA_TYPE, "digest": pushed.digest, "size": len(encode_manifest(pushed.manifest))}


def test_which_registry_serves_the_referrers_api(client, ref, workdir, registry):
    (workdir / "f").write_text("f")
    pushed = push_artifact(client, ref, [str(workdir / "f")])
    answer = client.request("GET", f"/v2/{ref.repository}/referrers/{pushed.digest}", what="referrers", ok=(200, 404))
    assert (answer.status_code == 200) == SERVES_REFERRERS_API[registry.kind]


def test_a_statement_is_attached_and_read_back(client, ref, workdir, registry):
    (workdir / "f").write_text("f")
    pushed = push_artifact(client, ref, [str(workdir / "f")])
    payload = b'{"_type":"x"}'
    attached = attach(client, ref.repository, subject_of(pushed), artifact_type=statement.MEDIA_TYPE, payload=payload)
    tags = client.list_tags(ref.repository)
    if ANSWERS_OCI_SUBJECT[registry.kind]:
        assert attached.indexed_by == "the referrers API" and fallback_tag(pushed.digest) not in tags
    else:
        assert attached.indexed_by == f"tag {fallback_tag(pushed.digest)}" and fallback_tag(pushed.digest) in tags
    found = referrers(client, ref.repository, pushed.digest)
    assert [(d["digest"], d.get("artifactType")) for d in found] == [(attached.digest, statement.MEDIA_TYPE)]
    assert read_referrer(client, ref.repository, found[0]) == payload
    again = attach(client, ref.repository, subject_of(pushed), artifact_type=statement.MEDIA_TYPE, payload=b"{}")
    assert {d["digest"] for d in referrers(client, ref.repository, pushed.digest)} == {attached.digest, again.digest}


@pytest.mark.parametrize("registry", [REFERRERS_API], indirect=True)
def test_the_referrers_api_lists_them_without_the_tag_schemas_index(client, ref, workdir, registry):
    """Where the API serves them, reading goes through it: the fallback tag deleted, both referrers
    are still found, each with its own artifact type (go-containerregistry lists the empty config's)."""
    (workdir / "f").write_text("f")
    pushed = push_artifact(client, ref, [str(workdir / "f")])
    one = attach(client, ref.repository, subject_of(pushed), artifact_type=statement.MEDIA_TYPE, payload=b"{}")
    other = attach(client, ref.repository, subject_of(pushed), artifact_type="application/example", payload=b"x")
    assert client.delete_manifest(ref.repository, fallback_tag(pushed.digest)).status_code == 202
    assert fallback_tag(pushed.digest) not in client.list_tags(ref.repository)
    found = referrers(client, ref.repository, pushed.digest)
    assert sorted((d["digest"], d["artifactType"]) for d in found) == sorted(
        [(one.digest, statement.MEDIA_TYPE), (other.digest, "application/example")])


def test_the_referrers_api_behind_basic_auth(workdir):
    """go-containerregistry's registry started with a user: the referrers are listed to that user
    alone (the challenge answered), and refused without credentials."""
    from kubectl_oras.oci.auth import Credentials
    from kubectl_oras.oci.client import RegistryClient
    from kubectl_oras.oci.errors import AuthenticationFailed
    from kubectl_oras.oci.reference import Reference

    secured = start_referrers_registry(user_password="alice:s3cret")
    try:
        client = RegistryClient(secured.host, plain_http=True, retries=0, docker_config=False,
                                credentials=Credentials("alice", "s3cret"))
        (workdir / "f").write_text("f")
        pushed = push_artifact(client, Reference(secured.host, "exp/x", "v1"), [str(workdir / "f")])
        attached = attach(client, "exp/x", subject_of(pushed), artifact_type=statement.MEDIA_TYPE, payload=b"{}")
        client.delete_manifest("exp/x", fallback_tag(pushed.digest))
        assert [d["digest"] for d in referrers(client, "exp/x", pushed.digest)] == [attached.digest]
        anonymous = RegistryClient(secured.host, plain_http=True, retries=0, docker_config=False)
        with pytest.raises(AuthenticationFailed):
            referrers(anonymous, "exp/x", pushed.digest)
    finally:
        secured.stop()


def test_an_artifact_without_referrers_has_none(client, ref, workdir):
    (workdir / "f").write_text("f")
    pushed = push_artifact(client, ref, [str(workdir / "f")])
    assert referrers(client, ref.repository, pushed.digest) == []


@pytest.fixture
def fake(workdir):
    """tests/support/referrers_registry.py, an artifact pushed to it as exp/x:v1: (registry, client, pushed)."""
    from kubectl_oras.oci.client import RegistryClient
    from kubectl_oras.oci.reference import Reference
    from tests.support.referrers_registry import ReferrersRegistry

    registry = ReferrersRegistry().start()
    try:
        client = RegistryClient(registry.host, plain_http=True, retries=0)
        (workdir / "f").write_text("f")
        yield registry, client, push_artifact(client, Reference(registry.host, "exp/x", "v1"), [str(workdir / "f")])
    finally:
        registry.stop()


def test_a_registry_that_answers_oci_subject_indexes_the_statement_itself(fake):
    """No registry the tests run answers a PUT with OCI-Subject (ANSWERS_OCI_SUBJECT above), so
    this branch of attach is shown against tests/support/referrers_registry.py, which does."""
    registry, client, pushed = fake
    attached = attach(client, "exp/x", subject_of(pushed), artifact_type=statement.MEDIA_TYPE, payload=b"{}")
    assert attached.indexed_by == "the referrers API"
    assert ("exp/x", fallback_tag(pushed.digest)) not in registry.manifests  # no tag schema's index
    found = referrers(client, "exp/x", pushed.digest)
    assert [d["digest"] for d in found] == [attached.digest]
    assert read_referrer(client, "exp/x", found[0]) == b"{}"


def test_a_listed_referrer_that_cannot_be_read_is_kept_as_listed(fake):
    """A referrer listed with no type of its own is read for its type; one the registry lists but
    does not serve (deleted since, or never there), or serves with another digest, or whose digest
    is no digest, does not hide the others: the readable ones keep their own type."""
    registry, client, pushed = fake
    attached = attach(client, "exp/x", subject_of(pushed), artifact_type=statement.MEDIA_TYPE, payload=b"{}")
    gone = {"mediaType": MANIFEST_MEDIA_TYPE, "digest": "sha256:" + "0" * 64, "size": 2, "artifactType": ""}
    lying = {"mediaType": MANIFEST_MEDIA_TYPE, "digest": "sha256:" + "1" * 64, "size": 2}
    registry.manifests[("exp/x", lying["digest"])] = (b"{}", MANIFEST_MEDIA_TYPE)  # not what that digest names
    not_a_digest = {"mediaType": MANIFEST_MEDIA_TYPE, "digest": "md5:abc", "size": 2}
    registry.also_listed += [gone, lying, not_a_digest]
    found = referrers(client, "exp/x", pushed.digest)
    assert [(d["digest"], d.get("artifactType")) for d in found] == [
        (attached.digest, statement.MEDIA_TYPE), (gone["digest"], ""), (lying["digest"], None)]
