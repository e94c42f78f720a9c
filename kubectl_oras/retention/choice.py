"""Which tags retention deletes: a pure function of the tags and the policy (docs/retention.md).

Plain data in (each tag's repository, name, manifest digest and times), plain data out (a
verdict with its reason for every tag). Nothing here talks to a registry; ``registry.py`` reads
the tags and carries out the verdicts.

The rules, in the order they are applied:

1. A tag's time is its manifest's ``org.opencontainers.image.created``. A time in the future is
   no time (rule 4): a pusher's clock ahead of ours must not make its artifact immortal, or count
   as newest (taken as now, it ranked newest at every run and pushed the real newest run out).
2. Never deleted: a tag of a repository under ``kubectl-oras/`` (ours: the controller's reclaim
   marker, which the registry's supervisor watches), a referrer tag (cosign's
   ``sha256-<hex>.sig``/``.att``/``.sbom``, and ``sha256-<hex>`` while its subject stays: the tag
   schema that stands in for the referrers API), and a tag that a ``keep`` pattern matches (shell
   style, the whole tag: ``final-*``).
3. The tags of each repository with a time, newest first (ties broken by the tag's name in
   natural order, so ``iter-10`` is newer than ``iter-9`` pushed in the same second), are
   deleted past the newest ``keepLast``, and when older than ``maxAge``. Either limit alone
   applies alone; with both, a tag goes when it breaks either.
4. A tag without a (readable) ``created`` time has no place in that order: ``keepLast`` neither
   counts nor deletes it. ``maxAge`` applies from when the caller first saw it (the controller
   remembers); one never seen before is kept.
5. ``keepLastRuns`` keeps the newest runs of each repository, whole: a run is the tags one Job
   wrote (the manifest's ``dev.kubectl-oras.job`` annotation, the Job's uid, which the sidecar
   writes), ranked by its newest tag; a tag with no Job is a run of its own. It counts and deletes
   only the tags ``keepLast`` would (those with a time, not protected by 2.).
6. Whatever 3. to 5. chose, a tag is kept when it is younger than ``minAge``, or when a pod that
   has not finished names it as an input (``InputInUse``: a tag, a tag pattern such as ``run-*``
   of which every match is spared, or a digest). It still counts toward the limits, so a pod
   starting or ending never moves which other tags go.
7. On a registry that deletes only by digest (distribution 2.x), deleting a tag deletes its
   manifest and with it every other tag on that manifest: ``by_digest`` keeps a tag whose
   manifest another kept tag points at, or a kept index lists (``digests_to_delete`` then says
   which manifests go).
8. A subject's index tag (exactly ``sha256-<64 hex>`` or ``sha512-<128 hex>``, not matched by a ``keep`` pattern) goes
   once no tag of its repository that stays after 1. to 7. points at manifest ``sha256:<hex>``
   (its subject's tags all deleted in this run, or gone before it): otherwise every deleted
   output would leave its provenance index behind. ``minAge`` does not keep it: the index of a
   subject that is gone indexes nothing. Then 7. applies to it too.
"""

from __future__ import annotations

import datetime as _dt
import fnmatch
import re
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace

from ..oci.reference import is_fallback_tag

# The tag schema for referrers (distribution-spec 1.1) and cosign's signature/attestation tags.
_REFERRER_TAG = re.compile(r"sha(256|512)-[0-9a-f]{32,128}(\.(sig|att|sbom))?")
_NUMBERS = re.compile(r"(\d+)")

DELETE = "delete"
_INDEX_KEPT = "the referrers index of a manifest a tag that stays points at: kept with it"
KEEP = "keep"
# Repositories of ours (controller/core/registry_supervisor.py: the reclaim marker): whatever the
# policy and however they are reached, retention never deletes a tag there.
RESERVED_PREFIX = "kubectl-oras/"


