"""Retention that cannot take live data (docs/retention.md): runs of a fan-out kept whole
(``keepLastRuns``), no tag younger than ``minAge``, the inputs of unfinished pods spared, and the
warning where ``keepLast`` would cut the newest run. The fan-out is the 4-way Indexed Job whose
only run ``keepLast: 3`` once cut (kubectl_oras/retention/choice.py, controller/core/cache_retention.py)."""

from __future__ import annotations

import datetime as dt
import json
import random

import pytest

from controller.core.cache_retention import inputs_in_use
from kubectl_oras.agent.outputs import pushed_annotations
from kubectl_oras.cluster.caches import CacheError, cache_object, retention_warnings, summary, summary_text
from kubectl_oras.oci.manifest import ANNOTATION_JOB
from kubectl_oras.pods.annotations import PREFIX
from kubectl_oras.pods.step import EXIT_CODE_ANNOTATION, JOB_UID_ENV, STEP_ENV
from kubectl_oras.retention.choice import InputInUse, Policy, Tag, choose, runs_cut_by_keep_last

NOW = dt.datetime(2026, 11, 23, 12, 0, 0, tzinfo=dt.UTC)
SHARDS = 4


def digest(text: str) -> str:
    return "sha256:" + text.encode().hex().rjust(64, "0")[-64:]


def runs(count: int, *, rng: random.Random | None = None, hours_apart: float = 2.0) -> list[Tag]:
    """``count`` runs of a 4-way Indexed Job (tags run-R-0..run-R-3, one Job uid each), oldest
    first; with ``rng``, each shard's push lands at its own second within its run's minute."""
    tags = []
    for r in range(count):
        start = NOW - dt.timedelta(hours=hours_apart * (count - r))
        for i in range(SHARDS):
            second = rng.randrange(60) if rng else i
            tags.append(Tag("results/pi", f"run-{r}-{i}", digest(f"{r}-{i}"),
                            created=start + dt.timedelta(seconds=second), job=f"uid-{r}"))
    return tags


def deleted(verdicts) -> set[str]:
    return {v.tag for v in verdicts if v.delete}


def shards(*numbers: int) -> set[str]:
    return {f"run-{r}-{i}" for r in numbers for i in range(SHARDS)}


# -- keepLastRuns: one Job's tags are one run ------------------------------------------------------


def test_keep_last_runs_keeps_every_shard_of_the_newest_runs_and_deletes_older_runs_whole():
    verdicts = choose(runs(5), Policy(keep_last_runs=2), NOW)
    assert deleted(verdicts) == shards(0, 1, 2)
    kept = {v.tag: v.reason for v in verdicts if not v.delete}
    assert set(kept) == shards(3, 4)
    assert kept["run-4-0"] == "of run number 1 of the newest 2 runs"
    assert next(v.reason for v in verdicts if v.tag == "run-2-3") == "of run number 3, beyond the newest 2 runs"


@pytest.mark.parametrize("seed", range(20))
def test_no_shard_of_the_newest_runs_is_ever_deleted_whatever_second_each_shard_was_pushed(seed):
    rng = random.Random(seed)
    tags = runs(6, rng=rng, hours_apart=rng.choice([0.01, 1.0, 24.0]))  # 0.01 h: runs 36 s apart, pushes interleave
    rng.shuffle(tags)
    keep = rng.randint(1, 5)
    verdicts = choose(tags, Policy(keep_last_runs=keep), NOW)
    newest_runs = sorted({t.job for t in tags}, key=lambda job: max(t.created for t in tags if t.job == job))[-keep:]
    for tag in tags:
        assert (tag.tag in deleted(verdicts)) == (tag.job not in newest_runs), tag.tag


def test_keep_last_counts_tags_and_cuts_the_only_run_but_keep_last_runs_does_not():
    """The issue's case: keepLast 3 deleted one shard of the only run of a 4-way Indexed Job."""
    only = runs(1)
    assert len(deleted(choose(only, Policy(keep_last=3), NOW))) == 1
    assert deleted(choose(only, Policy(keep_last_runs=1), NOW)) == set()


def test_a_tag_no_job_pushed_is_a_run_of_its_own():
    tags = [*runs(1), Tag("results/pi", "latest", digest("l"), created=NOW), Tag("results/pi", "manual", digest("m"),
                                                                                 created=NOW - dt.timedelta(hours=5))]
    verdicts = choose(tags, Policy(keep_last_runs=2), NOW)
    assert deleted(verdicts) == {"manual"}  # runs: latest (1), the Job's four shards (2), manual (3)


