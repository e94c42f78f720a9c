"""A provenance statement attached as a referrer: on a registry that serves the referrers API and
on one that does not (the tag schema's ``sha256-<hex>`` index)."""

from __future__ import annotations

from kubectl_oras.oci.manifest import MANIFEST_MEDIA_TYPE, encode_manifest
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.referrers import attach, fallback_tag, read_referrer, referrers
from kubectl_oras.provenance import statement

# What each registry does with GET /v2/<name>/referrers/<digest> (docs/provenance.md): neither
# distribution 2.8 nor v3.0 routes it (404 page not found), nor answers a PUT with OCI-Subject.
SERVES_REFERRERS_API = {"distribution-2.8": False, "distribution-3": False}


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
    if SERVES_REFERRERS_API[registry.kind]:
        assert attached.indexed_by == "the referrers API" and fallback_tag(pushed.digest) not in tags
    else:
        assert attached.indexed_by == f"tag {fallback_tag(pushed.digest)}" and fallback_tag(pushed.digest) in tags
    found = referrers(client, ref.repository, pushed.digest)
    assert [(d["digest"], d.get("artifactType")) for d in found] == [(attached.digest, statement.MEDIA_TYPE)]
    assert read_referrer(client, ref.repository, found[0]) == payload
    again = attach(client, ref.repository, subject_of(pushed), artifact_type=statement.MEDIA_TYPE, payload=b"{}")
    assert {d["digest"] for d in referrers(client, ref.repository, pushed.digest)} == {attached.digest, again.digest}


def test_an_artifact_without_referrers_has_none(client, ref, workdir):
    (workdir / "f").write_text("f")
    pushed = push_artifact(client, ref, [str(workdir / "f")])
    assert referrers(client, ref.repository, pushed.digest) == []


def test_a_registry_that_serves_the_referrers_api_indexes_the_statement_itself(workdir):
    from kubectl_oras.oci.client import RegistryClient
    from kubectl_oras.oci.reference import Reference
    from tests.support.referrers_registry import ReferrersRegistry

    fake = ReferrersRegistry().start()
    try:
        client = RegistryClient(fake.host, plain_http=True, retries=0)
        (workdir / "f").write_text("f")
        pushed = push_artifact(client, Reference(fake.host, "exp/x", "v1"), [str(workdir / "f")])
        attached = attach(client, "exp/x", subject_of(pushed), artifact_type=statement.MEDIA_TYPE, payload=b"{}")
        assert attached.indexed_by == "the referrers API"
        assert ("exp/x", fallback_tag(pushed.digest)) not in fake.manifests  # no tag schema's index
        found = referrers(client, "exp/x", pushed.digest)
        assert [d["digest"] for d in found] == [attached.digest]
        assert read_referrer(client, "exp/x", found[0]) == b"{}"
    finally:
        fake.stop()