@dataclass(frozen=True)
class Policy:
    """What to keep. ``keep_last`` and ``max_age`` (seconds) are limits; None is no limit."""

    keep_last: int | None = None
    max_age: float | None = None
    keep: tuple[str, ...] = ()
    min_age: float | None = None  # seconds: no younger tag is deleted, whatever the limits say
    keep_last_runs: int | None = None  # per repository, the newest runs (one Job's tags each) kept whole

    @property
    def deletes_anything(self) -> bool:
        return self.keep_last is not None or self.max_age is not None or self.keep_last_runs is not None


@dataclass(frozen=True)
class InputInUse:
    """An input a pod that has not finished names: ``tag`` may be a pattern (``run-*``); with a
    ``digest``, the tags on that manifest. ``pod`` says who, for the reason."""

    repository: str
    tag: str | None
    digest: str | None
    pod: str

    def names(self, tag: Tag) -> bool:
        if tag.repository != self.repository:
            return False
        if self.digest is not None:
            return tag.digest == self.digest
        return self.tag is not None and fnmatch.fnmatchcase(tag.tag, self.tag)


@dataclass(frozen=True)
class Tag:
    repository: str
    tag: str
    digest: str
    created: _dt.datetime | None = None  # the manifest's org.opencontainers.image.created
    first_seen: _dt.datetime | None = None  # when the caller first saw this tag (no created)
    blobs: tuple[tuple[str, int], ...] = ()  # (digest, size) of the blobs its manifest lists
    children: tuple[str, ...] = ()  # an index's manifests (digests)
    job: str = ""  # its manifest's dev.kubectl-oras.job (oci/manifest.py: ANNOTATION_JOB): the run that wrote it ("" when none)


@dataclass(frozen=True)
class Verdict:
    repository: str
    tag: str
    digest: str
    action: str  # DELETE or KEEP
    reason: str
    time: _dt.datetime  # the time the rules used
    time_source: str  # "created", "first seen" or "now"
    rank: int | None = None  # 1 = newest of the repository's deletable tags; None: protected
    sharing: tuple[str, ...] = field(default=())  # kept tags on the same manifest (by-digest registries)
    children: tuple[str, ...] = field(default=())  # an index's manifests

    @property
    def delete(self) -> bool:
        return self.action == DELETE

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


def is_reserved_repository(repository: str) -> bool:
    return repository.startswith(RESERVED_PREFIX)


def is_referrer_tag(tag: str) -> bool:
    return _REFERRER_TAG.fullmatch(tag) is not None


def subject_of_index_tag(tag: str) -> str | None:
    """``sha256:<hex>`` for the tag schema's index tag ``sha256-<hex>`` (``sha512`` alike); None
    for any other tag (cosign's ``.sig``/``.att``/``.sbom`` included)."""
    return tag.replace("-", ":", 1) if is_fallback_tag(tag) else None


def natural_key(tag: str) -> tuple[tuple[int, int, str], ...]:
    """``iter-9`` < ``iter-10``: digit runs compare as numbers, the rest as text."""
    return tuple((1, int(part), "") if part.isdigit() else (0, 0, part) for part in _NUMBERS.split(tag) if part)


def _time_of(tag: Tag, now: _dt.datetime) -> tuple[_dt.datetime, str]:
    # A created time in the future (a pusher's clock ahead) is no time: taken as "now" at every
    # run it would rank newest and never grow old; the first-seen time stands in for it.
    if tag.created is not None and tag.created <= now:
        moment, source = tag.created, "created"
    elif tag.first_seen is not None:
        moment, source = tag.first_seen, "first seen"
    else:
        return now, "now"
    return min(moment, now), source


def _age(seconds: float) -> str:
    for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
        if seconds >= size:
            return f"{seconds / size:.1f}{unit}".replace(".0" + unit, unit)
    return f"{seconds:.0f}s"