def test_runs_are_counted_per_repository_and_with_keep_last_a_tag_goes_when_it_breaks_either():
    other = [Tag("results/other", f"run-0-{i}", digest(f"o{i}"), created=NOW - dt.timedelta(hours=50), job="uid-0")
             for i in range(SHARDS)]
    verdicts = choose([*runs(2), *other], Policy(keep_last_runs=1, keep_last=6), NOW)
    assert {v.reference for v in verdicts if v.delete} == {f"results/pi:{t}" for t in shards(0)}
    assert deleted(choose(runs(2), Policy(keep_last_runs=2, keep_last=6), NOW)) == {"run-0-0", "run-0-1"}


def test_keep_patterns_referrers_and_tags_without_a_time_are_no_run():
    tags = [*runs(2), Tag("results/pi", "final-1", digest("f"), created=NOW),
            Tag("results/pi", digest("1-0").replace(":", "-"), digest("r"), created=NOW),  # a kept shard's index
            Tag("results/pi", "undated", digest("u"), job="uid-9")]
    verdicts = choose(tags, Policy(keep_last_runs=1, keep=("final-*",)), NOW)
    assert deleted(verdicts) == shards(0)


# -- minAge -----------------------------------------------------------------------------------------


def test_no_tag_younger_than_min_age_is_deleted_whatever_the_limits_say():
    tags = [Tag("exp", f"iter-{m}", digest(f"i{m}"), created=NOW - dt.timedelta(minutes=m)) for m in (5, 30, 59, 61, 600)]
    verdicts = choose(tags, Policy(keep_last=0, min_age=3600.0), NOW)
    assert deleted(verdicts) == {"iter-61", "iter-600"}
    young = next(v for v in verdicts if v.tag == "iter-59")
    assert young.reason == "beyond the newest 0 (number 3), but kept: 59m old, younger than minAge 1h"
    assert young.rank == 3  # still counted: a tag ageing past minAge never moves which others go
    assert deleted(choose(tags, Policy(keep_last=0, min_age=0.0), NOW)) == {t.tag for t in tags}
    assert deleted(choose(tags, Policy(max_age=600.0, min_age=3600.0), NOW)) == {"iter-61", "iter-600"}


def test_min_age_keeps_a_young_run_whole_under_a_keep_last_that_would_cut_it():
    tags = runs(2, hours_apart=0.25)  # the newest run 15 min old, the one before 30 min
    assert deleted(choose(tags, Policy(keep_last=1, min_age=3600.0), NOW)) == set()


# -- inputs of pods that have not finished ------------------------------------------------------


def test_a_pattern_input_of_a_live_pod_spares_every_match_and_only_in_its_repository():
    tags = [*runs(3), *(Tag("results/other", f"run-0-{i}", digest(f"x{i}"), created=NOW - dt.timedelta(hours=9),
                            job=f"uid-x{i}") for i in range(SHARDS))]  # four runs of one tag: three go
    pod = InputInUse("results/pi", "run-0-*", None, "lab/fan-in (Pending)")
    verdicts = choose(tags, Policy(keep_last_runs=1), NOW, in_use=[pod])
    assert {v.reference for v in verdicts if v.delete} == \
        {f"results/pi:{t}" for t in shards(1)} | {f"results/other:run-0-{i}" for i in range(SHARDS - 1)}
    spared = next(v for v in verdicts if v.reference == "results/pi:run-0-2")
    assert spared.reason == ("of run number 3, beyond the newest 1 runs, but kept: pod lab/fan-in (Pending) has not "
                             "finished and names it as an input (results/pi:run-0-*)")


def test_an_input_by_tag_or_by_digest_spares_that_tag_alone():
    tags = runs(2)
    exact = InputInUse("results/pi", "run-0-1", None, "lab/a (Running)")
    by_digest = InputInUse("results/pi", None, digest("0-3"), "lab/b (Pending)")
    assert deleted(choose(tags, Policy(keep_last_runs=1), NOW, in_use=[exact, by_digest])) == {"run-0-0", "run-0-2"}


# -- which inputs the pods of a namespace name ------------------------------------------------------


