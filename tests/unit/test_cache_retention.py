"""An OrasCache's retention plan, when a run is due, and the status it leaves (controller/core/cache_retention.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from controller.core.cache_retention import (
    MAX_FIRST_SEEN,
    MAX_FIRST_SEEN_BYTES,
    RUN_ANNOTATION,
    RetentionPlan,
    failed_record,
    first_seen_of,
    requested_run,
    retention_record,
    seconds_until_due,
)
from controller.core.cache_spec import DEFAULT_MIN_AGE, DEFAULT_RETENTION_INTERVAL, InvalidCache, cache_spec
from kubectl_oras.retention.choice import Policy, Tag

NOW = dt.datetime(2026, 11, 23, 12, tzinfo=dt.UTC)


def cache(retention=None, *, status=None, annotations=None):
    obj = {"metadata": {"name": "c", "namespace": "n", "annotations": annotations or {}},
           "spec": {"retention": retention} if retention is not None else {}}
    if status is not None:
        obj["status"] = status
    return obj


def test_the_plan_reads_every_field():
    plan = cache_spec(cache({"keepLast": 3, "maxAge": "720h", "keep": ["final-*"], "interval": "10m",
                             "dryRun": True})).retention
    assert plan == RetentionPlan(Policy(keep_last=3, max_age=720 * 3600.0, keep=("final-*",), min_age=3600.0),
                                 600.0, True)
    plan = cache_spec(cache({"keepLastRuns": 2, "minAge": "10m"})).retention
    assert plan.policy == Policy(keep_last_runs=2, min_age=600.0)
    assert cache_spec(cache({"keepLast": 0})).retention.interval == DEFAULT_RETENTION_INTERVAL
    assert cache_spec(cache({"keepLast": 0, "interval": "1s"})).retention.interval == 10.0  # the minimum


def test_min_age_defaults_to_an_hour_and_zero_is_no_minimum():
    assert cache_spec(cache({"keepLast": 0})).retention.policy.min_age == DEFAULT_MIN_AGE == 3600.0
    assert cache_spec(cache({"keepLast": 0, "minAge": "0s"})).retention.policy.min_age == 0.0
    assert cache_spec(cache({"keepLast": 0, "minAge": 90})).retention.policy.min_age == 90.0


@pytest.mark.parametrize("retention", [None, {}, {"keep": ["x"]}, {"interval": "1m", "dryRun": True}])
def test_no_limit_is_no_retention(retention):
    assert cache_spec(cache(retention)).retention is None


@pytest.mark.parametrize("retention, field", [
    ({"keepLast": -1}, "spec.retention.keepLast"), ({"keepLast": "5"}, "spec.retention.keepLast"),
    ({"keepLast": True}, "spec.retention.keepLast"), ({"maxAge": "soon", "keepLast": 1}, "spec.retention.maxAge"),
    ({"maxAge": ["1h"]}, "spec.retention.maxAge"), ({"keepLast": 1, "interval": "often"}, "spec.retention.interval"),
    ({"keepLast": 1, "keep": "final"}, "spec.retention.keep"), ({"keepLast": 1, "keep": [""]}, "spec.retention.keep"),
    ({"keepLast": 1, "dryRun": "yes"}, "spec.retention.dryRun"),
    ({"maxAge": "3000000h", "keepLast": 1}, "spec.retention.maxAge"),
    ({"keepLast": 1, "interval": "3000000h"}, "spec.retention.interval"),
    ({"maxAge": "0s"}, "spec.retention.maxAge: must be more than zero"), ({"maxAge": 0}, "spec.retention.maxAge"),
    ({"keepLast": 1, "interval": "0"}, "spec.retention.interval: must be more than zero"),
    ({"maxAge": "1d"}, "spec.retention.maxAge: '1d' is not a retention duration"),
    ({"keepLastRuns": -1}, "spec.retention.keepLastRuns"), ({"keepLastRuns": "2"}, "spec.retention.keepLastRuns"),
    ({"keepLast": 1, "minAge": "soon"}, "spec.retention.minAge: 'soon' is not a retention duration"),
    ({"keepLast": 1, "minAge": True}, "spec.retention.minAge"),
    ({"keepLast": 1, "minAge": "3000000h"}, "spec.retention.minAge"),
])
def test_a_bad_field_is_named(retention, field):
    with pytest.raises(InvalidCache, match=field.replace(".", r"\.")):
        cache_spec(cache(retention))


def test_a_run_is_due_at_first_after_the_interval_and_when_asked():
    plan = RetentionPlan(Policy(keep_last=1), 600.0, False)
    assert seconds_until_due(cache({"keepLast": 1}), plan, NOW) == 0
    ran = {"lastRetention": {"time": "2026-11-23T11:55:00Z", "request": ""}}
    assert seconds_until_due(cache({"keepLast": 1}, status=ran), plan, NOW) == 300
    assert seconds_until_due(cache({"keepLast": 1}, status=ran, annotations={RUN_ANNOTATION: "now"}), plan, NOW) == 0
    ran["lastRetention"]["request"] = "now"
    assert seconds_until_due(cache({"keepLast": 1}, status=ran, annotations={RUN_ANNOTATION: "now"}), plan, NOW) == 300
    broken = {"lastRetention": {"time": "not a time"}}
    assert seconds_until_due(cache({"keepLast": 1}, status=broken), plan, NOW) == 0
    future = {"lastRetention": {"time": "2030-01-01T00:00:00Z"}}  # a clock far ahead wrote it: not years of waiting
    assert seconds_until_due(cache({"keepLast": 1}, status=future), plan, NOW) == 0


def test_first_seen_times_go_round_the_status_and_are_bounded():
    tags = [Tag("r", f"t{i}", f"sha256:{i:064d}") for i in range(MAX_FIRST_SEEN + 10)]
    plan = RetentionPlan(Policy(keep_last=1), 60.0, False)
    remembered = {"r:t0": (tags[0].digest, NOW - dt.timedelta(days=1))}
    record = retention_record(now=NOW, plan=plan, request="", tags=tags, ranked=["r"], deleted=[], failed=[], errors=[],
                              bytes_freed=0, deleted_by="tag", previous_first_seen=remembered, seconds=1.0)
    assert 500 < len(record["firstSeen"]) <= MAX_FIRST_SEEN  # bounded by count and by bytes
    assert record["firstSeen"]["r:t0"]["time"] == "2026-11-22T12:00:00Z"  # the oldest is kept
    back = first_seen_of({"status": {"lastRetention": record}})
    assert back["r:t0"] == (tags[0].digest, NOW - dt.timedelta(days=1))
    assert first_seen_of({"status": {"lastRetention": {"firstSeen": {"a:b": "junk", "c:d": {"digest": 1}}}}}) == {}


def record(**kw):
    args = dict(now=NOW, plan=RetentionPlan(Policy(keep_last=1), 60.0, False), request="", tags=[], ranked=[],
                deleted=[], failed=[], errors=[], bytes_freed=0, deleted_by="tag", previous_first_seen={}, seconds=1.0)
    args.update(kw)
    return retention_record(**args)


def test_a_deleted_tag_is_forgotten_so_the_same_content_pushed_again_is_new():
    old = NOW - dt.timedelta(days=3)
    tag = Tag("ci", "base", "sha256:" + "1" * 64)
    kept = Tag("ci", "other", "sha256:" + "2" * 64)
    made = record(tags=[tag, kept], ranked=["ci"], deleted=["ci:base"],
                  previous_first_seen={"ci:base": (tag.digest, old), "ci:other": (kept.digest, old)})
    assert set(made["firstSeen"]) == {"ci:other"}
    dry = record(plan=RetentionPlan(Policy(keep_last=1), 60.0, True), tags=[tag], ranked=["ci"], deleted=["ci:base"],
                 previous_first_seen={"ci:base": (tag.digest, old)})
    assert set(dry["firstSeen"]) == {"ci:base"}  # a dry run deletes nothing: nothing to forget


def test_a_repository_left_alone_keeps_its_first_seen_times():
    old = NOW - dt.timedelta(days=3)
    made = record(tags=[], ranked=["read"], previous_first_seen={"flaky/repo:t": ("sha256:" + "3" * 64, old),
                                                                 "read:gone": ("sha256:" + "4" * 64, old)})
    assert set(made["firstSeen"]) == {"flaky/repo:t"}  # read in full: gone; left alone: kept


def test_the_record_stays_small_whatever_the_registry_says():
    hostile = "boom\n2026-01-01 CRITICAL controller: leadership lost\x1b[2J" + "x" * 100_000
    made = record(errors=[hostile] * 20, deleted=["r:" + "t" * 128] * 60)
    assert len(made["errors"]) == 10 and all(len(e) <= 300 for e in made["errors"])
    assert all("\n" not in e and "\x1b" not in e for e in made["errors"])
    failed = failed_record(now=NOW, plan=RetentionPlan(Policy(keep_last=1), 60.0, False), request="", error=hostile,
                           previous=None)
    assert len(failed["errors"][0]) <= 300 and "\n" not in failed["errors"][0]
    many = {f"{'r' * 200}:{i:0128d}": ("sha256:" + "5" * 64, NOW - dt.timedelta(seconds=i)) for i in range(3000)}
    tags = [Tag("r" * 200, f"{i:0128d}", "sha256:" + "5" * 64) for i in range(3000)]
    big = record(tags=tags, ranked=["r" * 200], previous_first_seen=many)
    import json
    assert len(json.dumps(big["firstSeen"])) <= MAX_FIRST_SEEN_BYTES
    # the oldest are kept (they expire first): the newest entry kept is older than the oldest dropped
    dropped = set(many) - set(big["firstSeen"])
    assert dropped and max(big["firstSeen"][k]["time"] for k in big["firstSeen"]) <= min(
        many[k][1] for k in dropped).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert len(json.dumps(big)) < 200_000


def test_a_long_or_odd_run_request_is_recorded_by_its_hash():
    assert requested_run(cache({"keepLast": 1}, annotations={RUN_ANNOTATION: "2026-11-23"})) == "2026-11-23"
    long = requested_run(cache({"keepLast": 1}, annotations={RUN_ANNOTATION: "x" * 250_000}))
    assert long.startswith("sha256:") and len(long) == 71
    assert requested_run(cache({"keepLast": 1}, annotations={RUN_ANNOTATION: "a\nb"})).startswith("sha256:")


def test_the_reconciler_never_sends_what_retention_owns():
    from controller.runtime.reconciler import _status_patch

    stale = {"conditions": [], "lastRetention": {"time": "t0", "request": "1"}}
    patch = _status_patch(stale, {"conditions": [{"type": "Ready"}], "lastRetention": {"time": "t0", "request": "1"}})
    assert patch == {"status": {"conditions": [{"type": "Ready"}]}}
    assert "lastRetention" not in _status_patch(stale, {"conditions": []})["status"]  # not nulled either
