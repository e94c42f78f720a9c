"""Retention against a registry: read every tag's manifest, then delete what ``choice`` chose.

Reading costs one request per tag (a GET of its manifest gives the digest, the ``created``
annotation and the blob sizes) plus one per page of each tag list, run ``concurrency`` at a
time. A repository with a tag that cannot be read is left alone: its tags cannot be ranked, and
a guess could delete the wrong one.

Deleting re-checks each tag first (a HEAD: has it been pushed again since it was read?), then
deletes by tag. A registry that refuses that (distribution 2.x deletes manifests by digest
only) is asked to delete by digest, and only manifests whose every tag is to go: the tag list
is read again and every tag resolved, so a tag pushed or moved onto such a manifest since the
scan keeps it (docs/retention.md).
"""

from __future__ import annotations

import datetime as _dt
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import OrasError
from ..oci.client import RegistryClient
from ..oci.errors import NotFound, RegistryError
from ..oci.manifest import ANNOTATION_CREATED
from ..oci.parallel import run_all
from ..oci.reference import is_valid_repository
from .choice import Tag, Verdict, digests_to_delete, parse_created, spare_shared

DELETED = "deleted"
WOULD_DELETE = "would delete"
GONE = "already gone"
CHANGED = "pushed again since it was read: not deleted"
SPARED = "not deleted"
FAILED = "failed"


class DeletesDisabled(RegistryError):
    """The registry answers every delete with 405 (distribution: storage.delete.enabled is off)."""


@dataclass
class Scan:
    tags: list[Tag] = field(default_factory=list)
    repositories: list[str] = field(default_factory=list)  # read in full: their tags can be ranked
    problems: list[str] = field(default_factory=list)  # one line per repository left alone, and why


@dataclass(frozen=True)
class Outcome:
    repository: str
    tag: str
    digest: str
    result: str  # DELETED, WOULD_DELETE, GONE, CHANGED, SPARED or FAILED
    by: str = ""  # "tag" or "digest"
    message: str = ""

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