def pod(name: str, phase: str | None = "Pending", *, annotations: dict[str, str] | None = None,
        step: dict | None = None, labels: dict[str, str] | None = None) -> dict:
    obj: dict = {"metadata": {"name": name, "namespace": "lab", "annotations": annotations or {},
                              "labels": labels or {}}, "spec": {"containers": [{"name": "main"}]}}
    if phase is not None:
        obj["status"] = {"phase": phase}
    if step is not None:
        env = [{"name": STEP_ENV, "value": json.dumps(step)}]
        obj["spec"]["initContainers"] = [{"name": "oras-push", "env": env}]
    return obj


def step_json(registry: str, inputs: list[str]) -> dict:
    return {"registry": registry, "plainHttp": True, "share": "/oras", "inputs": inputs}


def test_the_inputs_of_pods_that_have_not_finished_are_in_use_and_finished_ones_are_not():
    pods = [
        pod("fan-in", "Pending", annotations={f"{PREFIX}input-uri": "results/pi:run-*", f"{PREFIX}input-path": "/in"}),
        pod("starting", None, annotations={f"{PREFIX}input-uri": "results/pi:first"}),
        pod("done", "Succeeded", annotations={f"{PREFIX}input-uri": "results/pi:old"}),
        pod("broke", "Failed", annotations={f"{PREFIX}input-uri": "results/pi:older"}),
        pod("running", "Running", annotations={f"{PREFIX}input-uri_1": "results/pi:run-$(JOB_COMPLETION_INDEX)"},
            labels={"batch.kubernetes.io/job-completion-index": "3"}),
    ]
    used = inputs_in_use(pods, "oras", "lab")
    assert [(i.repository, i.tag, i.pod) for i in used] == [
        ("results/pi", "run-*", "lab/fan-in (Pending)"), ("results/pi", "first", "lab/starting (Pending)"),
        ("results/pi", "run-3", "lab/running (Running)")]


def test_only_inputs_from_this_cache_count():
    pods = [pod("other-cache", annotations={f"{PREFIX}oras-cache": "other", f"{PREFIX}input-uri": "results/pi:a"}),
            pod("own-registry", annotations={f"{PREFIX}registry": "reg.example:5000", f"{PREFIX}input-uri": "r:b"}),
            pod("step-elsewhere", step=step_json("other.lab.svc:5000", ["results/pi:c"])),
            pod("refused", annotations={f"{PREFIX}input-uri": "results/pi:d", f"{PREFIX}typo": "x"})]
    assert inputs_in_use(pods, "oras", "lab") == []


def test_what_the_agent_was_given_counts_when_the_pod_carries_no_annotation():
    """A pod of a Job annotated on the Job itself: its inputs are in its agent's step description."""
    pods = [pod("job-abcde", step=step_json("oras.lab.svc:5000", ["results/pi:run-1", "logs/$(POD_NAME):x",
                                                                      "results/pi@" + digest("z")]))]
    used = inputs_in_use(pods, "oras", "lab")
    assert [(i.repository, i.tag, i.digest) for i in used] == [
        ("results/pi", "run-1", None), ("logs/job-abcde", "x", None), ("results/pi", None, digest("z"))]


def test_a_job_injected_before_it_was_applied_spares_each_pods_own_shard():
    """`kubectl oras inject` leaves $(JOB_COMPLETION_INDEX) in the step for the kubelet: the pod's
    completion index says which shard it pulls; a variable the pod does not say spares every tag
    it could become, never none."""
    step = step_json("oras.lab.svc:5000", ["results/pi:run-$(JOB_COMPLETION_INDEX)"])
    shard = pod("shard-2-abcde", "Running", step=step, labels={"batch.kubernetes.io/job-completion-index": "2"})
    unknown = pod("shard-x", "Running", step=step)
    used = inputs_in_use([shard, unknown], "oras", "lab")
    assert [(i.tag, i.pod) for i in used] == [("run-2", "lab/shard-2-abcde (Running)"), ("run-*", "lab/shard-x (Running)")]
    tags = [Tag("results/pi", f"run-{n}", digest(str(n)), NOW - dt.timedelta(hours=5 + n)) for n in range(4)]
    assert deleted(choose(tags, Policy(keep_last=1, min_age=3600), NOW, in_use=used[:1])) == {"run-1", "run-3"}


