"""Retention against a registry: read every tag's manifest, then delete what ``choice`` chose.

Reading costs one request per tag (a GET of its manifest gives the digest, the ``created``
annotation, the blob sizes and an index's manifests) plus one per page of each tag list, run
``concurrency`` at a time. A repository is left alone, and reported, when its tags cannot all
be read, or when the registry lists a name that is not a valid tag (it would go into a URL):
its tags cannot be ranked, and a guess could delete the wrong one.

Before deleting (and before a dry run), two requests that change nothing tell how the registry
deletes (``delete_mode``). Deleting by tag re-checks each tag first (a HEAD: has it been pushed
again since it was read?). On a registry that deletes only by digest (distribution 2.x) only
manifests whose every tag is to go are deleted, after the tag list is read again and every tag
resolved, so a tag pushed or moved onto such a manifest (or onto an index listing it) since the
scan keeps it (docs/retention.md).
"""

from __future__ import annotations

import datetime as _dt
import logging
import secrets
import threading
from collections import defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from ..errors import OrasError
from ..oci.client import RegistryClient
from ..oci.errors import AuthenticationFailed, NotFound, RegistryError
from ..oci.manifest import ANNOTATION_CREATED, ANNOTATION_JOB, DOCKER_LIST_MEDIA_TYPE, INDEX_MEDIA_TYPE
from ..oci.parallel import run_all
from ..oci.reference import is_valid_repository, is_valid_tag
from ..times import parse_rfc3339
from .choice import DELETE, Tag, Verdict, digests_to_delete, is_reserved_repository, spare_shared
from .text import clean

log = logging.getLogger(__name__)

# Outcomes: fixed words, for -o json and the status alike.
DELETED = "deleted"
WOULD_DELETE = "would-delete"
GONE = "gone"  # deleted by someone else since it was read
CHANGED = "changed"  # pushed again since it was read: not deleted
SPARED = "spared"  # a digest-only registry would take a kept tag with it: not deleted
FAILED = "failed"

INDEX_TYPES = (INDEX_MEDIA_TYPE, DOCKER_LIST_MEDIA_TYPE)
BY_TAG = "tag"
BY_DIGEST = "digest"
_NO_DIGEST = "sha256:" + "0" * 64


class DeletesDisabled(RegistryError):
    """The registry refuses deletes (distribution: storage.delete.enabled is off)."""


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
    by: str = ""  # BY_TAG or BY_DIGEST
    message: str = ""

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


def _unique(names: Sequence[str]) -> list[str]:
    return list(dict.fromkeys(names))


def _blobs_of(manifest: dict[str, Any]) -> tuple[tuple[str, int], ...]:
    out = []
    for descriptor in [manifest.get("config"), *(_list(manifest.get("layers")))]:
        if isinstance(descriptor, dict):
            digest, size = descriptor.get("digest"), descriptor.get("size")
            if isinstance(digest, str) and isinstance(size, int) and not isinstance(size, bool) and size >= 0:
                out.append((digest, size))
    return tuple(out)


MAX_NESTING = 4  # an index of indexes of …: deeper than any image or artifact layout there is


