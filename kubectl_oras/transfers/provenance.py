"""Provenance through the transfer layer, so a registry by address and a cache by name serve alike:
the statement `kubectl oras push` attaches, and what `inspect`, `lineage` and `tags -l` read
(docs/provenance.md). The engine is imported when a function runs.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from ..errors import OrasError
from ..provenance import record
from ..provenance.lineage import Artifact, Lineage, walk
from ..provenance.record import CLI_BUILDER, Produced, inputs_in, producer_said, read_annotations

if TYPE_CHECKING:
    from ..oci.client import RegistryClient
    from ..oci.push import PushResult
    from .places import Located
    from .session import Session


def attach_push_statement(session: Session, where: Located, result: PushResult, *, pushed_by: str,
                          paths: Sequence[str]) -> str:
    """The statement of a push by hand attached to what it pushed; how it was indexed."""
    from ..oci.manifest import MANIFEST_MEDIA_TYPE, encode_manifest
    from ..oci.referrers import attach
    from ..provenance import statement

    ref = where.reference
    produced = Produced(builder=CLI_BUILDER, pushed_by=pushed_by, paths=tuple(paths))
    document = statement.statement(subject_name=f"{ref.repository}:{ref.tag}", subject_digest=result.digest,
                                   produced=produced)
    subject = {"mediaType": MANIFEST_MEDIA_TYPE, "digest": result.digest, "size": len(encode_manifest(result.manifest))}
    with session.registry(where.place, push=True, what=f"attach the provenance of {where.name}") as client:
        return attach(client, ref.repository, subject, artifact_type=statement.MEDIA_TYPE,
                      payload=statement.encode(document)).indexed_by


def inspect(session: Session, where: Located) -> dict[str, Any]:
    """The manifest, its layers (titles, sizes), its provenance (annotations and statements) and
    every referrer, as plain data."""
    from ..oci.manifest import ANNOTATION_TITLE, layers_of

    ref = where.reference
    with session.registry(where.place, push=False, what=f"inspect {where.name}") as client:
        manifest, media_type, digest = client.fetch_manifest(ref.repository, ref.digest or ref.tag or "latest",
                                                             what=f"inspect {where.name}")
        layers = layers_of(manifest, what=f"inspect {where.name}")
        found = _referrers(client, ref.repository, digest)
        statements = [_statement_of(client, ref.repository, d, digest) for d in found if _is_statement(d)]
    return {
        "reference": where.name, "digest": digest, "mediaType": media_type,
        "artifactType": manifest.get("artifactType", ""), "annotations": manifest.get("annotations") or {},
        "layers": [{"title": layer.annotations.get(ANNOTATION_TITLE, ""), "size": layer.size,
                    "mediaType": layer.media_type, "digest": layer.digest} for layer in layers],
        "provenance": {"annotations": read_annotations(manifest.get("annotations")), "statements": statements},
        "referrers": [{"digest": d["digest"], "artifactType": d.get("artifactType", ""), "size": d.get("size")}
                      for d in found],
    }


def _referrers(client: RegistryClient, repository: str, digest: str) -> list[dict[str, Any]]:
    from ..oci.referrers import referrers

    return referrers(client, repository, digest)


def _is_statement(descriptor: dict[str, Any]) -> bool:
    from ..provenance.statement import MEDIA_TYPE

    return descriptor.get("artifactType") == MEDIA_TYPE


def _statement_of(client: RegistryClient, repository: str, descriptor: dict[str, Any], subject: str) -> dict[str, Any]:
    """A statement about ``subject`` (the artifact's digest), or what was wrong with it: a referrer
    is anyone's to push, and one listed for this artifact may be about another."""
    from ..oci.referrers import read_referrer
    from ..provenance.statement import parse

    what = f"referrer {descriptor['digest']}"
    try:
        read = parse(read_referrer(client, repository, descriptor), what=what)
    except OrasError as e:
        return {"digest": descriptor["digest"], "problem": str(e)}
    if read.subject != subject:
        return {"digest": descriptor["digest"],
                "problem": f"{what}: a statement about {read.subject}, not about this artifact ({subject}): not shown"}
    return read.document


def lineage(session: Session, where: Located) -> Lineage:
    """The artifacts ``where`` came from, through the inputs its statements (else its annotations) name."""
    with session.registry(where.place, push=False, what=f"lineage of {where.name}") as client:
        ref = where.reference
        name = f"{ref.repository}@{ref.digest}" if ref.digest else f"{ref.repository}:{ref.tag or 'latest'}"
        return walk(name, lambda repository, reference: _artifact(client, repository, reference))


def _artifact(client: RegistryClient, repository: str, reference: str) -> Artifact:
    from ..oci.errors import NotFound
    from ..oci.referrers import read_referrer
    from ..provenance.statement import parse

    name = f"{repository}@{reference}" if ":" in reference else f"{repository}:{reference}"
    try:
        manifest, _, digest = client.fetch_manifest(repository, reference, what=f"read {name}")
    except NotFound:
        return Artifact(name, reference, problem="not in the registry")
    annotations = manifest.get("annotations")
    said = read_annotations(annotations)
    inputs = tuple(inputs_in(said.get(record.INPUTS, "")))
    image, provenance, problem = said.get(record.IMAGE, ""), False, ""
    for descriptor in (d for d in _referrers(client, repository, digest) if _is_statement(d)):
        try:
            read = parse(read_referrer(client, repository, descriptor), what=f"referrer {descriptor['digest']}")
        except OrasError as e:
            problem = str(e)
            continue
        if read.subject == digest:
            inputs, image, provenance, problem = read.inputs or inputs, read.image or image, True, ""
            break
    return Artifact(name, digest, producer_said(annotations), image, inputs, provenance, problem)


def long_tags(session: Session, where: Located, *, referrer_tags: bool = False) -> list[dict[str, Any]]:
    """Each tag of a repository (as ``Session.tags`` lists them), with its manifest's created time,
    size (the layers'), producer and exit code."""
    from ..oci.errors import NotFound
    from ..oci.manifest import ANNOTATION_CREATED, layers_of

    ref = where.reference
    rows = []
    listed = session.tags(where, referrer_tags=referrer_tags)  # a repository without a tag, else refused
    with session.registry(where.place, push=False, what=f"read the tags of {where.name}") as client:
        for tag in listed:
            what = f"read {ref.repository}:{tag}"
            try:
                manifest, _, digest = client.fetch_manifest(ref.repository, tag, what=what)
            except NotFound:  # deleted since it was listed
                continue
            annotations = manifest.get("annotations") or {}
            try:
                size: int | None = sum(layer.size for layer in layers_of(manifest, what=what))
            except OrasError:
                size = None
            said = read_annotations(annotations)
            rows.append({"tag": tag, "digest": digest, "created": annotations.get(ANNOTATION_CREATED, ""),
                         "size": size, "producer": producer_said(annotations), "exitCode": said.get(record.EXIT_CODE, "")})
    return rows
