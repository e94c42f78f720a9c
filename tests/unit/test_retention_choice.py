"""The retention choice: which tags go, and why (kubectl_oras/retention/choice.py)."""

from __future__ import annotations

import datetime as dt
import random

import pytest

from kubectl_oras.retention.choice import (
    Policy,
    Tag,
    bytes_freed,
    choose,
    digests_to_delete,
    first_seen_times,
    is_referrer_tag,
    natural_key,
    spare_shared,
)
from kubectl_oras.retention.registry import BY_TAG, WOULD_DELETE, delete_chosen

NOW = dt.datetime(2026, 11, 23, 12, 0, 0, tzinfo=dt.UTC)
HOUR = 3600.0


def ago(hours: float) -> dt.datetime:
    return NOW - dt.timedelta(hours=hours)


def digest(n: int | str) -> str:
    return "sha256:" + f"{n}".rjust(64, "0")


def deleted(verdicts) -> list[str]:
    return sorted(v.reference for v in verdicts if v.delete)


def test_keep_last_keeps_the_newest_per_repository():
    tags = [Tag("a", f"iter-{i}", digest(i), created=ago(10 - i)) for i in range(10)]
    tags += [Tag("b", f"iter-{i}", digest(100 + i), created=ago(100 - i)) for i in range(3)]
    verdicts = choose(tags, Policy(keep_last=4), NOW)
    assert deleted(verdicts) == sorted(f"a:iter-{i}" for i in range(6))
    kept_a = [v.tag for v in verdicts if v.repository == "a" and not v.delete]
    assert kept_a == ["iter-9", "iter-8", "iter-7", "iter-6"]  # newest first
    assert next(v for v in verdicts if v.tag == "iter-5").reason == "beyond the newest 4 (number 5)"


def test_keep_last_zero_deletes_every_unprotected_tag():
    tags = [Tag("a", "x", digest(1), created=ago(1)), Tag("a", "final", digest(2), created=ago(1))]
    assert deleted(choose(tags, Policy(keep_last=0, keep=("final",)), NOW)) == ["a:x"]


@pytest.mark.parametrize("by_digest", [False, True], ids=["by-tag", "by-digest"])
@pytest.mark.parametrize("policy", [Policy(keep_last=0), Policy(max_age=1.0), Policy(keep_last=0, max_age=1.0)],
                         ids=["keep-last-0", "max-age-1s", "both"])
def test_a_repository_under_kubectl_oras_is_never_chosen(policy, by_digest):
    # the controller's reclaim marker, an old one without a created time, and content parked there
    tags = [Tag("kubectl-oras/reclaim", "request", digest(1), created=ago(1000)),
            Tag("kubectl-oras/reclaim", "old", digest(2), first_seen=ago(1000)),
            Tag("kubectl-oras/parked", "x", digest(3), created=ago(1000)),
            Tag("kubectl-orasx", "x", digest(4), created=ago(1000))]  # only the folder is ours
    verdicts = choose(tags, policy, NOW, by_digest=by_digest)
    assert deleted(verdicts) == ["kubectl-orasx:x"]
    assert all("kubectl-oras/" in v.reason for v in verdicts if v.repository.startswith("kubectl-oras/"))


def test_ties_are_broken_by_the_tag_in_natural_order_whatever_the_input_order():
    # created has one-second resolution: iterations pushed in the same second tie
    same = ago(1)
    tags = [Tag("a", f"iter-{i}", digest(i), created=same) for i in (1, 10, 9, 2, 11, 0)]
    for seed in range(5):
        random.Random(seed).shuffle(tags)
        verdicts = choose(tags, Policy(keep_last=3), NOW)
        assert [v.tag for v in verdicts if not v.delete] == ["iter-11", "iter-10", "iter-9"]
    assert natural_key("iter-9") < natural_key("iter-10")
    # a tie on the natural key too (iter-01 and iter-1) still orders the same way every time
    pair = [Tag("a", "iter-01", digest(1), created=same), Tag("a", "iter-1", digest(2), created=same)]
    one = Policy(keep_last=1)
    assert [v.tag for v in choose(pair, one, NOW)] == [v.tag for v in choose(pair[::-1], one, NOW)]