def reachable_from(client: RegistryClient, repository: str, manifest: dict[str, Any], *, depth: int = MAX_NESTING,
                   seen: set[str] | None = None) -> tuple[str, ...]:
    """Every manifest an index lists, and those its listed indexes list, down to ``depth``."""
    seen = set() if seen is None else seen
    out: list[str] = []
    for d in _list(manifest.get("manifests")):
        if not isinstance(d, dict) or not isinstance(d.get("digest"), str) or d["digest"] in seen:
            continue
        seen.add(d["digest"])
        out.append(d["digest"])
        if depth > 1 and d.get("mediaType") in INDEX_TYPES:
            child = client.fetch_manifest(repository, d["digest"], what=f"read {repository}@{d['digest']}")[0]
            out += reachable_from(client, repository, child, depth=depth - 1, seen=seen)
    return tuple(out)


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def read_tag(client: RegistryClient, repository: str, tag: str,
             first_seen: dict[str, tuple[str, _dt.datetime]] | None = None) -> Tag | None:
    """The tag as the choice needs it; None when it is gone (deleted since the list)."""
    try:
        manifest, _media_type, digest = client.fetch_manifest(repository, tag, what=f"read {repository}:{tag}")
    except NotFound:
        return None
    annotations = manifest.get("annotations")
    annotations = annotations if isinstance(annotations, dict) else {}
    created = parse_rfc3339(annotations.get(ANNOTATION_CREATED))
    job = annotations.get(ANNOTATION_JOB)
    seen = (first_seen or {}).get(f"{repository}:{tag}")
    return Tag(repository, tag, digest, created=created, job=job if isinstance(job, str) else "",
               first_seen=seen[1] if seen is not None and seen[0] == digest else None,
               blobs=_blobs_of(manifest), children=reachable_from(client, repository, manifest))


def scan(client: RegistryClient, repositories: Sequence[str] | None = None, *, concurrency: int = 8,
         first_seen: dict[str, tuple[str, _dt.datetime]] | None = None,
         on_progress: Callable[[int, int], None] | None = None) -> Scan:
    """Every tag of ``repositories`` (all the catalog lists when None, but ours under
    ``kubectl-oras/``, which the choice never deletes anyway), read ``concurrency`` at a time."""
    result = Scan()
    named = repositories is not None
    if repositories is not None:
        names = _unique(repositories)
    else:
        names = []
        for name in _unique(client.list_repositories()):
            if is_reserved_repository(name):
                continue
            if is_valid_repository(name):
                names.append(name)
            else:
                result.problems.append(f"{clean(repr(name), 80)}: left alone, the registry lists it but it is not a "
                                       f"repository name")

    def list_one(repository: str, cancel: threading.Event) -> tuple[str, list[str] | str]:
        try:
            return repository, client.list_tags(repository)
        except NotFound:
            return repository, "no such repository" if named else []
        except Exception as e:  # noqa: BLE001 - whatever the answer provokes: this repository cannot be ranked
            return repository, f"its tags could not be listed: {clean(e)}"

    listed = run_all(list_one, names, concurrency=concurrency, name="retention-list")
    work: list[tuple[str, str]] = []
    ranked: list[str] = []
    for repository, found in listed:
        if isinstance(found, str):
            result.problems.append(f"{repository}: left alone, {found}")
            continue
        bad = [t for t in found if not isinstance(t, str) or not is_valid_tag(t)]
        if bad:
            result.problems.append(f"{repository}: left alone, the registry lists {len(bad)} names that are not "
                                   f"tags (first: {clean(repr(bad[0]), 80)})")
            continue
        ranked.append(repository)
        work.extend((repository, tag) for tag in _unique(found))

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
            return f"{repository}:{tag}: {clean(e)}"
        except Exception as e:  # noqa: BLE001 - anything a registry's answer can provoke: this tag cannot be read
            log.debug("reading %s:%s", repository, tag, exc_info=True)
            return f"{repository}:{tag}: unreadable answer ({type(e).__name__}: {clean(e)})"
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
    for repository in ranked:
        if broken.get(repository):
            first = broken[repository][0]
            result.problems.append(f"{repository}: left alone, {len(broken[repository])} of its tags could not be "
                                   f"read (first: {first})")
            continue
        result.repositories.append(repository)
    kept = set(result.repositories)
    result.tags = [t for t in read if isinstance(t, Tag) and t.repository in kept]
    return result