def choose(tags: Iterable[Tag], policy: Policy, now: _dt.datetime, *, by_digest: bool = False,
           in_use: Sequence[InputInUse] = ()) -> list[Verdict]:
    """A verdict for every tag, grouped by repository (sorted), newest first within each."""
    by_repository: dict[str, list[Tag]] = defaultdict(list)
    for tag in tags:
        by_repository[tag.repository].append(tag)
    verdicts: list[Verdict] = []
    for repository in sorted(by_repository):
        chosen = _choose_in(by_repository[repository], policy, now)
        verdicts.extend(_spare_live(chosen, by_repository[repository], policy, now, in_use))
    if by_digest:
        verdicts = spare_shared(verdicts)
    verdicts = drop_orphan_indexes(verdicts)
    return spare_shared(verdicts) if by_digest else verdicts


def drop_orphan_indexes(verdicts: Sequence[Verdict]) -> list[Verdict]:
    """Rule 8: a kept subject index tag ``sha256-<hex>`` (not kept by a pattern) is deleted when no
    kept tag of its repository points at ``sha256:<hex>``."""
    kept = {(v.repository, v.digest) for v in verdicts if not v.delete}
    out = []
    for v in verdicts:
        subject = subject_of_index_tag(v.tag)
        if v.reason == _INDEX_KEPT and subject is not None and (v.repository, subject) not in kept:
            v = replace(v, action=DELETE, reason=f"the referrers index of {subject}, which no tag that stays "
                                                 f"points at")
        out.append(v)
    return out


def _spare_live(verdicts: list[Verdict], tags: Sequence[Tag], policy: Policy, now: _dt.datetime,
                in_use: Sequence[InputInUse]) -> list[Verdict]:
    """Rule 6: a tag chosen for deletion is kept when younger than minAge or named by a live pod."""
    of = {tag.tag: tag for tag in tags}
    out = []
    for v in verdicts:
        if v.delete:
            age = (now - v.time).total_seconds()
            user = next((i for i in in_use if i.names(of[v.tag])), None)
            if user is not None:
                v = replace(v, action=KEEP, reason=f"{v.reason}, but kept: pod {user.pod} has not finished and "
                                                   f"names it as an input ({_input_shown(user)})")
            elif policy.min_age is not None and age < policy.min_age:
                v = replace(v, action=KEEP, reason=f"{v.reason}, but kept: {_age(age)} old, younger than minAge "
                                                   f"{_age(policy.min_age)}")
        out.append(v)
    return out


def _input_shown(user: InputInUse) -> str:
    return f"{user.repository}@{user.digest}" if user.digest else f"{user.repository}:{user.tag}"


def _run_ranks(timed: Sequence[tuple[Tag, _dt.datetime, str]]) -> dict[str, int]:
    """For each ranked tag, the rank of its run (1 = newest): a run is one Job's tags, ranked by
    its newest; a tag no Job wrote is a run of its own. ``timed`` is newest first."""
    runs: dict[str, int] = {}
    of_tag: dict[str, int] = {}
    for tag, _moment, source in timed:
        if source != "created" or is_referrer_tag(tag.tag):
            continue
        run = f"job {tag.job}" if tag.job else f"tag {tag.tag}"
        of_tag[tag.tag] = runs.setdefault(run, len(runs) + 1)
    return of_tag