def test_max_age_deletes_only_what_is_older():
    tags = [Tag("a", "old", digest(1), created=ago(48)), Tag("a", "new", digest(2), created=ago(1)),
            Tag("a", "edge", digest(3), created=ago(24))]
    verdicts = choose(tags, Policy(max_age=24 * HOUR), NOW)
    assert deleted(verdicts) == ["a:old"]  # exactly maxAge old is not over it
    assert "2d old, over maxAge 1d" in next(v for v in verdicts if v.tag == "old").reason


def test_with_both_limits_a_tag_goes_when_it_breaks_either():
    tags = [Tag("a", f"t{i}", digest(i), created=ago(i)) for i in range(1, 6)]  # t1 newest
    verdicts = choose(tags, Policy(keep_last=3, max_age=2.5 * HOUR), NOW)
    assert deleted(verdicts) == ["a:t3", "a:t4", "a:t5"]
    t4 = next(v for v in verdicts if v.tag == "t4")
    assert "beyond the newest 3" in t4.reason and "over maxAge" in t4.reason


def test_referrer_tags_are_never_deleted_nor_counted():
    hexes = "ab" * 32  # iter-1's manifest: its index tag stays with it
    tags = [Tag("a", f"sha256-{hexes}", digest(1), created=ago(1000)),
            Tag("a", f"sha256-{hexes}.sig", digest(2), created=ago(1000)),
            Tag("a", "iter-0", digest(3), created=ago(2)), Tag("a", "iter-1", f"sha256:{hexes}", created=ago(1))]
    verdicts = choose(tags, Policy(keep_last=1, max_age=HOUR * 10), NOW)
    assert deleted(verdicts) == ["a:iter-0"]
    assert next(v for v in verdicts if v.tag == f"sha256-{hexes}").rank is None
    assert is_referrer_tag(f"sha512-{'c' * 128}")
    assert not is_referrer_tag("sha256-notahexdigest") and not is_referrer_tag("sha256")


def test_keep_patterns_protect_whole_tag_matches_and_do_not_count_toward_keep_last():
    tags = [Tag("a", "final-1", digest(1), created=ago(100)), Tag("a", "x-final-1", digest(2), created=ago(99)),
            Tag("a", "iter-0", digest(3), created=ago(2)), Tag("a", "iter-1", digest(4), created=ago(1))]
    verdicts = choose(tags, Policy(keep_last=1, keep=("final-*", "nomatch")), NOW)
    assert deleted(verdicts) == ["a:iter-0", "a:x-final-1"]
    assert next(v for v in verdicts if v.tag == "final-1").reason == "matches keep pattern 'final-*'"
    # patterns are case-sensitive, as tags are
    upper = [Tag("a", "Final", digest(5), created=ago(9))]
    assert deleted(choose(upper, Policy(keep_last=0, keep=("final",)), NOW)) == ["a:Final"]


def test_missing_creation_time_uses_first_seen_else_now():
    tags = [Tag("a", "seen-long-ago", digest(1), first_seen=ago(50)),
            Tag("a", "never-seen", digest(2)),
            Tag("a", "created", digest(3), created=ago(30), first_seen=ago(1))]  # created wins
    verdicts = choose(tags, Policy(max_age=20 * HOUR), NOW)
    assert deleted(verdicts) == ["a:created", "a:seen-long-ago"]
    sources = {v.tag: v.time_source for v in verdicts}
    assert sources == {"seen-long-ago": "first seen", "never-seen": "now", "created": "created"}


def test_a_time_in_the_future_is_no_time_and_ranks_nowhere():
    future = NOW + dt.timedelta(days=365)
    tags = [Tag("a", "skewed", digest(1), created=future), Tag("a", "recent", digest(2), created=ago(0.5)),
            Tag("a", "old", digest(3), created=ago(5))]
    verdicts = choose(tags, Policy(keep_last=2, max_age=HOUR), NOW)
    skewed = next(v for v in verdicts if v.tag == "skewed")
    assert skewed.time == NOW and not skewed.delete
    # not ranked (taken as now, it was newest at every run): keep_last=1 keeps the real newest
    assert deleted(choose(tags, Policy(keep_last=1), NOW)) == ["a:old"]
    assert deleted(verdicts) == ["a:old"]


