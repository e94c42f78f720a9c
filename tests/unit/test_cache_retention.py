"""An OrasCache's retention plan, when a run is due, and the status it leaves (controller/core/cache_retention.py)."""

from __future__ import annotations

import datetime as dt

import pytest

from controller.core.cache_retention import (
    MAX_FIRST_SEEN,
    RUN_ANNOTATION,
    RetentionPlan,
    first_seen_of,
    retention_record,
    seconds_until_due,
)
from controller.core.cache_spec import DEFAULT_RETENTION_INTERVAL, InvalidCache, cache_spec
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
    assert plan == RetentionPlan(Policy(keep_last=3, max_age=720 * 3600.0, keep=("final-*",)), 600.0, True)
    assert cache_spec(cache({"keepLast": 0})).retention.interval == DEFAULT_RETENTION_INTERVAL
    assert cache_spec(cache({"keepLast": 0, "interval": "1s"})).retention.interval == 10.0  # the minimum


@pytest.mark.parametrize("retention", [None, {}, {"keep": ["x"]}, {"interval": "1m", "dryRun": True}])
def test_no_limit_is_no_retention(retention):
    assert cache_spec(cache(retention)).retention is None


@pytest.mark.parametrize("retention, field", [
    ({"keepLast": -1}, "spec.retention.keepLast"), ({"keepLast": "5"}, "spec.retention.keepLast"),
    ({"keepLast": True}, "spec.retention.keepLast"), ({"maxAge": "soon", "keepLast": 1}, "spec.retention.maxAge"),
    ({"maxAge": ["1h"]}, "spec.retention.maxAge"), ({"keepLast": 1, "interval": "often"}, "spec.retention.interval"),
    ({"keepLast": 1, "keep": "final"}, "spec.retention.keep"), ({"keepLast": 1, "keep": [""]}, "spec.retention.keep"),
    ({"keepLast": 1, "dryRun": "yes"}, "spec.retention.dryRun"),
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
    record = retention_record(now=NOW, plan=plan, request="", tags=tags, deleted=[], failed=[], errors=[],
                              bytes_freed=0, deleted_by="tag", previous_first_seen=remembered, seconds=1.0)
    assert len(record["firstSeen"]) == MAX_FIRST_SEEN
    assert record["firstSeen"]["r:t0"]["time"] == "2026-11-22T12:00:00Z"  # the oldest is kept
    back = first_seen_of({"status": {"lastRetention": record}})
    assert back["r:t0"] == (tags[0].digest, NOW - dt.timedelta(days=1))
    assert first_seen_of({"status": {"lastRetention": {"firstSeen": {"a:b": "junk", "c:d": {"digest": 1}}}}}) == {}