def _choose_in(tags: Sequence[Tag], policy: Policy, now: _dt.datetime) -> list[Verdict]:
    seen: set[str] = set()
    for tag in tags:
        if tag.tag in seen:  # ranked twice, a tag would push another out: the caller must not
            raise ValueError(f"{tag.repository}:{tag.tag} is given twice")
        seen.add(tag.tag)
    timed = [(tag, *_time_of(tag, now)) for tag in tags]
    timed.sort(key=lambda item: (item[2] == "created", item[1], natural_key(item[0].tag), item[0].tag), reverse=True)
    out: list[Verdict] = []
    rank = 0
    ranked = [item for item in timed if not any(fnmatch.fnmatchcase(item[0].tag, p) for p in policy.keep)]
    run_rank = _run_ranks(ranked)
    for tag, moment, source in timed:
        base = Verdict(tag.repository, tag.tag, tag.digest, KEEP, "", moment, source, children=tag.children)
        age = (now - moment).total_seconds()
        if is_reserved_repository(tag.repository):
            out.append(replace(base, reason=f"a repository of kubectl-oras's own ({RESERVED_PREFIX}): never deleted"))
            continue
        pattern = next((p for p in policy.keep if fnmatch.fnmatchcase(tag.tag, p)), None)
        if subject_of_index_tag(tag.tag) is not None and pattern is None:
            out.append(replace(base, reason=_INDEX_KEPT))  # rule 8 decides once the subject's tags are
            continue
        if is_referrer_tag(tag.tag) and subject_of_index_tag(tag.tag) is None:
            out.append(replace(base, reason="a referrer tag (signatures, SBOMs): never deleted"))
            continue
        if pattern is not None:
            out.append(replace(base, reason=f"matches keep pattern {pattern!r}"))
            continue
        if source != "created":
            if source == "first seen" and policy.max_age is not None and age > policy.max_age:
                out.append(replace(base, action=DELETE,
                                   reason=f"no creation time; first seen {_age(age)} ago, over maxAge {_age(policy.max_age)}"))
            elif source == "first seen":
                out.append(replace(base, reason=f"no creation time, so not ranked; first seen {_age(age)} ago"))
            else:
                out.append(replace(base, reason="no creation time, so not ranked; seen for the first time"))
            continue
        rank += 1
        reasons = []
        if policy.keep_last is not None and rank > policy.keep_last:
            reasons.append(f"beyond the newest {policy.keep_last} (number {rank})")
        if policy.keep_last_runs is not None and run_rank[tag.tag] > policy.keep_last_runs:
            reasons.append(f"of run number {run_rank[tag.tag]}, beyond the newest {policy.keep_last_runs} runs")
        if policy.max_age is not None and age > policy.max_age:
            reasons.append(f"{_age(age)} old, over maxAge {_age(policy.max_age)}")
        if reasons:
            out.append(replace(base, action=DELETE, reason="; ".join(reasons), rank=rank))
        else:
            kept = []
            if policy.keep_last is not None:
                kept.append(f"number {rank} of the newest {policy.keep_last}")
            if policy.keep_last_runs is not None:
                kept.append(f"of run number {run_rank[tag.tag]} of the newest {policy.keep_last_runs} runs")
            if policy.max_age is not None:
                kept.append(f"{_age(age)} old")
            out.append(replace(base, reason="; ".join(kept) or "no limit set", rank=rank))
    return out


def spare_shared(verdicts: Sequence[Verdict]) -> list[Verdict]:
    """For a registry that deletes only by digest: keep every tag whose manifest a kept tag of the
    same repository points at (deleting it would delete that tag too)."""
    kept_on: dict[tuple[str, str], list[str]] = defaultdict(list)
    listed_by: dict[tuple[str, str], list[str]] = defaultdict(list)
    for v in verdicts:
        if not v.delete:
            kept_on[(v.repository, v.digest)].append(v.tag)
            for child in v.children:
                listed_by[(v.repository, child)].append(v.tag)
    out = []
    for v in verdicts:
        others = kept_on.get((v.repository, v.digest))
        indexes = listed_by.get((v.repository, v.digest))
        if v.delete and others:
            shown = ", ".join(sorted(others)[:3]) + (" …" if len(others) > 3 else "")
            v = replace(v, action=KEEP, sharing=tuple(sorted(others)),
                        reason=f"{v.reason}, but kept: its manifest is also tagged {shown}, and this registry "
                               f"deletes by digest only")
        elif v.delete and indexes:
            shown = ", ".join(sorted(indexes)[:3]) + (" …" if len(indexes) > 3 else "")
            v = replace(v, action=KEEP, sharing=tuple(sorted(indexes)),
                        reason=f"{v.reason}, but kept: the kept index {shown} lists its manifest, and this registry "
                               f"deletes by digest only")
        out.append(v)
    return out


