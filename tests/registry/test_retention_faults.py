"""Retention against registries that answer oddly, and users who ask oddly: each test feeds one
fault found by attacking `kubectl oras gc`, against a real registry (the fault injected where a
real registry cannot be made to produce it)."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess

import pytest
from typer.testing import CliRunner

from kubectl_oras.cli import app
from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.manifest import INDEX_MEDIA_TYPE
from tests.registry.test_retention_against_registries import Store
from tests.support.net import free_port
from tests.support.registries import IMAGE_CONFIG, KINDS, start_registry, start_with_environment

BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)


def at(seconds: int) -> dt.datetime:
    return BASE + dt.timedelta(seconds=seconds)


def gc(host: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl-oras", "gc", "-r", host, "--plain-http", *args], capture_output=True, text=True,
                          timeout=120)


@pytest.fixture
def fresh():
    started = []

    def start(kind: str):
        registry = start_registry(kind)
        started.append(registry)
        return registry, Store(RegistryClient(registry.host, plain_http=True, retries=1))

    yield start
    for registry in started:
        registry.stop()


def tags(client: RegistryClient, repo: str) -> set[str]:
    return set(client.list_tags(repo))


def test_a_repository_named_twice_is_ranked_once(fresh):
    registry, store = fresh("distribution-3")
    store.put("metric/lammps", "run-1", b"1", created=at(1))
    store.put("metric/lammps", "run-2", b"2", created=at(2))
    r = gc(registry.host, "metric/lammps", "metric/lammps", "--keep-last", "2")
    assert r.returncode == 0, r.stderr
    assert tags(store.client, "metric/lammps") == {"run-1", "run-2"}
    assert "Deleted 0 of 2 tags in 1 repository" in r.stdout


def test_a_tag_the_registry_lists_twice_is_ranked_once(fresh, monkeypatch):
    registry, store = fresh("distribution-3")
    store.put("exp", "run-1", b"1", created=at(1))
    store.put("exp", "run-2", b"2", created=at(2))
    real = RegistryClient.list_tags
    monkeypatch.setattr(RegistryClient, "list_tags", lambda self, repo: [*real(self, repo), "run-2"])  # a page repeated
    result = CliRunner().invoke(app, ["gc", "-r", registry.host, "--plain-http", "--keep-last", "2"])
    assert result.exit_code == 0, result.output
    monkeypatch.undo()
    assert tags(store.client, "exp") == {"run-1", "run-2"}


def test_a_listed_name_that_is_not_a_tag_leaves_its_repository_alone(fresh, monkeypatch):
    """requests would resolve the dots: the GET and the DELETE would land in another repository."""
    registry, store = fresh("distribution-3")
    store.put("victim", "keep", b"precious", created=at(1))
    store.put("junk/a", "old", b"old", created=at(1))
    real = RegistryClient.list_tags
    hostile = {"junk/a": ["old", "../../../victim/manifests/keep", "a#x"]}
    monkeypatch.setattr(RegistryClient, "list_tags", lambda self, repo: hostile.get(repo) or real(self, repo))
    result = CliRunner().invoke(app, ["gc", "junk/a", "-r", registry.host, "--plain-http",
                                                      "--keep-last", "0"])
    monkeypatch.undo()
    assert result.exit_code == 1
    assert "junk/a: left alone, the registry lists 2 names that are not tags" in result.stderr
    assert tags(store.client, "victim") == {"keep"} and tags(store.client, "junk/a") == {"old"}


def test_on_a_digest_only_registry_a_manifest_a_kept_index_lists_is_kept(fresh):
    registry, store = fresh("distribution-2.8")
    child = store.put("app", "amd64-old", b"the amd64 build", created=at(1))
    store.put("app", "junk", b"junk", created=at(2))
    child_digest = "sha256:" + hashlib.sha256(child).hexdigest()
    index = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE,
             "manifests": [{"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": child_digest,
                            "size": len(child), "platform": {"architecture": "amd64", "os": "linux"}}],
             "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:10Z"}}
    store.client.put_manifest("app", "release", json.dumps(index).encode(), media_type=INDEX_MEDIA_TYPE)
    r = gc(registry.host, "app", "--keep-last", "1", "-o", "json")
    assert r.returncode == 0, r.stderr
    results = {t["tag"]: t["result"] for t in json.loads(r.stdout)["tags"]}
    assert results == {"release": "kept", "amd64-old": "spared", "junk": "deleted"}
    assert tags(store.client, "app") == {"release", "amd64-old"}
    assert store.client.fetch_manifest("app", child_digest, what="t")[2] == child_digest  # the index is whole


@pytest.mark.parametrize("kind", KINDS)
def test_a_registry_with_deletes_disabled_stops_the_run_before_any_delete(kind, tmp_path):
    port = free_port()
    registry = start_with_environment(kind, IMAGE_CONFIG, {
        "REGISTRY_HTTP_ADDR": f"127.0.0.1:{port}", "REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY": str(tmp_path / "data"),
        "REGISTRY_STORAGE_DELETE_ENABLED": "false"}, tmp_path)
    try:
        store = Store(RegistryClient(registry.host, plain_http=True, retries=1))
        for i in range(4):
            store.put("exp", f"iter-{i}", f"{i}".encode(), created=at(i))
        r = gc(registry.host, "--keep-last", "1")
        assert r.returncode == 1
        assert "the registry does not allow deletes (405)" in r.stderr and "Traceback" not in r.stderr
        # distribution v3 deletes a tag even with deletes disabled: we ask first, and stop
        assert tags(store.client, "exp") == {f"iter-{i}" for i in range(4)}
    finally:
        registry.stop()


def test_a_repository_that_does_not_exist_is_reported(fresh):
    registry, store = fresh("distribution-3")
    store.put("metric/lammps", "run-1", b"1", created=at(1))
    r = gc(registry.host, "metric/lamps", "--keep-last", "1")
    assert r.returncode == 1 and "metric/lamps: left alone, no such repository" in r.stderr


def test_a_run_cut_short_still_says_what_it_deleted(fresh, monkeypatch):
    registry, store = fresh("distribution-3")
    for i in range(8):
        store.put("exp", f"iter-{i}", f"{i}".encode(), created=at(i))
    real = RegistryClient.delete_manifest
    calls = []

    def delete_then_interrupt(self, repo, reference):
        calls.append(reference)
        if len(calls) == 5:  # the two probes of how it deletes, then three tags: then Ctrl-C
            raise KeyboardInterrupt
        return real(self, repo, reference)

    monkeypatch.setattr(RegistryClient, "delete_manifest", delete_then_interrupt)
    result = CliRunner().invoke(app, ["gc", "-r", registry.host, "--plain-http", "--keep-last", "2",
                                                      "--concurrency", "1"])
    monkeypatch.undo()
    assert result.exit_code == 130, result.output  # as for Ctrl-C anywhere
    gone = {f"iter-{i}" for i in range(8)} - tags(store.client, "exp")
    assert 2 <= len(gone) < 6  # stopped: not all six it chose
    for tag in gone:  # every delete done is reported, none more
        assert f"deleted exp:{tag}" in result.stdout
    assert result.stdout.count("deleted exp:") == len(gone)
    assert f"Deleted {len(gone)} of 8 tags" in result.stdout


def test_a_registry_that_drips_its_answers_is_given_up_on(dripping_registry, monkeypatch):
    """Each byte comes within the read timeout, so only a limit on the whole answer ends it."""
    import kubectl_oras.oci.client as client_module

    monkeypatch.setattr(client_module, "SMALL_ANSWER_SECONDS", 2.0)
    result = CliRunner().invoke(app, ["gc", "-r", dripping_registry, "--plain-http", "--keep-last", "1"])
    assert result.exit_code == 1
    assert "took over 2 s to send" in result.stderr and "Traceback" not in result.stderr


def test_on_a_digest_only_registry_an_index_of_indexes_keeps_what_it_reaches(fresh):
    registry, store = fresh("distribution-2.8")
    leaf = store.put("app", "old-build", b"the amd64 build", created=at(1))
    leaf_digest = "sha256:" + hashlib.sha256(leaf).hexdigest()
    inner = json.dumps({"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE, "manifests": [
        {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": leaf_digest, "size": len(leaf)}]}).encode()
    inner_digest = "sha256:" + hashlib.sha256(inner).hexdigest()
    store.client.put_manifest("app", inner_digest, inner, media_type=INDEX_MEDIA_TYPE)  # untagged
    outer = {"schemaVersion": 2, "mediaType": INDEX_MEDIA_TYPE,
             "manifests": [{"mediaType": INDEX_MEDIA_TYPE, "digest": inner_digest, "size": len(inner)}],
             "annotations": {"org.opencontainers.image.created": "2026-01-01T00:00:10Z"}}
    store.client.put_manifest("app", "release", json.dumps(outer).encode(), media_type=INDEX_MEDIA_TYPE)
    r = gc(registry.host, "app", "--keep-last", "1", "-o", "json")
    assert r.returncode == 0, r.stderr
    assert {t["tag"]: t["result"] for t in json.loads(r.stdout)["tags"]} == {"release": "kept", "old-build": "spared"}
    assert store.client.fetch_manifest("app", leaf_digest, what="t")[2] == leaf_digest


@pytest.mark.parametrize("named", [False, True], ids=["every-repository", "named"])
def test_gc_never_deletes_the_controllers_reclaim_marker(fresh, named):
    registry, store = fresh("distribution-3")
    store.put("kubectl-oras/reclaim", "request", b"reclaim", created=at(1))  # what the controller pushes
    store.put("metric/lammps", "run-1", b"1", created=at(1))
    r = gc(registry.host, *(["kubectl-oras/reclaim", "metric/lammps"] if named else []), "--keep-last", "0",
           "--max-age", "1s")
    assert r.returncode == 0, r.stderr
    assert tags(store.client, "kubectl-oras/reclaim") == {"request"}
    assert store.client.list_tags("metric/lammps") == []  # the run did delete what the policy chose
