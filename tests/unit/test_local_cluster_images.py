"""The local cluster's image archives read back: the name `ctr images import` gives their image,
and the name that pins it by its manifest's digest (the tier-3 DAG's steps run it so)."""

from __future__ import annotations

import hashlib
import tarfile

import pytest

from localcluster.images import Image, archive_index, image_name, manifest_digest, pinned_name, write_oci_archive

DIGEST = "sha256:" + "ab" * 32


def index(*names: str) -> dict:
    return {"schemaVersion": 2, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": DIGEST, "size": 1,
         "annotations": {"io.containerd.image.name": name}} for name in names]}


def test_the_pinned_name_is_the_repository_by_the_manifests_digest_its_tag_dropped():
    assert manifest_digest(index("localhost/kubectl-oras-test/shell:1")) == DIGEST
    assert pinned_name(index("localhost/kubectl-oras-test/shell:1")) == f"localhost/kubectl-oras-test/shell@{DIGEST}"
    assert pinned_name(index("reg.example:5000/lab/sim:2.1")) == f"reg.example:5000/lab/sim@{DIGEST}"  # a port stays
    assert pinned_name(index("reg.example:5000/lab/sim")) == f"reg.example:5000/lab/sim@{DIGEST}"


@pytest.mark.parametrize("names", [(), ("a/b:1", "a/c:1")])
def test_an_index_without_exactly_one_manifest_is_refused_saying_how_many_it_lists(names):
    with pytest.raises(ValueError, match=f"lists {len(names)} manifests, not one"):
        manifest_digest(index(*names))


def test_an_archive_written_here_is_pinned_by_the_digest_of_the_manifest_it_holds(tmp_path):
    image = Image("localhost/kubectl-oras-test/tiny:1", {"etc/motd": "hello\n"}, cmd=["sh"])
    archive = write_oci_archive(image, tmp_path / "tiny.tar")
    read = archive_index(archive)
    assert image_name(read) == image.name
    digest = manifest_digest(read)
    with tarfile.open(archive) as tar:
        member = tar.extractfile(f"blobs/sha256/{digest.partition(':')[2]}")
        assert member is not None
        manifest = member.read()
    assert "sha256:" + hashlib.sha256(manifest).hexdigest() == digest
    assert b'"application/vnd.oci.image.manifest.v1+json"' in manifest
    assert pinned_name(read) == f"localhost/kubectl-oras-test/tiny@{digest}"