def digests_to_delete(verdicts: Sequence[Verdict]) -> list[tuple[str, str, tuple[str, ...]]]:
    """(repository, digest, its tags) for each manifest whose every tag is to be deleted: what a
    digest-only registry is asked to delete, once per manifest. Call after ``spare_shared``."""
    tags_on: dict[tuple[str, str], list[Verdict]] = defaultdict(list)
    for v in verdicts:
        tags_on[(v.repository, v.digest)].append(v)
    return [(repository, digest, tuple(sorted(v.tag for v in group)))
            for (repository, digest), group in sorted(tags_on.items())
            if all(v.delete for v in group)]


def bytes_freed(verdicts: Sequence[Verdict], tags: Iterable[Tag]) -> int:
    """Bytes of the blobs that only deleted tags' manifests list (what garbage collection can free,
    as far as the tags seen tell: a blob is stored once however many manifests list it)."""
    deleted = {(v.repository, v.tag) for v in verdicts if v.delete}
    tags = list(tags)
    # a manifest a kept index lists stays (garbage collection keeps an index's children)
    listed = {child for tag in tags if (tag.repository, tag.tag) not in deleted for child in tag.children}
    kept_blobs: set[str] = set()
    freed: dict[str, int] = {}
    for tag in tags:
        if (tag.repository, tag.tag) in deleted and tag.digest not in listed:
            freed.update(tag.blobs)
        else:
            kept_blobs.update(digest for digest, _ in tag.blobs)
    return sum(size for digest, size in freed.items() if digest not in kept_blobs)


def first_seen_times(previous: dict[str, tuple[str, _dt.datetime]], tags: Iterable[Tag],
                     now: _dt.datetime) -> dict[str, tuple[str, _dt.datetime]]:
    """When each tag without a ``created`` time (or with one in the future) was first seen, as
    ``{"repo:tag": (digest, time)}``.

    A tag keeps its time while it points at the same manifest; one pushed again (another digest)
    is seen anew; a tag no longer there is forgotten. Tags with a ``created`` time up to now need
    no entry.
    """
    out: dict[str, tuple[str, _dt.datetime]] = {}
    for tag in tags:
        if tag.created is not None and tag.created <= now:
            continue
        key = f"{tag.repository}:{tag.tag}"
        seen = previous.get(key)
        out[key] = seen if seen is not None and seen[0] == tag.digest else (tag.digest, now)
    return out


def runs_cut_by_keep_last(tags: Iterable[Tag], policy: Policy) -> list[str]:
    """Where ``keepLast`` is fewer than the tags the newest run of a repository wrote (one Job's
    tags with a time, not kept by a pattern), so it deletes part of that run: one line for each,
    saying to count runs instead (``keepLastRuns``). Nothing without ``keepLast``."""
    if policy.keep_last is None:
        return []
    newest: dict[str, tuple[_dt.datetime, str]] = {}
    counts: dict[tuple[str, str], int] = defaultdict(int)
    for tag in tags:
        if not tag.job or tag.created is None or is_referrer_tag(tag.tag) or is_reserved_repository(tag.repository) \
                or any(fnmatch.fnmatchcase(tag.tag, p) for p in policy.keep):
            continue
        counts[(tag.repository, tag.job)] += 1
        if tag.repository not in newest or (tag.created, tag.job) > newest[tag.repository]:
            newest[tag.repository] = (tag.created, tag.job)
    out = []
    for repository, (_created, job) in sorted(newest.items()):
        count = counts[(repository, job)]
        if count > policy.keep_last:
            out.append(f"{repository}: keepLast {policy.keep_last} is fewer than the {count} tags its newest run "
                       f"wrote (Job uid {job}), so it deletes part of that run; keepLastRuns counts runs")
    return out
