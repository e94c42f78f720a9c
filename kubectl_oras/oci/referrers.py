"""Referrers: an artifact attached to another by its manifest's ``subject`` (distribution-spec 1.1).

``attach`` pushes one (a blob and a manifest by digest). A registry that serves the referrers
API answers the manifest's PUT with an ``OCI-Subject`` header and indexes it itself; on one that
does not, the referrer is added to the image index tagged ``sha256-<hex of the subject>``, the
tag schema that stands in for the API (retention deletes it once its subject's tags are all gone:
retention/choice.py).
``referrers`` reads them back the same two ways.

The distribution spec has each descriptor the referrers API lists carry its manifest's
``artifactType``, and only a manifest without one its config's media type. go-containerregistry's
registry (v0.22.1, the tests' registry that serves the API: docs/provenance.md) lists the config's
media type always, so a referrer with an empty config is listed as
``application/vnd.oci.empty.v1+json``; ``referrers`` reads such a referrer's manifest for its own.
"""

from __future__ import annotations

import io
import json
from dataclasses import dataclass
from typing import Any

import requests
import urllib3

from ..errors import OrasError
from .client import MAX_MANIFEST_BYTES, RegistryClient, read_small_answer
from .digests import sha256_digest
from .errors import AuthenticationFailed, DeadlineExceeded, RegistryError, RegistryUnreachable, UnsupportedArtifact
from .manifest import (
    EMPTY_CONFIG,
    EMPTY_CONFIG_BLOB,
    EMPTY_MEDIA_TYPE,
    INDEX_MEDIA_TYPE,
    MANIFEST_MEDIA_TYPE,
    Blob,
    encode_manifest,
)
from .reference import DIGEST_RE

MAX_REFERRER_BYTES = 1 << 20  # a referrer's blob read back (a statement, a signature) is a few KiB


@dataclass(frozen=True)
class Attached:
    digest: str  # the referrer's manifest
    indexed_by: str  # "the referrers API" or "tag sha256-<hex>"


def fallback_tag(digest: str) -> str:
    """The tag schema's tag for the referrers of ``digest``: ``sha256-<hex>``."""
    return digest.replace(":", "-", 1)


def attach(client: RegistryClient, repository: str, subject: dict[str, Any], *, artifact_type: str,
           payload: bytes, annotations: dict[str, str] | None = None) -> Attached:
    """``payload`` as a one-layer artifact whose ``subject`` is the descriptor ``subject``."""
    layer = Blob(artifact_type, sha256_digest(payload), len(payload))
    if not client.blob_exists(repository, layer.digest):
        client.upload_blob_bytes(repository, payload, layer.digest)
    if not client.blob_exists(repository, EMPTY_CONFIG_BLOB.digest):
        client.upload_blob_bytes(repository, EMPTY_CONFIG, EMPTY_CONFIG_BLOB.digest)
    manifest: dict[str, Any] = {
        "schemaVersion": 2, "mediaType": MANIFEST_MEDIA_TYPE, "artifactType": artifact_type,
        "config": EMPTY_CONFIG_BLOB.descriptor(), "layers": [layer.descriptor()],
        "subject": {k: subject[k] for k in ("mediaType", "digest", "size")},
        **({"annotations": annotations} if annotations else {}),
    }
    body = encode_manifest(manifest)
    digest = sha256_digest(body)
    answer = client.put_manifest(repository, digest, body)
    if answer.headers.get("OCI-Subject") == subject["digest"]:
        return Attached(digest, "the referrers API")
    tag = index_in_tag(client, repository, subject["digest"], {
        "mediaType": MANIFEST_MEDIA_TYPE, "digest": digest, "size": len(body), "artifactType": artifact_type,
        **({"annotations": annotations} if annotations else {})})
    return Attached(digest, f"tag {tag}")


def index_in_tag(client: RegistryClient, repository: str, subject: str, descriptor: dict[str, Any]) -> str:
    """List the referrer ``descriptor`` in the tag schema's index of ``subject`` (a digest), in
    place of any entry of the same digest: the tag it wrote. A read, then a write (docs/provenance.md)."""
    tag = fallback_tag(subject)
    index = _fallback_index(client, repository, tag)
    listed = [d for d in index["manifests"] if isinstance(d, dict) and d.get("digest") != descriptor["digest"]]
    listed.append(descriptor)
    client.put_manifest(repository, tag, encode_manifest({**index, "manifests": listed}), media_type=INDEX_MEDIA_TYPE)
    return tag