def test_by_digest_spares_tags_whose_manifest_a_kept_tag_shares():
    shared = digest("shared")
    tags = [Tag("a", "iter-0", shared, created=ago(10)), Tag("a", "best", shared, created=ago(10)),
            Tag("a", "iter-1", digest(1), created=ago(9)), Tag("a", "iter-2", digest(2), created=ago(8)),
            Tag("a", "dup-0", digest(3), created=ago(7)), Tag("a", "dup-1", digest(3), created=ago(7)),
            Tag("b", "iter-0", shared, created=ago(10))]  # same digest, other repository: unrelated
    policy = Policy(keep_last=1, keep=("best",))
    by_tag = choose(tags, policy, NOW)
    assert deleted(by_tag) == ["a:dup-0", "a:iter-0", "a:iter-1", "a:iter-2"]
    by_digest = choose(tags, policy, NOW, by_digest=True)
    # dup-1 is the newest (natural order breaks the tie) and kept: dup-0 shares its manifest;
    # iter-0 shares best's
    assert deleted(by_digest) == ["a:iter-1", "a:iter-2"]
    spared = sorted((v.tag, v.sharing) for v in by_digest if v.sharing)
    assert spared == [("dup-0", ("dup-1",)), ("iter-0", ("best",))]
    assert "also tagged best" in next(v for v in by_digest if v.tag == "iter-0").reason
    groups = digests_to_delete(by_digest)
    assert ("a", digest(1), ("iter-1",)) in groups and ("a", digest(2), ("iter-2",)) in groups
    assert all(d != shared for _, d, _ in groups)


def test_by_digest_deletes_a_manifest_once_when_all_its_tags_expire():
    same = digest(7)
    tags = [Tag("a", "x", same, created=ago(5)), Tag("a", "y", same, created=ago(5)), Tag("a", "z", digest(8), created=ago(1))]
    verdicts = choose(tags, Policy(keep_last=1), NOW, by_digest=True)
    assert digests_to_delete(verdicts) == [("a", same, ("x", "y"))]
    assert spare_shared(verdicts) == verdicts  # idempotent


def test_bytes_freed_counts_blobs_only_deleted_manifests_list_and_each_once():
    common, cfg = ("sha256:" + "c" * 64, 1000), ("sha256:" + "e" * 64, 2)
    tags = [Tag("a", "old1", digest(1), created=ago(3), blobs=(cfg, ("sha256:" + "1" * 64, 10), common)),
            Tag("a", "old2", digest(2), created=ago(2), blobs=(cfg, ("sha256:" + "1" * 64, 10))),
            Tag("a", "new", digest(3), created=ago(1), blobs=(cfg, common))]
    verdicts = choose(tags, Policy(keep_last=1), NOW)
    assert bytes_freed(verdicts, tags) == 10


def test_first_seen_times_survive_while_the_digest_stays():
    before = {"a:x": (digest(1), ago(10)), "a:gone": (digest(2), ago(10)), "a:repushed": (digest(3), ago(10))}
    tags = [Tag("a", "x", digest(1)), Tag("a", "repushed", digest(4)), Tag("a", "new", digest(5)),
            Tag("a", "stamped", digest(6), created=ago(1))]
    after = first_seen_times(before, tags, NOW)
    assert after == {"a:x": (digest(1), ago(10)), "a:repushed": (digest(4), NOW), "a:new": (digest(5), NOW)}


def test_thousands_of_tags_in_many_repositories():
    rng = random.Random(11)
    tags = []
    for r in range(50):
        for i in range(200):
            tags.append(Tag(f"repo{r}", f"iter-{i}", digest(r * 1000 + i), created=ago(rng.choice([1, 2, 3, 200 - i]))))
    rng.shuffle(tags)
    verdicts = choose(tags, Policy(keep_last=20, keep=("iter-1",)), NOW)
    assert len(verdicts) == 10_000
    for r in range(50):
        mine = [v for v in verdicts if v.repository == f"repo{r}"]
        kept = [v for v in mine if not v.delete]
        assert len(kept) == 21  # 20 newest + iter-1
        newest_deleted = max(v.time for v in mine if v.delete)
        assert all(v.time >= newest_deleted for v in kept if v.tag != "iter-1")


