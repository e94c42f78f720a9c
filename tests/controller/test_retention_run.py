"""One retention run of the controller against a real registry with auth on, as the leader does it
(controller/runtime/retention.py: run_against_registry), and what it records in the status.

The first-seen times of tags without a created annotation live in the status: a second run (a
restarted controller, or another leader) reads them back and ages those tags from then.
"""

from __future__ import annotations

import datetime as dt

import pytest

from controller.core.cache_retention import RetentionPlan, first_seen_of
from controller.runtime.retention import run_against_registry
from kubectl_oras.oci.auth import Credentials
from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.retention.choice import Policy
from tests.registry.test_retention_against_registries import Store
from tests.support.registries import KINDS, htpasswd_file, start_registry

USER, PASSWORD = "oras", "a-generated-password"


def put(client: RegistryClient, repo: str, tag: str, data: bytes, created: dt.datetime | None) -> None:
    Store(client).put(repo, tag, data, created=created, stamp=created is not None)


@pytest.mark.parametrize("kind", KINDS)
def test_a_run_deletes_by_the_cache_policy_and_remembers_first_seen_times(kind, tmp_path):
    registry = start_registry(kind, htpasswd=htpasswd_file(tmp_path, USER, PASSWORD))
    try:
        credentials = Credentials(USER, PASSWORD)
        client = RegistryClient(registry.host, plain_http=True, credentials=credentials)
        now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        for i in range(4):
            put(client, "metric/lammps", f"iter-{i}", f"iteration {i}".encode(), now - dt.timedelta(hours=10 - i))
        put(client, "metric/lammps", "final", b"the answer", now - dt.timedelta(hours=20))
        put(client, "raw/unstamped", "x", b"no created time", None)
        plan = RetentionPlan(Policy(keep_last=2, max_age=8.5 * 3600.0, keep=("final",)), 60.0, False)
        cache = {"metadata": {"name": "c", "namespace": "n", "annotations": {
            "cache.converged-computing.github.io/run-retention": "please"}}}

        first = run_against_registry(registry.host, credentials, plan, cache, now)
        assert not first.failed, first.record
        record = first.record
        assert sorted(record["tags"]) == ["metric/lammps:iter-0", "metric/lammps:iter-1"]
        assert record["tagsDeleted"] == 2 and record["tagsSeen"] == 6 and record["request"] == "please"
        assert record["bytesFreed"] == len(b"iteration 0") + len(b"iteration 1")
        assert set(client.list_tags("metric/lammps")) == {"iter-2", "iter-3", "final"}
        assert set(record["firstSeen"]) == {"raw/unstamped:x"}  # only tags without a created time
        assert record["firstSeen"]["raw/unstamped:x"]["time"] == now.strftime("%Y-%m-%dT%H:%M:%SZ")

        # Nine hours on, another controller reads the status back: x is now 9 h old by first sight.
        cache["status"] = {"lastRetention": record}
        assert first_seen_of(cache)["raw/unstamped:x"][1] == now
        later = run_against_registry(registry.host, credentials, plan, cache, now + dt.timedelta(hours=9))
        assert not later.failed, later.record
        assert "raw/unstamped:x" in later.record["tags"]
        assert "x" not in client.list_tags("raw/unstamped")
        # iter-2 and iter-3 are now 17 h and 16 h old: maxAge takes them; final is kept by pattern
        assert set(client.list_tags("metric/lammps")) == {"final"}
    finally:
        registry.stop()


def test_a_run_without_the_password_fails_and_keeps_what_it_remembered(tmp_path):
    registry = start_registry("distribution-3", htpasswd=htpasswd_file(tmp_path, USER, PASSWORD))
    try:
        put(RegistryClient(registry.host, plain_http=True, credentials=Credentials(USER, PASSWORD)),
            "a/b", "t", b"x", None)
        remembered = {"a/b:t": {"digest": "sha256:" + "0" * 64, "time": "2026-01-01T00:00:00Z"}}
        cache = {"metadata": {"name": "c", "namespace": "n"},
                 "status": {"lastRetention": {"time": "2026-01-01T00:00:00Z", "firstSeen": remembered}}}
        plan = RetentionPlan(Policy(keep_last=0), 60.0, False)
        result = run_against_registry(registry.host, Credentials(USER, "wrong"), plan, cache, dt.datetime.now(dt.UTC))
        assert result.failed and result.record["tagsDeleted"] == 0
        assert "401" in result.record["errors"][0] or "credentials" in result.record["errors"][0].lower()
        assert result.record["firstSeen"] == remembered
        assert PASSWORD not in str(result.record) and "wrong" not in str(result.record)
    finally:
        registry.stop()