def _fallback_index(client: RegistryClient, repository: str, tag: str) -> dict[str, Any]:
    if client.resolve(repository, tag, what=f"look for {repository}:{tag}") is None:
        return {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": []}
    index, media_type, _ = client.fetch_manifest(repository, tag, what=f"read the referrers of {repository} ({tag})")
    if media_type != INDEX_MEDIA_TYPE or not isinstance(index.get("manifests"), list):
        raise UnsupportedArtifact(f"{repository}:{tag} is not an image index of referrers ({media_type}); "
                                  "the tag schema's tag is taken by something else")
    return index


def referrers(client: RegistryClient, repository: str, digest: str) -> list[dict[str, Any]]:
    """The descriptors of what refers to ``digest``: from the referrers API where the registry
    serves it, else from the tag schema's index (none when neither has any)."""
    what = f"list the referrers of {repository}@{digest}"
    answer = client.request("GET", f"/v2/{repository}/referrers/{digest}", what=what, ok=(200, 404), stream=True,
                            headers={"Accept": INDEX_MEDIA_TYPE})
    with answer:
        from_api = answer.status_code == 200 and answer.headers.get("Content-Type", "").startswith(INDEX_MEDIA_TYPE)
        if from_api:
            try:
                body = read_small_answer(answer, what, limit=MAX_MANIFEST_BYTES,
                                         too_big=lambda _: RegistryError(f"{what}: the answer is too big"))
            except (requests.ConnectionError, requests.Timeout, urllib3.exceptions.HTTPError) as e:
                raise client.transport.unreachable(e, what) from e
            try:
                index = json.loads(body)
            except ValueError:
                raise RegistryError(f"{what}: the registry's answer is not JSON") from None
        else:
            tag = fallback_tag(digest)
            if client.resolve(repository, tag, what=what) is None:
                return []
            index, _, _ = client.fetch_manifest(repository, tag, what=f"{what} ({tag})")
    manifests = index.get("manifests") if isinstance(index, dict) else None
    if not isinstance(manifests, list):
        raise RegistryError(f"{what}: the index's manifests are not a list")
    # a descriptor whose digest is no digest names nothing to read (and one could aim a read elsewhere)
    found = [d for d in manifests
             if isinstance(d, dict) and isinstance(d.get("digest"), str) and DIGEST_RE.fullmatch(d["digest"])]
    if not from_api:
        return found
    return [_with_own_artifact_type(client, repository, d) if lists_config_type(d) else d for d in found]


def lists_config_type(descriptor: dict[str, Any]) -> bool:
    """Whether the referrers API listed ``descriptor`` with no artifact type of its own: none, or
    the empty config's media type (what a registry that lists config media types puts)."""
    return descriptor.get("artifactType") in (None, "", EMPTY_MEDIA_TYPE)


def _with_own_artifact_type(client: RegistryClient, repository: str, descriptor: dict[str, Any]) -> dict[str, Any]:
    """``descriptor`` with its manifest's own artifact type; as listed when the manifest cannot be
    read (deleted since the listing, another digest's bytes, too big): a referrer is anyone's to
    push, and one bad referrer must not hide the others. A registry that cannot be reached, or
    refuses us, still stops the listing."""
    try:
        manifest, _, _ = client.fetch_manifest(repository, descriptor["digest"],
                                               what=f"read referrer {repository}@{descriptor['digest']}")
    except (RegistryUnreachable, DeadlineExceeded, AuthenticationFailed):
        raise
    except OrasError:
        return descriptor
    own = manifest.get("artifactType")
    return {**descriptor, "artifactType": own} if isinstance(own, str) and own else descriptor


def read_referrer(client: RegistryClient, repository: str, descriptor: dict[str, Any]) -> bytes:
    """The one layer of a referrer (a statement, say), verified, at most MAX_REFERRER_BYTES."""
    what = f"read referrer {repository}@{descriptor['digest']}"
    manifest, _, _ = client.fetch_manifest(repository, descriptor["digest"], what=what)
    layers = manifest.get("layers")
    if not isinstance(layers, list) or len(layers) != 1 or not isinstance(layers[0], dict):
        raise UnsupportedArtifact(f"{what}: it has no single layer to read")
    size, digest = layers[0].get("size"), layers[0].get("digest")
    if not isinstance(size, int) or not isinstance(digest, str) or not 0 <= size <= MAX_REFERRER_BYTES:
        raise UnsupportedArtifact(f"{what}: its layer is not a blob of at most {MAX_REFERRER_BYTES >> 20} MiB")
    out = io.BytesIO()
    client.download_blob(repository, digest, size, out)
    return out.getvalue()
