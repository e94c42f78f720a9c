"""OCI artifact manifests as plain dicts: media types, annotations and how we build them.

Conventions follow image-spec v1.1 and what the Go ``oras`` CLI writes, so either side can pull
what the other pushed (see docs/artifacts.md).
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from typing import Any

from ..times import format_rfc3339
from .defaults import DEFAULT_ARTIFACT_TYPE
from .digests import sha256_digest
from .errors import UnsupportedArtifact
from .reference import DIGEST_RE

MANIFEST_MEDIA_TYPE = "application/vnd.oci.image.manifest.v1+json"
INDEX_MEDIA_TYPE = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST_MEDIA_TYPE = "application/vnd.docker.distribution.manifest.list.v2+json"
ACCEPTED_MANIFEST_TYPES = (MANIFEST_MEDIA_TYPE, DOCKER_MANIFEST_MEDIA_TYPE, INDEX_MEDIA_TYPE, DOCKER_LIST_MEDIA_TYPE)

FILE_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar"
DIRECTORY_MEDIA_TYPE = "application/vnd.oci.image.layer.v1.tar+gzip"
EMPTY_MEDIA_TYPE = "application/vnd.oci.empty.v1+json"
EMPTY_CONFIG = b"{}"

ANNOTATION_TITLE = "org.opencontainers.image.title"
ANNOTATION_CREATED = "org.opencontainers.image.created"
# The uid of the Job whose pod pushed the artifact (the sidecar writes it: agent/outputs.py): the
# tags one run of a fan-out wrote are one run to retention (docs/retention.md, keepLastRuns).
ANNOTATION_JOB = "dev.kubectl-oras.job"
ANNOTATION_UNPACK = "io.deis.oras.content.unpack"
ANNOTATION_CONTENT_DIGEST = "io.deis.oras.content.digest"


@dataclass(frozen=True)
class Blob:
    """A descriptor: what the manifest says about one blob."""

    media_type: str
    digest: str
    size: int
    annotations: dict[str, str] = field(default_factory=dict)

    def descriptor(self) -> dict[str, Any]:
        d: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest, "size": self.size}
        if self.annotations:
            d["annotations"] = dict(self.annotations)
        return d


EMPTY_CONFIG_BLOB = Blob(EMPTY_MEDIA_TYPE, sha256_digest(EMPTY_CONFIG), len(EMPTY_CONFIG))


def file_layer(*, title: str, digest: str, size: int) -> Blob:
    return Blob(FILE_MEDIA_TYPE, digest, size, {ANNOTATION_TITLE: title})


def directory_layer(*, title: str, digest: str, size: int, tar_digest: str) -> Blob:
    return Blob(
        DIRECTORY_MEDIA_TYPE,
        digest,
        size,
        {ANNOTATION_TITLE: title, ANNOTATION_UNPACK: "true", ANNOTATION_CONTENT_DIGEST: tar_digest},
    )


def build_manifest(
    *,
    layers: list[Blob],
    artifact_type: str = DEFAULT_ARTIFACT_TYPE,
    annotations: dict[str, str] | None = None,
    created: _dt.datetime | None = None,
    config: Blob = EMPTY_CONFIG_BLOB,
) -> dict[str, Any]:
    """An image-spec v1.1 artifact manifest: empty config, artifactType set, created stamped.

    User annotations win over ours, except that ``created`` is always present.
    """
    merged = {ANNOTATION_CREATED: format_rfc3339(created or _dt.datetime.now(_dt.UTC))}
    merged.update(annotations or {})
    return {
        "schemaVersion": 2,
        "mediaType": MANIFEST_MEDIA_TYPE,
        "artifactType": artifact_type,
        "config": config.descriptor(),
        "layers": [layer.descriptor() for layer in layers],
        "annotations": merged,
    }


def encode_manifest(manifest: dict[str, Any]) -> bytes:
    """Canonical bytes: what we upload is what we digest."""
    return json.dumps(manifest, separators=(",", ":"), sort_keys=False).encode()


def layers_of(manifest: dict[str, Any], *, what: str) -> list[Blob]:
    """The layer descriptors of ``manifest``, each field checked for its type.

    A registry (or whoever pushed) may send anything: a field of the wrong type is an
    UnsupportedArtifact naming the field, ``what`` says which request got it.
    """
    layers = manifest.get("layers")
    if layers is None:
        return []
    if not isinstance(layers, list):
        raise _malformed(what, "layers", layers, "a list of descriptors")
    return [_descriptor(layer, f"layers[{index}]", what=what) for index, layer in enumerate(layers)]


def _malformed(what: str, where: str, value: Any, expected: str) -> UnsupportedArtifact:
    shown = repr(value) if len(repr(value)) <= 80 else repr(value)[:77] + "..."
    return UnsupportedArtifact(f"{what}: the manifest's {where} is {shown}, not {expected}")


def _descriptor(layer: Any, where: str, *, what: str) -> Blob:
    if not isinstance(layer, dict):
        raise _malformed(what, where, layer, "a descriptor (a JSON object)")
    media_type = layer.get("mediaType", "")
    if not isinstance(media_type, str):
        raise _malformed(what, f"{where}.mediaType", media_type, "a string")
    digest = layer.get("digest")
    if not isinstance(digest, str) or not DIGEST_RE.fullmatch(digest):
        raise _malformed(what, f"{where}.digest", digest, "a digest (sha256:<64 hex> or sha512:<128 hex>)")
    size = layer.get("size")
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _malformed(what, f"{where}.size", size, "a size in bytes (a whole number)")
    annotations = layer.get("annotations") or {}
    if not isinstance(annotations, dict):
        raise _malformed(what, f"{where}.annotations", annotations, "a JSON object of strings")
    for key, value in annotations.items():
        if not isinstance(value, str):
            raise _malformed(what, f"{where}.annotations[{key!r}]", value, "a string")
    return Blob(media_type, digest, size, dict(annotations))
