"""The provenance statement: an in-toto Statement v1 whose predicate is SLSA provenance v1.

Built from a ``Produced`` (record.py) alone, so nothing the producer did not say can reach it:
never an environment value, never a credential. ``parse`` reads one back from a referrer's blob
(any registry's: anything may be there) into what ``inspect`` and ``lineage`` need.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import OrasError
from .record import Input, Produced

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"
MEDIA_TYPE = "application/vnd.in-toto+json"  # the referrer's artifactType and its one layer's media type
STEP_BUILD = "urn:kubectl-oras:step:v1"  # a pod's step, pushed by the injected sidecar
PUSH_BUILD = "urn:kubectl-oras:push:v1"  # files pushed by hand with `kubectl oras push`
MAX_BYTES = 1 << 20  # a statement is a few KiB; a referrer's blob past this is not read


class InvalidStatement(OrasError):
    """A referrer's blob that is not a provenance statement of the shape we write."""


def _digest_map(digest: str) -> dict[str, str]:
    algorithm, _, hex_part = digest.partition(":")
    return {algorithm: hex_part}


def image_dependency(image: str) -> dict[str, Any]:
    """The step's image as a resolved dependency: with its digest when the spec pins one."""
    _, at, digest = image.partition("@")
    return {"uri": f"oci://{image}", **({"digest": _digest_map(digest)} if at and ":" in digest else {})}


def statement(*, subject_name: str, subject_digest: str, produced: Produced) -> dict[str, Any]:
    """The statement about the manifest ``subject_digest`` (``subject_name``: repo:tag as pushed)."""
    if produced.pushed_by:
        build_type = PUSH_BUILD
        external: dict[str, Any] = {"paths": list(produced.paths)}
        internal: dict[str, Any] = {"pushedBy": produced.pushed_by}
    else:
        build_type = STEP_BUILD
        external = {"argv": list(produced.argv), "annotations": dict(produced.shaped_by)}
        internal = {k: v for k, v in (("namespace", produced.namespace), ("workload", produced.workload),
                                      ("pod", produced.pod), ("node", produced.node)) if v}
        if produced.exit_code is not None:
            internal["exitCode"] = produced.exit_code
    dependencies = [{"name": i.name, "digest": _digest_map(i.digest)} for i in produced.inputs]
    if produced.image:
        dependencies.append(image_dependency(produced.image))
    metadata = {k: v for k, v in (("startedOn", produced.started), ("finishedOn", produced.finished)) if v}
    return {
        "_type": STATEMENT_TYPE,
        "subject": [{"name": subject_name, "digest": _digest_map(subject_digest)}],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {"buildType": build_type, "externalParameters": external,
                                "internalParameters": internal, "resolvedDependencies": dependencies},
            "runDetails": {"builder": {"id": produced.builder}, "metadata": metadata},
        },
    }


def encode(document: dict[str, Any]) -> bytes:
    return json.dumps(document, separators=(",", ":"), sort_keys=True).encode()


@dataclass(frozen=True)
class Provenance:
    """A statement read back: what inspect shows and lineage walks."""

    subject: str  # the subject's digest
    build_type: str
    builder: str
    inputs: tuple[Input, ...]
    image: str  # the image's uri without oci://, "" for a push by hand
    document: dict[str, Any]  # the whole statement, for -o json|yaml


def parse(raw: bytes, *, what: str) -> Provenance:
    """The statement in ``raw``; InvalidStatement naming ``what`` (the referrer) and the field."""
    def fail(field: str, expected: str) -> InvalidStatement:
        return InvalidStatement(f"{what}: its {field} is not {expected}")

    try:
        document = json.loads(raw)
    except (ValueError, RecursionError):
        raise InvalidStatement(f"{what}: not JSON") from None
    if not isinstance(document, dict) or document.get("_type") != STATEMENT_TYPE:
        raise fail("_type", STATEMENT_TYPE)
    if document.get("predicateType") != PREDICATE_TYPE:
        raise fail("predicateType", PREDICATE_TYPE)
    subjects = document.get("subject")
    if not isinstance(subjects, list) or not subjects or not isinstance(subjects[0], dict):
        raise fail("subject", "a list of subjects")
    subject = _digest_text(subjects[0].get("digest"))
    if subject is None:
        raise fail("subject[0].digest", "a digest")
    predicate = document.get("predicate")
    if not isinstance(predicate, dict):
        raise fail("predicate", "an object")
    definition = predicate.get("buildDefinition")
    details = predicate.get("runDetails")
    if not isinstance(definition, dict) or not isinstance(details, dict):
        raise fail("predicate", "SLSA provenance v1 (buildDefinition and runDetails)")
    dependencies = definition.get("resolvedDependencies") or []
    if not isinstance(dependencies, list):
        raise fail("predicate.buildDefinition.resolvedDependencies", "a list")
    inputs, image = [], ""
    for index, dependency in enumerate(dependencies):
        if not isinstance(dependency, dict):
            raise fail(f"predicate.buildDefinition.resolvedDependencies[{index}]", "an object")
        uri, digest = dependency.get("uri"), _digest_text(dependency.get("digest"))
        if isinstance(uri, str) and uri.startswith("oci://"):
            image = uri.removeprefix("oci://")
        elif isinstance(dependency.get("name"), str) and digest is not None:
            inputs.append(Input(dependency["name"], digest))
    builder = details.get("builder")
    builder_id = builder.get("id") if isinstance(builder, dict) else None
    build_type = definition.get("buildType")
    return Provenance(subject=subject, build_type=build_type if isinstance(build_type, str) else "",
                      builder=builder_id if isinstance(builder_id, str) else "", inputs=tuple(inputs), image=image,
                      document=document)


def _digest_text(digests: object) -> str | None:
    """``{"sha256": "<hex>"}`` as ``sha256:<hex>``; None for anything else."""
    if not isinstance(digests, dict):
        return None
    for algorithm in ("sha256", "sha512"):
        value = digests.get(algorithm)
        if isinstance(value, str) and value and all(c in "0123456789abcdef" for c in value):
            return f"{algorithm}:{value}"
    return None