def test_tags_without_a_creation_time_are_not_ranked_by_keep_last():
    # plain image pushes carry no created annotation: ordering them by name would delete
    # "latest" and "stable" before "v1.9"
    tags = [Tag("app", t, digest(i)) for i, t in enumerate(["v1.9", "v1.10", "latest", "stable"])]
    tags.append(Tag("app", "build-7", digest(9), created=ago(1)))
    tags.append(Tag("app", "build-6", digest(8), created=ago(2)))
    verdicts = choose(tags, Policy(keep_last=1), NOW)
    assert deleted(verdicts) == ["app:build-6"]
    assert all("not ranked" in v.reason for v in verdicts if v.time_source == "now")
    # maxAge applies to them from when they were first seen; never seen before: kept
    seen = [Tag("app", "old", digest(1), first_seen=ago(30)), Tag("app", "young", digest(2), first_seen=ago(1)),
            Tag("app", "new", digest(3))]
    verdicts = choose(seen, Policy(keep_last=0, max_age=10 * HOUR), NOW)
    assert deleted(verdicts) == ["app:old"]
    assert "first seen 1.2d ago, over maxAge 10h" in next(v for v in verdicts if v.tag == "old").reason


def test_a_tag_given_twice_is_refused_not_ranked_twice():
    tags = [Tag("a", "run-1", digest(1), created=ago(2)), Tag("a", "run-2", digest(2), created=ago(1)),
            Tag("a", "run-2", digest(2), created=ago(1))]
    with pytest.raises(ValueError, match="a:run-2 is given twice"):
        choose(tags, Policy(keep_last=2), NOW)


def test_by_digest_keeps_a_manifest_a_kept_index_lists():
    child = digest("child")
    tags = [Tag("app", "amd64-old", child, created=ago(5)),
            Tag("app", "release", digest("index"), created=ago(1), children=(child, digest("other"))),
            Tag("app", "junk", digest(3), created=ago(6))]
    by_tag = choose(tags, Policy(keep_last=1), NOW)
    assert deleted(by_tag) == ["app:amd64-old", "app:junk"]  # untagging leaves the index whole
    by_digest = choose(tags, Policy(keep_last=1), NOW, by_digest=True)
    assert deleted(by_digest) == ["app:junk"]
    assert "the kept index release lists its manifest" in next(v for v in by_digest if v.tag == "amd64-old").reason
    sized = [Tag("app", "amd64-old", child, created=ago(5), blobs=(("sha256:" + "1" * 64, 100),)),
             Tag("app", "release", digest("index"), created=ago(1), children=(child,))]
    assert bytes_freed(choose(sized, Policy(keep_last=1), NOW), sized) == 0  # the index keeps them


def index_of(subject: str) -> str:
    """The tag schema's index tag of ``subject`` (``sha256:<hex>`` → ``sha256-<hex>``)."""
    return subject.replace(":", "-", 1)


def outputs_with_indexes(*, ages: tuple[float, ...] = (3, 2, 1)) -> list[Tag]:
    """Outputs iter-0.. (oldest first) of repository a, each with its provenance index tag."""
    tags = []
    for i, hours in enumerate(ages):
        tags.append(Tag("a", f"iter-{i}", digest(i + 1), created=ago(hours)))
        tags.append(Tag("a", index_of(digest(i + 1)), digest(100 + i), children=(digest(200 + i),)))
    return tags


@pytest.mark.parametrize("by_digest", [False, True], ids=["by-tag", "by-digest"])
def test_the_index_tag_of_an_output_deleted_in_this_run_goes_with_it(by_digest):
    verdicts = choose(outputs_with_indexes(), Policy(keep_last=1), NOW, by_digest=by_digest)
    assert deleted(verdicts) == sorted(["a:iter-0", "a:iter-1", f"a:{index_of(digest(1))}",
                                        f"a:{index_of(digest(2))}"])
    gone = next(v for v in verdicts if v.tag == index_of(digest(1)))
    assert gone.reason == f"the referrers index of {digest(1)}, which no tag that stays points at"
    assert gone.rank is None
    kept = next(v for v in verdicts if v.tag == index_of(digest(3)))
    assert not kept.delete and kept.rank is None
    # the index tags neither count nor are counted: keepLast 1 kept iter-2, the newest output
    assert [v.tag for v in verdicts if v.rank == 1] == ["iter-2"]