def _blobs_of(manifest: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    out = []
    for descriptor in [manifest.get("config"), *(manifest.get("layers") or [])]:
        if isinstance(descriptor, dict):
            digest, size = descriptor.get("digest"), descriptor.get("size")
            if isinstance(digest, str) and isinstance(size, int) and not isinstance(size, bool) and size >= 0:
                out.append((digest, size))
    return tuple(out)


def read_tag(client: RegistryClient, repository: str, tag: str,
             first_seen: dict[str, tuple[str, _dt.datetime]] | None = None) -> Tag | None:
    """The tag as the choice needs it; None when it is gone (deleted since the list)."""
    try:
        manifest, _media_type, digest = client.fetch_manifest(repository, tag, what=f"read {repository}:{tag}")
    except NotFound:
        return None
    annotations = manifest.get("annotations")
    created = parse_created(annotations.get(ANNOTATION_CREATED)) if isinstance(annotations, dict) else None
    seen = (first_seen or {}).get(f"{repository}:{tag}")
    return Tag(repository, tag, digest, created=created,
               first_seen=seen[1] if seen is not None and seen[0] == digest else None,
               blobs=_blobs_of(manifest))


def scan(client: RegistryClient, repositories: Sequence[str] | None = None, *, concurrency: int = 8,
         first_seen: dict[str, tuple[str, _dt.datetime]] | None = None,
         on_progress: Callable[[int, int], None] | None = None) -> Scan:
    """Every tag of ``repositories`` (all the catalog lists when None), read ``concurrency`` at a time."""
    result = Scan()
    names = list(repositories) if repositories is not None else [
        r for r in client.list_repositories() if is_valid_repository(r)]

    def list_one(repository: str, cancel: threading.Event) -> tuple[str, list[str] | str]:
        try:
            return repository, client.list_tags(repository)
        except NotFound:
            return repository, []
        except OrasError as e:
            return repository, str(e)

    listed = run_all(list_one, names, concurrency=concurrency, name="retention-list")
    work: list[tuple[str, str]] = []
    for repository, found in listed:
        if isinstance(found, str):
            result.problems.append(f"{repository}: left alone, its tags could not be listed: {found}")
            continue
        work.extend((repository, tag) for tag in found)

    done = 0
    lock = threading.Lock()

    def read_one(item: tuple[str, str], cancel: threading.Event) -> Tag | None | str:
        nonlocal done
        repository, tag = item
        try:
            if cancel.is_set():
                return "stopped"
            return read_tag(client, repository, tag, first_seen)
        except OrasError as e:
            return f"{repository}:{tag}: {e}"
        finally:
            with lock:
                done += 1
                if on_progress is not None:
                    on_progress(done, len(work))

    read = run_all(read_one, work, concurrency=concurrency, name="retention-read")
    broken: dict[str, list[str]] = defaultdict(list)
    for (repository, _), outcome in zip(work, read, strict=True):
        if isinstance(outcome, str):
            broken[repository].append(outcome)
    for repository, found in listed:
        if isinstance(found, str):
            continue
        if broken.get(repository):
            first = broken[repository][0]
            result.problems.append(f"{repository}: left alone, {len(broken[repository])} of its tags could not be "
                                   f"read (first: {first})")
            continue
        result.repositories.append(repository)
    ranked = set(result.repositories)
    result.tags = [t for t in read if isinstance(t, Tag) and t.repository in ranked]
    return result


def _delete(client: RegistryClient, repository: str, reference: str) -> int:
    return client.delete_manifest(repository, reference).status_code


def _refuses_tag_deletes(status: int) -> bool:
    return status in (400, 405)


def delete_chosen(client: RegistryClient, verdicts: Sequence[Verdict], *, dry_run: bool = False,
                  concurrency: int = 8) -> tuple[list[Outcome], str]:
    """Carry out the deletes among ``verdicts``; (an outcome per tag deleted or spared, "tag" or "digest")."""
    chosen = [v for v in verdicts if v.delete]
    if dry_run or not chosen:
        return [Outcome(v.repository, v.tag, v.digest, WOULD_DELETE) for v in chosen], "tag"
    first, rest = chosen[0], chosen[1:]
    outcome = _delete_tag(client, first)
    if outcome is not None:
        later = run_all(lambda v, cancel: _delete_tag(client, v) or _failed(v, "the registry stopped deleting by tag"),
                        rest, concurrency=concurrency, name="retention-delete")
        return [outcome, *later], "tag"
    return _delete_by_digest(client, verdicts, concurrency), "digest"


def _failed(v: Verdict, message: str) -> Outcome:
    return Outcome(v.repository, v.tag, v.digest, FAILED, message=message)


def _delete_tag(client: RegistryClient, v: Verdict) -> Outcome | None:
    """Delete one tag by name; None when the registry deletes by digest only."""
    try:
        now = client.resolve(v.repository, v.tag, what=f"check {v.reference} before deleting it")
        if now is None:
            return Outcome(v.repository, v.tag, v.digest, GONE)
        if now != v.digest:
            return Outcome(v.repository, v.tag, v.digest, CHANGED, message=f"now {now}")
        status = _delete(client, v.repository, v.tag)
    except OrasError as e:
        return _failed(v, str(e))
    if status in (200, 202):
        return Outcome(v.repository, v.tag, v.digest, DELETED, by="tag")
    if status == 404:
        return Outcome(v.repository, v.tag, v.digest, GONE)
    if _refuses_tag_deletes(status):
        return None
    return _failed(v, f"the registry answered {status}")


def _delete_by_digest(client: RegistryClient, verdicts: Sequence[Verdict], concurrency: int) -> list[Outcome]:
    spared = spare_shared(verdicts)
    outcomes = [Outcome(v.repository, v.tag, v.digest, SPARED, message=v.reason)
                for v, before in zip(spared, verdicts, strict=True) if before.delete and not v.delete]
    groups = digests_to_delete(spared)
    by_repository: dict[str, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    for repository, digest, tags in groups:
        by_repository[repository].append((digest, tags))

    def one_repository(item: tuple[str, list[tuple[str, tuple[str, ...]]]], cancel: threading.Event) -> list[Outcome]:
        repository, manifests = item
        out: list[Outcome] = []
        try:
            # Where every tag points now: a tag pushed (or moved) since the scan onto a manifest
            # about to be deleted would go with it, and a tag pushed again points elsewhere.
            current = client.list_tags(repository)
            now = dict(zip(current, run_all(
                lambda t, cancel: client.resolve(repository, t, what=f"check {repository}:{t} before deleting"),
                current, concurrency=concurrency, name="retention-check"), strict=True))
        except OrasError as e:
            return [Outcome(repository, t, d, FAILED, message=str(e)) for d, tags in manifests for t in tags]
        for digest, tags in manifests:
            holders = {t for t, d in now.items() if d == digest}
            others = sorted(holders - set(tags))
            moved = [Outcome(repository, t, digest, CHANGED, message=f"now {now[t]}")
                     for t in tags if now.get(t) not in (None, digest)]
            moved += [Outcome(repository, t, digest, GONE) for t in tags if now.get(t) is None]
            still = [t for t in tags if now.get(t) == digest]
            if others:
                out += [Outcome(repository, t, digest, SPARED, by="digest",
                                message=f"{repository}:{others[0]} now points at the same manifest") for t in still]
                out += moved
                continue
            out += moved
            if not still:
                continue
            try:
                status = _delete(client, repository, digest)
            except OrasError as e:
                out += [Outcome(repository, t, digest, FAILED, message=str(e)) for t in still]
                continue
            if status == 405:
                raise DeletesDisabled(f"delete {repository}@{digest}: the registry does not allow deletes (405); "
                                      f"for distribution set storage.delete.enabled: true", status=405)
            result = DELETED if status in (200, 202) else GONE if status == 404 else FAILED
            out += [Outcome(repository, t, digest, result, by="digest",
                            message="" if result != FAILED else f"the registry answered {status}") for t in still]
        return out

    for outcomes_of_one in run_all(one_repository, sorted(by_repository.items()), concurrency=4,
                                   name="retention-delete"):
        outcomes.extend(outcomes_of_one)
    return outcomes
