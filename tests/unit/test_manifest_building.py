import datetime as dt
import json

from kubectl_oras.oci.digests import sha256_digest
from kubectl_oras.oci.manifest import (
    ANNOTATION_CREATED,
    EMPTY_CONFIG_BLOB,
    build_manifest,
    directory_layer,
    encode_manifest,
    file_layer,
)
from kubectl_oras.oci.push import title_for


def test_artifact_manifest_follows_image_spec_1_1():
    layers = [file_layer(title="a.txt", digest=sha256_digest(b"a"), size=1)]
    m = build_manifest(layers=layers, annotations={"k": "v"}, created=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    assert m["schemaVersion"] == 2
    assert m["artifactType"] == "application/vnd.unknown.artifact.v1"
    assert m["config"] == {"mediaType": "application/vnd.oci.empty.v1+json", "digest": EMPTY_CONFIG_BLOB.digest, "size": 2}
    assert EMPTY_CONFIG_BLOB.digest == "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    assert m["annotations"] == {ANNOTATION_CREATED: "2026-01-02T03:04:05Z", "k": "v"}
    assert m["layers"][0]["annotations"] == {"org.opencontainers.image.title": "a.txt"}


def test_directory_layers_are_marked_for_unpacking_with_their_tar_digest():
    d = directory_layer(title="out", digest="sha256:" + "1" * 64, size=10, tar_digest="sha256:" + "2" * 64).descriptor()
    assert d["mediaType"] == "application/vnd.oci.image.layer.v1.tar+gzip"
    assert d["annotations"]["io.deis.oras.content.unpack"] == "true"
    assert d["annotations"]["io.deis.oras.content.digest"] == "sha256:" + "2" * 64


def test_encoded_manifest_is_json_of_the_dict():
    m = build_manifest(layers=[])
    assert json.loads(encode_manifest(m)) == m


def test_titles_keep_relative_paths_and_drop_absolute_or_climbing_ones():
    assert title_for("results/out.txt") == "results/out.txt"
    assert title_for("./results/") == "results"
    assert title_for("/tmp/work/out.txt") == "out.txt"
    assert title_for("../up/file") == "file"
