"""Listing tags and repositories (across pages) and deleting tags without collateral damage."""

import subprocess

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.delete import delete_artifact
from kubectl_oras.oci.errors import DeleteRefused, NotFound
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from tests.support.faulty_proxy import FaultyProxy


def test_tags_are_listed_across_pages(client, ref, workdir):
    (workdir / "f").write_text("f")
    push_artifact(client, ref.with_tag("seed"), ["f"])
    manifest_body = client.request("GET", f"/v2/{ref.repository}/manifests/seed", what="get",
                                   headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).content
    expected = {f"iter-{i}" for i in range(1005)} | {"seed"}
    for tag in expected - {"seed"}:
        client.put_manifest(ref.repository, tag, manifest_body)
    assert set(client.list_tags(ref.repository)) == expected  # more than one 1000-tag page


def test_pagination_follows_the_link_header_page_by_page(client, ref, workdir, registry):
    (workdir / "f").write_text("f")
    for i in range(5):
        push_artifact(client, ref.with_tag(f"t{i}"), ["f"])
        push_artifact(client, Reference(ref.registry, f"{ref.repository}-r{i}", "v1"), ["f"])
    proxy = FaultyProxy(registry.host).start()
    try:
        small_pages = RegistryClient(proxy.host, plain_http=True)
        repos = list(small_pages._paginate("/v2/_catalog?n=2", "repositories", what="t"))
        assert {f"{ref.repository}-r{i}" for i in range(5)} <= set(repos)
        assert sum(1 for _, path, _ in proxy.seen if "/_catalog" in path) >= 3
        tags = list(small_pages._paginate(f"/v2/{ref.repository}/tags/list?n=2", "tags", what="t"))
        assert sorted(tags) == [f"t{i}" for i in range(5)]
        tag_pages = sum(1 for _, path, _ in proxy.seen if "/tags/list" in path)
        # distribution 2.8 ignores n= on tags/list and answers everything at once; v3 pages.
        assert tag_pages == (1 if registry.kind == "distribution-2.8" else 3)
    finally:
        proxy.stop()


def test_repositories_are_listed(client, ref, workdir):
    (workdir / "f").write_text("f")
    push_artifact(client, ref, ["f"])
    push_artifact(client, Reference(ref.registry, ref.repository + "-other", "v1"), ["f"])
    repos = client.list_repositories()
    assert ref.repository in repos and ref.repository + "-other" in repos


def tag_same_manifest(oras, ref, new_tag):
    subprocess.run([oras, "tag", "--plain-http", str(ref), new_tag], check=True, capture_output=True)


def test_deleting_a_tag_leaves_other_tags_on_the_same_manifest(client, ref, oras, workdir, registry):
    (workdir / "f").write_text("f")
    pushed = push_artifact(client, ref, ["f"])
    tag_same_manifest(oras, ref, "also")
    if registry.kind == "distribution-2.8":
        # 2.8 deletes manifests only by digest, which would take "also" with it: we refuse.
        with pytest.raises(DeleteRefused) as e:
            delete_artifact(client, ref)
        assert "also" in str(e.value)
        assert set(client.list_tags(ref.repository)) == {"v1", "also"}
    else:
        deleted = delete_artifact(client, ref)
        assert deleted.by == "tag"
        assert client.list_tags(ref.repository) == ["also"]
        assert client.resolve(ref.repository, "also", what="check") == pushed.digest


def test_deleting_the_only_tag_removes_the_artifact(client, ref, workdir):
    (workdir / "f").write_text("f")
    push_artifact(client, ref, ["f"])
    push_artifact(client, ref.with_tag("other"), ["f"])  # a different manifest (created differs or not)
    other = client.resolve(ref.repository, "other", what="check")
    mine = client.resolve(ref.repository, "v1", what="check")
    if other == mine:  # same second, same manifest: make them differ
        push_artifact(client, ref.with_tag("other"), ["f"], annotations={"x": "y"})
    delete_artifact(client, ref)
    assert client.resolve(ref.repository, "v1", what="check") is None
    assert "other" in client.list_tags(ref.repository)


def test_deleting_a_missing_tag_says_not_found(client, ref, workdir):
    (workdir / "f").write_text("f")
    push_artifact(client, ref, ["f"])
    with pytest.raises(NotFound, match="no such tag"):
        delete_artifact(client, ref.with_tag("nope"))
