"""`kubectl oras gc` against real registries, for retention that cannot take live data: the runs
of a 4-way Indexed Job (the tags one Job pushed, by the Job uid the sidecar writes on each
manifest) kept or deleted whole with --keep-last-runs, no tag younger than --min-age deleted,
and the warning where --keep-last is fewer than the newest run's tags (docs/retention.md).

The expected sets are built by construction (which run each shard belongs to)."""

from __future__ import annotations

import datetime as dt
import json
import subprocess

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.manifest import ANNOTATION_JOB
from tests.registry.test_retention_against_registries import Store, sha256
from tests.support.registries import KINDS, start_registry

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
SHARDS = 4
REPO = "results/pi"


def push_runs(store: Store, runs: int, *, newest_minutes_ago: float = 0.0) -> None:
    """``runs`` runs of a 4-way Indexed Job, two hours apart, the newest ``newest_minutes_ago``
    old: tags run-R-0..run-R-3, each with its Job's uid as the sidecar writes it."""
    from kubectl_oras.oci.manifest import build_manifest, encode_manifest, file_layer

    store.put(REPO, "unrelated", b"made by hand", created=NOW - dt.timedelta(days=30))  # a run of its own
    for r in range(runs):
        start = NOW - dt.timedelta(minutes=newest_minutes_ago) - dt.timedelta(hours=2 * (runs - 1 - r))
        for i in range(SHARDS):
            data = f"pi shard {i} of run {r}".encode()
            store.client.upload_blob_bytes(REPO, data, sha256(data))
            manifest = build_manifest(layers=[file_layer(title="result.txt", digest=sha256(data), size=len(data))],
                                      created=start + dt.timedelta(seconds=SHARDS - i),  # shard 0 finishes last
                                      annotations={ANNOTATION_JOB: f"job-uid-{r}"})
            store.client.put_manifest(REPO, f"run-{r}-{i}", encode_manifest(manifest))
            store.content[(REPO, f"run-{r}-{i}")] = data


def gc(host: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl-oras", "gc", "-r", host, "--plain-http", "-o", "json", *args],
                          capture_output=True, text=True, timeout=300)


def shards(*runs: int) -> set[str]:
    return {f"run-{r}-{i}" for r in runs for i in range(SHARDS)}


@pytest.fixture(params=KINDS)
def store(request):
    registry = start_registry(request.param)
    try:
        yield Store(RegistryClient(registry.host, plain_http=True, retries=2))
    finally:
        registry.stop()


def test_keep_last_runs_deletes_older_runs_whole_and_every_shard_of_the_newest_pulls(store, tmp_path):
    push_runs(store, 4, newest_minutes_ago=120)
    done = gc(store.client.hostname, "--keep-last-runs", "2")
    assert done.returncode == 0, done.stderr
    deleted = {t["tag"] for t in json.loads(done.stdout)["tags"] if t["result"] == "deleted"}
    assert deleted == shards(0, 1) | {"unrelated"}
    assert set(store.client.list_tags(REPO)) == shards(2, 3)
    from kubectl_oras.oci.pull import pull_artifact
    from kubectl_oras.oci.reference import Reference

    for tag in sorted(shards(2, 3)):
        pull_artifact(store.client, Reference(store.client.hostname, REPO, tag), str(tmp_path / tag))
        assert (tmp_path / tag / "result.txt").read_bytes() == store.content[(REPO, tag)]


def test_keep_last_fewer_than_a_run_warns_and_min_age_keeps_the_young_run_whole(store):
    push_runs(store, 2, newest_minutes_ago=10)  # the newest run is 10 minutes old, the one before 2 h 10 min
    done = gc(store.client.hostname, "--keep-last", "3", "--min-age", "1h")
    assert done.returncode == 0, done.stderr
    assert (f"warning: {REPO}: keepLast 3 is fewer than the 4 tags its newest run wrote (Job uid job-uid-1), so it "
            "deletes part of that run; keepLastRuns counts runs") in done.stderr
    report = json.loads(done.stdout)
    assert {t["tag"] for t in report["tags"] if t["result"] == "deleted"} == shards(0) | {"unrelated"}
    young = next(t for t in report["tags"] if t["tag"] == "run-1-3")  # the run's oldest shard: number 4
    assert young["action"] == "keep" and "younger than minAge 1h" in young["reason"]
    assert set(store.client.list_tags(REPO)) == shards(1)


def test_gc_refuses_a_bad_min_age_or_keep_last_runs_naming_the_flag(store):
    for args, culprit in [(["--keep-last", "1", "--min-age", "soon"], "--min-age: 'soon'"),
                          (["--keep-last-runs", "-1"], "--keep-last-runs")]:
        r = gc(store.client.hostname, *args)
        assert r.returncode != 0 and culprit in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
