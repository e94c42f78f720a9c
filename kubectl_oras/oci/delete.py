"""Delete a tag without taking other tags with it.

Registries that implement tag deletion (distribution v3, zot) remove just the tag. Older ones
(distribution 2.8) only delete manifests by digest, which removes every tag on that manifest;
there we look first and refuse when another tag shares the manifest.
"""

from __future__ import annotations

from dataclasses import dataclass

from .client import RegistryClient
from .errors import DeleteRefused, NotFound, RegistryError
from .reference import Reference


@dataclass(frozen=True)
class Deleted:
    reference: str
    digest: str
    by: str  # "tag" or "digest"


def tags_sharing(client: RegistryClient, repository: str, digest: str, *, except_tag: str | None) -> list[str]:
    what = f"look up tags of {repository}"
    return [t for t in client.list_tags(repository) if t != except_tag and client.resolve(repository, t, what=what) == digest]


def _refused_by_registry(status: int, what: str) -> RegistryError:
    return RegistryError(
        f"{what}: the registry does not allow deletes ({status}); for distribution set storage.delete.enabled: true",
        status=status,
    )


def delete_artifact(client: RegistryClient, ref: Reference) -> Deleted:
    what = f"delete {ref}"
    if ref.digest:
        r = client.delete_manifest(ref.repository, ref.digest)
        if r.status_code == 404:
            raise NotFound(f"{what}: not found", status=404)
        if r.status_code in (400, 405):
            raise _refused_by_registry(r.status_code, what)
        return Deleted(str(ref), ref.digest, "digest")
    assert ref.tag
    digest = client.resolve(ref.repository, ref.tag, what=what)
    if digest is None:
        raise NotFound(f"{what}: no such tag", status=404)
    r = client.delete_manifest(ref.repository, ref.tag)
    if r.status_code in (200, 202):
        return Deleted(str(ref), digest, "tag")
    others = tags_sharing(client, ref.repository, digest, except_tag=ref.tag)
    if others:
        raise DeleteRefused(
            f"{what}: this registry deletes by digest only, and {digest[:19]}… is also tagged "
            f"{', '.join(sorted(others))}; delete those too, or delete {ref.repository}@{digest}"
        )
    r = client.delete_manifest(ref.repository, digest)
    if r.status_code in (200, 202):
        return Deleted(str(ref), digest, "digest")
    if r.status_code == 404:
        raise NotFound(f"{what}: not found", status=404)
    raise _refused_by_registry(r.status_code, what)
