"""Our engine against real registry processes: what goes in comes out, byte for byte."""

import json
import os

from kubectl_oras.oci.manifest import ANNOTATION_CREATED
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from tests.support.trees import make_tree, snapshot


def test_files_and_a_directory_round_trip(client, ref, workdir):
    make_tree(workdir / "results")
    (workdir / "pancakes.txt").write_text("blueberry\n")
    (workdir / "big.bin").write_bytes(os.urandom(9 << 20))  # above the hash-first threshold: streamed
    result = push_artifact(client, ref, ["pancakes.txt", "results", "big.bin"], annotations={"step": "breakfast"})
    titles = [layer.annotations["org.opencontainers.image.title"] for layer in result.layers]
    assert titles == ["pancakes.txt", "results", "big.bin"]

    out = workdir / "out"
    pulled = pull_artifact(client, ref, str(out))
    assert pulled.digest == result.digest
    assert (out / "pancakes.txt").read_text() == "blueberry\n"
    assert (out / "big.bin").read_bytes() == (workdir / "big.bin").read_bytes()
    assert snapshot(out / "results") == snapshot(workdir / "results")
    assert [p for p in os.listdir(out) if p.startswith(".")] == []  # no staging left behind

    manifest, _, digest = client.fetch_manifest(ref.repository, ref.tag, what="check")
    assert digest == result.digest
    assert manifest["annotations"]["step"] == "breakfast"
    assert ANNOTATION_CREATED in manifest["annotations"]


def test_nested_relative_paths_keep_their_place(client, ref, workdir):
    (workdir / "a" / "b").mkdir(parents=True)
    (workdir / "a" / "b" / "c.txt").write_text("deep")
    push_artifact(client, ref, ["a/b/c.txt"])
    pull_artifact(client, ref, str(workdir / "out"))
    assert (workdir / "out" / "a" / "b" / "c.txt").read_text() == "deep"


def test_absolute_paths_are_titled_by_their_name(client, ref, tmp_path):
    (tmp_path / "abs.txt").write_text("x")
    result = push_artifact(client, ref, [str(tmp_path / "abs.txt")])
    assert result.layers[0].annotations["org.opencontainers.image.title"] == "abs.txt"


def test_a_second_push_of_unchanged_content_sends_no_blob(client, ref, workdir, tmp_path):
    from kubectl_oras.oci.digest_cache import DigestCache

    make_tree(workdir / "results")
    (workdir / "big.bin").write_bytes(os.urandom(9 << 20))
    cache = DigestCache(str(tmp_path / "digests"))
    first = push_artifact(client, ref, ["results", "big.bin"], cache=cache)
    assert first.bytes_sent >= 9 << 20 and first.blobs_skipped == 0
    second = push_artifact(client, ref.with_tag("v2"), ["results", "big.bin"], cache=cache)
    assert second.bytes_sent == 0 and second.blobs_skipped == 2
    assert [layer.digest for layer in second.layers] == [layer.digest for layer in first.layers]


def test_include_pulls_only_matching_layers(client, ref, workdir):
    for name in ("a.txt", "b.log", "c.txt"):
        (workdir / name).write_text(name)
    push_artifact(client, ref, ["a.txt", "b.log", "c.txt"])
    pulled = pull_artifact(client, ref, str(workdir / "out"), include=["*.txt"])
    assert sorted(f.title for f in pulled.files) == ["a.txt", "c.txt"]
    assert sorted(os.listdir(workdir / "out")) == ["a.txt", "c.txt"]


def test_no_unpack_keeps_the_directory_archive(client, ref, workdir):
    import tarfile

    make_tree(workdir / "results")
    push_artifact(client, ref, ["results"])
    pull_artifact(client, ref, str(workdir / "out"), unpack=False)
    assert os.listdir(workdir / "out") == ["results.tar.gz"]
    with tarfile.open(workdir / "out" / "results.tar.gz") as tar:
        assert "results/metrics.json" in tar.getnames()


def test_pull_by_digest_over_an_earlier_pull_merges_into_it(client, ref, workdir):
    make_tree(workdir / "results")
    result = push_artifact(client, ref, ["results"])
    out = workdir / "out"
    (out / "results").mkdir(parents=True)
    (out / "results" / "stale.txt").write_text("from an earlier run")
    (out / "results" / "metrics.json").write_text("an older version")
    pull_artifact(client, ref.__class__(ref.registry, ref.repository, None, result.digest), str(out))
    # As the Go oras CLI: the artifact's files replace same-named ones, the other files stay.
    assert snapshot(out / "results") == {**snapshot(workdir / "results"),
                                         "stale.txt": ("file", b"from an earlier run", False)}


def test_an_empty_file_and_an_empty_directory_round_trip(client, ref, workdir):
    (workdir / "empty.txt").write_bytes(b"")
    (workdir / "nothing").mkdir()
    push_artifact(client, ref, ["empty.txt", "nothing"])
    pull_artifact(client, ref, str(workdir / "out"))
    assert (workdir / "out" / "empty.txt").read_bytes() == b""
    assert os.listdir(workdir / "out" / "nothing") == []


def test_the_manifest_is_valid_json_with_our_config(client, ref, workdir):
    (workdir / "x").write_text("x")
    push_artifact(client, ref, ["x"], artifact_type="application/vnd.example.metrics.v1")
    raw = client.request("GET", f"/v2/{ref.repository}/manifests/{ref.tag}", what="raw",
                         headers={"Accept": "application/vnd.oci.image.manifest.v1+json"}).content
    manifest = json.loads(raw)
    assert manifest["artifactType"] == "application/vnd.example.metrics.v1"
    assert manifest["config"]["mediaType"] == "application/vnd.oci.empty.v1+json"