def delete_mode(client: RegistryClient, repository: str) -> str:
    """BY_TAG or BY_DIGEST, from two deletes of things that do not exist (measured answers:
    docs/retention.md); DeletesDisabled when the registry refuses deletes."""
    what = f"find out how {client.name} deletes"
    try:
        by_digest = client.delete_manifest(repository, _NO_DIGEST).status_code
    except AuthenticationFailed as e:
        raise AuthenticationFailed(f"{what} (a delete of nothing in {repository}): these credentials may not delete "
                                   f"({e.status})", status=e.status) from e
    if by_digest == 405:
        raise DeletesDisabled(f"{what}: the registry does not allow deletes (405); for distribution set "
                              f"storage.delete.enabled: true", status=405)
    missing_tag = "kubectl-oras-probe-" + secrets.token_hex(8)
    by_tag = client.delete_manifest(repository, missing_tag).status_code
    return BY_DIGEST if by_tag in (400, 405) else BY_TAG


def plan_deletes(verdicts: Sequence[Verdict], mode: str) -> tuple[list[Verdict], list[Outcome]]:
    """The verdicts to act on for ``mode`` and the tags spared by it (a digest-only registry)."""
    if mode != BY_DIGEST:
        return list(verdicts), []
    spared = spare_shared(verdicts)
    outcomes = [Outcome(v.repository, v.tag, v.digest, SPARED, message=v.reason.split(", but kept: ", 1)[-1])
                for v, before in zip(spared, verdicts, strict=True) if before.delete and not v.delete]
    return spared, outcomes


def delete_chosen(client: RegistryClient, verdicts: Sequence[Verdict], *, mode: str, dry_run: bool = False,
                  concurrency: int = 8, done: list[Outcome] | None = None,
                  stop: threading.Event | None = None) -> list[Outcome]:
    """Carry out the deletes among ``verdicts``; an outcome per tag chosen. Outcomes are also
    appended to ``done`` as they happen, so a run cut short can still say what it did. Once
    ``stop`` is set no further delete starts."""
    done = [] if done is None else done
    stop = stop or threading.Event()
    acting, spared = plan_deletes(verdicts, mode)
    done.extend(spared)
    chosen = [v for v in acting if v.delete]
    if dry_run:
        done.extend(Outcome(v.repository, v.tag, v.digest, WOULD_DELETE, by=mode) for v in chosen)
        return done
    if mode == BY_DIGEST:
        _delete_by_digest(client, acting, concurrency, done, stop, untag_when_held=False)
        return done
    # A registry that deletes by tag (v3). A manifest whose every tag goes is deleted by digest all
    # the same: the garbage collector then frees it without --delete-untagged, which some builds
    # run unsafely (they delete the manifests a tagged index lists). A tag whose manifest a kept
    # tag (or a kept index) still needs is only untagged.
    needed = spare_shared(verdicts)
    whole = {(repository, digest) for repository, digest, _ in digests_to_delete(needed)}
    _delete_by_digest(client, needed, concurrency, done, stop, untag_when_held=True)

    def one(v: Verdict, cancel: threading.Event) -> None:
        if not cancel.is_set() and not stop.is_set():
            done.append(_delete_tag(client, v, stop))

    run_all(one, [v for v in chosen if (v.repository, v.digest) not in whole], concurrency=concurrency,
            name="retention-delete")
    return done


def _failed(v: Verdict, message: str) -> Outcome:
    return Outcome(v.repository, v.tag, v.digest, FAILED, message=message)


def _status_message(status: int) -> str:
    if status == 405:
        return "the registry refused the delete (405: deletes disabled?)"
    return f"the registry answered {status}"


def _delete_tag(client: RegistryClient, v: Verdict, stop: threading.Event) -> Outcome:
    try:
        now = client.resolve(v.repository, v.tag, what=f"check {v.reference} before deleting it")
        if stop.is_set():
            return _failed(v, "not deleted: the run was stopped")
        if now is None:
            return Outcome(v.repository, v.tag, v.digest, GONE)
        if now != v.digest:
            return Outcome(v.repository, v.tag, v.digest, CHANGED, message=f"pushed again since it was read (now {now})")
        status = client.delete_manifest(v.repository, v.tag).status_code
    except OrasError as e:
        return _failed(v, clean(e))
    if status in (200, 202):
        return Outcome(v.repository, v.tag, v.digest, DELETED, by=BY_TAG)
    if status == 404:
        return Outcome(v.repository, v.tag, v.digest, GONE)
    return _failed(v, _status_message(status))


