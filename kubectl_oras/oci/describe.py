"""What a tag holds, read from its manifest alone (no blob is fetched): when it was created, its
digest and its layers; and the same for every tag of a repository, in one listing and the
manifests read side by side. A workflow tool answers "does it exist, when was it made, how big
is it" for many files this way (docs/python-api.md).
"""

from __future__ import annotations

import datetime as _dt
import threading
from dataclasses import dataclass

from ..times import parse_rfc3339
from .client import RegistryClient
from .errors import NotFound
from .manifest import ANNOTATION_CREATED, Blob, layers_of

DESCRIBE_CONCURRENCY = 8  # the client's connection pool holds as many


@dataclass(frozen=True)
class Artifact:
    """One tag: ``created`` (None when the manifest says no time, or one that is not RFC 3339),
    the manifest's ``digest``, its ``layers`` and ``annotations``."""

    repository: str
    tag: str
    digest: str
    created: _dt.datetime | None
    layers: list[Blob]
    annotations: dict[str, str]


def describe_artifact(client: RegistryClient, repository: str, tag: str) -> Artifact:
    """The tag's manifest, read; NotFound when there is no such tag."""
    what = f"read {client.repository_name(repository)}:{tag}"
    manifest, _media_type, digest = client.fetch_manifest(repository, tag, what=what)
    annotations = manifest.get("annotations")
    if not isinstance(annotations, dict):
        annotations = {}
    shown = {str(k): v for k, v in annotations.items() if isinstance(v, str)}
    return Artifact(repository, tag, digest, parse_rfc3339(shown.get(ANNOTATION_CREATED)),
                    layers_of(manifest, what=what), shown)


def describe_repository(client: RegistryClient, repository: str, *,
                        concurrency: int = DESCRIBE_CONCURRENCY) -> list[Artifact]:
    """Every tag of ``repository`` described, in the listing's order; none for a repository that
    does not exist. A tag deleted between the listing and its manifest is left out."""
    from .parallel import run_all

    try:
        tags = client.list_tags(repository)
    except NotFound:
        return []

    def describe(tag: str, _cancel: threading.Event) -> Artifact | None:
        try:
            return describe_artifact(client, repository, tag)
        except NotFound:
            return None

    found = run_all(describe, tags, concurrency=concurrency, name="describe")
    return [artifact for artifact in found if artifact is not None]