def test_a_created_time_in_the_future_neither_ranks_newest_nor_stays_young():
    """A node whose clock runs a day ahead stamped run A: taken as "now" at every run, it ranked
    newest and the real newest run B went. Its first-seen time (recorded for it) stands in, as for
    a tag with no created time: not ranked, and old once its first sighting is."""
    from kubectl_oras.retention.choice import first_seen_times

    ahead = [Tag("results/pi", f"a-{i}", digest(f"a{i}"), created=NOW + dt.timedelta(hours=21), job="uid-a")
             for i in range(2)]
    seen = first_seen_times({}, ahead, NOW - dt.timedelta(hours=3))  # recorded at an earlier run
    assert set(seen) == {"results/pi:a-0", "results/pi:a-1"}
    ahead = [Tag(t.repository, t.tag, t.digest, created=t.created, job=t.job, first_seen=seen[f"results/pi:{t.tag}"][1])
             for t in ahead]
    behind = [Tag("results/pi", f"b-{i}", digest(f"b{i}"), created=NOW - dt.timedelta(hours=2), job="uid-b")
              for i in range(2)]
    verdicts = choose(ahead + behind, Policy(keep_last_runs=1, min_age=3600), NOW)
    assert deleted(verdicts) == set()
    assert {v.tag: v.reason for v in verdicts}["b-0"] == "of run number 1 of the newest 1 runs"
    later = NOW + dt.timedelta(days=10)
    assert deleted(choose(ahead, Policy(keep_last=0, max_age=86400, min_age=3600), later)) == {"a-0", "a-1"}


# -- what the sidecar writes, and the warnings ------------------------------------------------------


def test_the_sidecar_writes_the_uid_of_its_job_on_what_it_pushes(monkeypatch):
    monkeypatch.setenv(JOB_UID_ENV, "0b6f-uid")
    assert pushed_annotations(0) == {EXIT_CODE_ANNOTATION: "0", ANNOTATION_JOB: "0b6f-uid"}
    monkeypatch.setenv(JOB_UID_ENV, "")  # a pod no Job made: the label is absent, the variable empty
    assert pushed_annotations(2) == {EXIT_CODE_ANNOTATION: "2"}


def test_the_run_warning_names_the_repository_where_keep_last_is_fewer_than_the_newest_run():
    tags = [*runs(2), *(Tag("small", f"s-{i}", digest(f"s{i}"), created=NOW, job="j") for i in range(2))]
    assert runs_cut_by_keep_last(tags, Policy(keep_last=3)) == [
        "results/pi: keepLast 3 is fewer than the 4 tags its newest run wrote (Job uid uid-1), so it deletes part "
        "of that run; keepLastRuns counts runs"]
    assert runs_cut_by_keep_last(tags, Policy(keep_last=4)) == []
    assert runs_cut_by_keep_last(tags, Policy(keep_last_runs=1)) == []


def test_create_cache_takes_the_new_fields_and_warns_where_keep_last_counts_tags():
    spec = cache_object("oras", "lab", keep_last=3, keep_last_runs=2, min_age="0s")["spec"]
    assert spec == {"retention": {"keepLast": 3, "keepLastRuns": 2, "minAge": "0s"}}
    assert retention_warnings(spec["retention"]) == []
    assert retention_warnings({"keepLast": 3}) == [
        "spec.retention.keepLast 3 counts tags, not runs: a run that writes more than 3 tags to one repository "
        "(an Indexed Job's shards) loses some of them; keepLastRuns (--keep-last-runs) counts runs"]
    with pytest.raises(CacheError, match="--min-age: 'soon' is not a retention duration"):
        cache_object("oras", "lab", keep_last=1, min_age="soon")
    with pytest.raises(CacheError, match="--keep-last-runs: must be 0 or more, not -1"):
        cache_object("oras", "lab", keep_last_runs=-1)


def test_status_shows_the_policy_warning_and_the_last_runs_warnings():
    last = {"time": "2026-03-01T12:00:00Z", "tagsSeen": 4, "tagsDeleted": 0, "warnings": ["results/pi: cut"]}
    cache = {"metadata": {"name": "oras", "namespace": "lab"}, "spec": {"retention": {"keepLast": 3}},
             "status": {"lastRetention": last}}
    text = summary_text(summary(cache))
    assert "  warning: spec.retention.keepLast 3 counts tags, not runs" in text
    assert "  warning: results/pi: cut" in text