def _delete_by_digest(client: RegistryClient, verdicts: Sequence[Verdict], concurrency: int,
                      done: list[Outcome], stop: threading.Event, *, untag_when_held: bool) -> None:
    """Delete the manifests whose every tag is to go, once each; ``untag_when_held``: when a tag
    pushed since the scan holds one, delete the expiring tags by name instead (a registry that can)."""
    by_repository: dict[str, list[tuple[str, tuple[str, ...]]]] = defaultdict(list)
    for repository, digest, tags in digests_to_delete(verdicts):
        by_repository[repository].append((digest, tags))
    read = {(v.repository, v.tag): v.digest for v in verdicts}

    def one_repository(item: tuple[str, list[tuple[str, tuple[str, ...]]]], cancel: threading.Event) -> None:
        repository, manifests = item
        try:
            # Where every tag points now: a tag pushed (or moved) since the scan onto a manifest
            # about to be deleted, or onto an index listing it, would lose it; a tag pushed again
            # points elsewhere.
            current = _unique(client.list_tags(repository))
            now = dict(zip(current, run_all(
                lambda t, cancel: client.resolve(repository, t, what=f"check {repository}:{t} before deleting"),
                current, concurrency=concurrency, name="retention-check"), strict=True))
            moved = [t for t, d in now.items() if d is not None and read.get((repository, t)) != d]
            listed: dict[str, str] = {}
            for t in moved:  # new or changed since the scan: an index among them holds its manifests
                manifest = client.fetch_manifest(repository, t, what=f"read {repository}:{t}")[0]
                listed.update((child, t) for child in reachable_from(client, repository, manifest))
        except Exception as e:  # noqa: BLE001 - nothing in this repository is deleted
            done.extend(Outcome(repository, t, d, FAILED, message=clean(e)) for d, tags in manifests for t in tags)
            return
        def one_manifest(item: tuple[str, tuple[str, ...]], cancel: threading.Event) -> None:
            digest, tags = item
            if cancel.is_set() or stop.is_set():
                return
            holders = {t for t, d in now.items() if d == digest}
            others = sorted(holders - set(tags))
            changed = [Outcome(repository, t, digest, CHANGED, message=f"pushed again since it was read (now {now[t]})")
                       for t in tags if now.get(t) not in (None, digest)]
            changed += [Outcome(repository, t, digest, GONE) for t in tags if now.get(t) is None]
            still = [t for t in tags if now.get(t) == digest]
            done.extend(changed)
            holder = f"{repository}:{others[0]} now points at the same manifest" if others else (
                f"{repository}:{listed[digest]} now lists the same manifest" if digest in listed else "")
            if holder and untag_when_held:
                done.extend(_delete_tag(client, Verdict(repository, t, digest, DELETE, "", _dt.datetime.now(_dt.UTC), ""),
                                        stop) for t in still)
                return
            if holder:
                done.extend(Outcome(repository, t, digest, SPARED, by=BY_DIGEST, message=holder) for t in still)
                return
            if not still:
                return
            try:
                status = client.delete_manifest(repository, digest).status_code
            except OrasError as e:
                done.extend(Outcome(repository, t, digest, FAILED, message=clean(e)) for t in still)
                return
            result = DELETED if status in (200, 202) else GONE if status == 404 else FAILED
            done.extend(Outcome(repository, t, digest, result, by=BY_DIGEST,
                                message="" if result != FAILED else _status_message(status)) for t in still)

        run_all(one_manifest, manifests, concurrency=concurrency, name="retention-delete-manifest")

    for item in sorted(by_repository.items()):  # one repository at a time, its manifests side by side
        if stop.is_set():
            break
        one_repository(item, threading.Event())