def test_the_index_tag_of_a_subject_gone_before_the_run_goes_whatever_its_age():
    tags = [Tag("a", index_of(digest(7)), digest(100), created=ago(0.01)), Tag("a", "x", digest(1), created=ago(1))]
    verdicts = choose(tags, Policy(keep_last=5, min_age=HOUR * 24), NOW)
    assert deleted(verdicts) == [f"a:{index_of(digest(7))}"]


def test_the_index_tag_stays_while_any_tag_that_stays_points_at_its_subject():
    tags = outputs_with_indexes(ages=(3, 1))
    tags.append(Tag("a", "best", digest(1), created=ago(3)))  # a second tag on iter-0's manifest
    # iter-0 goes, but best (a pattern keeps it) still points at its manifest
    verdicts = choose(tags, Policy(keep_last=1, keep=("best",)), NOW)
    assert deleted(verdicts) == ["a:iter-0"]
    # a subject kept by minAge keeps its index too
    young = choose(outputs_with_indexes(ages=(0.5, 0.1)), Policy(keep_last=1, min_age=HOUR), NOW)
    assert deleted(young) == []
    # and one in another repository does not count
    other = [Tag("b", "x", digest(1), created=ago(1)), Tag("a", index_of(digest(1)), digest(100))]
    assert deleted(choose(other, Policy(keep_last=5), NOW)) == [f"a:{index_of(digest(1))}"]


def test_a_keep_pattern_keeps_an_index_tag_whose_subject_is_gone():
    tags = outputs_with_indexes(ages=(2, 1))
    verdicts = choose(tags, Policy(keep_last=1, keep=("sha256-*",)), NOW)
    assert deleted(verdicts) == ["a:iter-0"]
    assert next(v for v in verdicts if v.tag == index_of(digest(1))).reason == "matches keep pattern 'sha256-*'"


def test_cosign_tags_and_other_referrer_tags_stay_when_their_subject_is_gone_but_not_a_sha512_index():
    hexes = digest(1).split(":")[1]
    tags = [Tag("a", f"sha256-{hexes}.{kind}", digest(10 + n)) for n, kind in enumerate(("sig", "att", "sbom"))]
    tags += [Tag("a", f"sha256-{hexes[:40]}", digest(21))]  # a referrer tag, but no digest's index
    assert deleted(choose(tags, Policy(keep_last=0), NOW)) == []
    # a sha512 subject's index is one too
    assert deleted(choose([*tags, Tag("a", f"sha512-{'c' * 128}", digest(20))], Policy(keep_last=0), NOW)) == \
        [f"a:sha512-{'c' * 128}"]


def test_by_digest_an_orphan_index_tag_sharing_its_manifest_with_a_kept_tag_is_spared():
    # someone tagged the index manifest by hand: deleting it by digest would take that tag
    tags = [Tag("a", index_of(digest(1)), digest(100)), Tag("a", "by-hand", digest(100), created=ago(1))]
    verdicts = choose(tags, Policy(keep_last=5), NOW, by_digest=True)
    assert deleted(verdicts) == []
    spared = next(v for v in verdicts if v.tag == index_of(digest(1)))
    assert "but kept: its manifest is also tagged by-hand" in spared.reason
    assert deleted(choose(tags, Policy(keep_last=5), NOW)) == [f"a:{index_of(digest(1))}"]


def test_a_dry_run_says_the_orphan_index_tag_would_be_deleted():
    verdicts = choose(outputs_with_indexes(ages=(2, 1)), Policy(keep_last=1), NOW)
    outcomes = delete_chosen(None, verdicts, mode=BY_TAG, dry_run=True)  # type: ignore[arg-type]
    assert sorted((o.tag, o.result) for o in outcomes) == [("iter-0", WOULD_DELETE),
                                                          (index_of(digest(1)), WOULD_DELETE)]
