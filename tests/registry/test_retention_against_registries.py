"""`kubectl oras gc` against real registries (distribution 2.8 and v3): exactly the expired tags go,
and every other tag still pulls byte for byte.

The expected sets are built by construction here (which tag was made how), not by calling the
choice function the command uses.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.manifest import (
    EMPTY_CONFIG,
    EMPTY_CONFIG_BLOB,
    build_manifest,
    encode_manifest,
    file_layer,
)
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.reference import Reference
from tests.support.registries import KINDS, start_registry

BASE = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
ITERATIONS = 120  # per experiment repository
KEEP_LAST = 40


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


class Store:
    """Artifacts put straight through the engine's client: hundreds in a second or two."""

    def __init__(self, client: RegistryClient) -> None:
        self.client = client
        self.content: dict[tuple[str, str], bytes] = {}  # (repo, tag) -> the file's bytes
        self.configs: set[str] = set()

    def put(self, repo: str, tag: str, data: bytes, *, created: dt.datetime | None, stamp: bool = True) -> bytes:
        if repo not in self.configs:
            self.client.upload_blob_bytes(repo, EMPTY_CONFIG, EMPTY_CONFIG_BLOB.digest)
            self.configs.add(repo)
        digest = sha256(data)
        self.client.upload_blob_bytes(repo, data, digest)
        manifest = build_manifest(layers=[file_layer(title="result.txt", digest=digest, size=len(data))], created=created)
        if not stamp:
            del manifest["annotations"]
        body = encode_manifest(manifest)
        self.client.put_manifest(repo, tag, body)
        self.content[(repo, tag)] = data
        return body

    def alias(self, repo: str, tag: str, body: bytes, of: str) -> None:
        self.client.put_manifest(repo, tag, body)
        self.content[(repo, tag)] = self.content[(repo, of)]


def build(store: Store) -> dict[str, set[str]]:
    """The registry's tags and, per registry behaviour, the references that must go."""
    gone_by_tag: set[str] = set()
    spared_by_digest: set[str] = set()
    for r in range(3):
        repo = f"metric/exp{r}"
        bodies = {}
        for i in range(ITERATIONS):
            # iterations 0..9 share one second (ties broken by natural order: iter-9 is newer than iter-1)
            created = BASE + dt.timedelta(seconds=0 if i < 10 else i)
            bodies[i] = store.put(repo, f"iter-{i}", f"{repo} iteration {i}\n".encode() * (i + 1), created=created)
            if i < ITERATIONS - KEEP_LAST:
                gone_by_tag.add(f"{repo}:iter-{i}")
        # kept by pattern, on the manifest of an expired iteration: on v3 iter-5 goes (untagged
        # only) and best-5 still pulls; on 2.8 deleting iter-5 would take best-5 with it: spared
        store.alias(repo, "best-5", bodies[5], "iter-5")
        spared_by_digest.add(f"{repo}:iter-5")
        # two expired tags on one manifest: both go on either registry (2.8: one delete by digest)
        store.alias(repo, "copy-7", bodies[7], "iter-7")
        gone_by_tag.add(f"{repo}:copy-7")
        # a referrer tag (tag schema) with an old time, of a kept output: kept with it, and not counted
        store.put(repo, "sha256-" + hashlib.sha256(bodies[ITERATIONS - 1]).hexdigest(), b"signature\n", created=BASE)
        # a pusher whose clock is ahead: a time in the future is no time, so kept and not ranked:
        # it takes none of the 40 places (iter-80 stays, the oldest of the 40 kept)
        store.put(repo, "skewed", b"from the future\n", created=dt.datetime(2099, 1, 1, tzinfo=dt.UTC))
    # no created annotation at all (plain image pushes): no place in the keepLast order, and
    # never seen before (gc has no memory): all kept, however many
    for i in range(50):
        store.put("raw/unstamped", f"n-{i}", f"raw {i}\n".encode(), created=None, stamp=False)
    return {"by-tag": gone_by_tag, "by-digest": gone_by_tag - spared_by_digest}


def all_tags(client: RegistryClient) -> set[str]:
    return {f"{repo}:{tag}" for repo in client.list_repositories() for tag in client.list_tags(repo)}


def gc(host: str, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["kubectl-oras", "gc", "-r", host, "--plain-http", "--keep-last", str(KEEP_LAST),
                           "--keep", "best-*", "-o", "json", *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("kind", KINDS)
def test_exactly_the_expired_tags_go_and_the_rest_pull_intact(kind, tmp_path):
    registry = start_registry(kind)
    try:
        client = RegistryClient(registry.host, plain_http=True, retries=2)
        store = Store(client)
        expected = build(store)
        before = all_tags(client)
        assert len(before) == 3 * (ITERATIONS + 4) + 50

        dry = gc(registry.host, "--dry-run")
        assert dry.returncode == 0, dry.stderr
        assert all_tags(client) == before  # a dry run deletes nothing
        dry_report = json.loads(dry.stdout)
        would = {f"{t['repository']}:{t['tag']}" for t in dry_report["tags"] if t["result"] == "would-delete"}
        assert dry_report["deletedBy"] == ("digest" if kind == "distribution-2.8" else "tag")
        assert would == expected["by-" + dry_report["deletedBy"]]  # the dry run says what the real run does

        done = gc(registry.host)
        assert done.returncode == 0, done.stderr
        report = json.loads(done.stdout)
        mode = report["deletedBy"]
        assert mode == ("digest" if kind == "distribution-2.8" else "tag")
        gone = expected["by-" + mode]
        deleted = {f"{t['repository']}:{t['tag']}" for t in report["tags"] if t["result"] == "deleted"}
        assert deleted == gone
        after = all_tags(client)
        assert after == before - gone  # exactly those: nothing else
        if mode == "digest":
            spared = [t for t in report["tags"] if t["result"] == "spared"]
            assert {f"{t['repository']}:{t['tag']}" for t in spared} == expected["by-tag"] - gone
            assert all("also tagged best-5" in t["message"] for t in spared)

        for reference in sorted(after):
            repo, tag = reference.split(":")
            out = tmp_path / "pulled" / repo / tag
            pull_artifact(client, Reference(registry.host, repo, tag), str(out))
            if (repo, tag) in store.content and not tag.startswith(("sha256-", "skewed")):
                assert (out / "result.txt").read_bytes() == store.content[(repo, tag)], reference

        again = gc(registry.host)  # a second run finds nothing more to delete
        assert again.returncode == 0 and json.loads(again.stdout)["deleted"] == 0
    finally:
        registry.stop()


def test_gc_refuses_bad_input_naming_it(any_registry):
    host = any_registry.host
    for args, culprit in [(["--keep-last", "-1"], "--keep-last"), (["--max-age", "soon"], "--max-age"),
                          (["Not/A:repo", "--keep-last", "1"], "Not/A:repo"), ([], "--keep-last N")]:
        r = subprocess.run(["kubectl-oras", "gc", "-r", host, "--plain-http", *args], capture_output=True, text=True)
        assert r.returncode != 0 and culprit in r.stderr, (args, r.stderr)
        assert "Traceback" not in r.stderr
    r = subprocess.run(["kubectl-oras", "gc", "--keep-last", "1"], capture_output=True, text=True,
                       env={"PATH": subprocess.os.environ["PATH"]})
    assert r.returncode != 0 and "--registry" in r.stderr


@pytest.mark.parametrize("kind", KINDS)
def test_a_tag_pushed_between_the_scan_and_the_delete_is_never_deleted(kind):
    """The race a long scan opens: a step pushes again (same tag, new content) or tags an expiring
    manifest while retention runs. Neither push may be lost."""
    from kubectl_oras.retention.choice import Policy, choose
    from kubectl_oras.retention.registry import CHANGED, DELETED, SPARED, delete_chosen, delete_mode, scan

    registry = start_registry(kind)
    try:
        client = RegistryClient(registry.host, plain_http=True, retries=2)
        store = Store(client)
        bodies = [store.put("exp/race", f"iter-{i}", f"iteration {i}\n".encode(),
                            created=BASE + dt.timedelta(seconds=i)) for i in range(4)]
        found = scan(client, ["exp/race"])
        verdicts = choose(found.tags, Policy(keep_last=1), dt.datetime.now(dt.UTC))
        assert sorted(v.tag for v in verdicts if v.delete) == ["iter-0", "iter-1", "iter-2"]
        # since the scan: iter-0 pushed again with new content; iter-1's manifest tagged "late"
        store.put("exp/race", "iter-0", b"iteration 0, run again\n", created=dt.datetime.now(dt.UTC))
        store.alias("exp/race", "late", bodies[1], "iter-1")

        mode = delete_mode(client, "exp/race")
        outcomes = delete_chosen(client, verdicts, mode=mode)
        results = {o.tag: o.result for o in outcomes}
        assert results["iter-0"] == CHANGED
        assert results["iter-2"] == DELETED
        tags = set(client.list_tags("exp/race"))
        assert {"iter-0", "iter-3", "late"} <= tags and "iter-2" not in tags
        if mode == "digest":  # deleting iter-1's manifest would have taken "late" with it
            assert results["iter-1"] == SPARED and "iter-1" in tags
        else:
            assert results["iter-1"] == DELETED and "iter-1" not in tags
        assert client.fetch_manifest("exp/race", "late", what="t")[2] == sha256(bodies[1])
        assert client.fetch_manifest("exp/race", "iter-0", what="t")[2] != sha256(bodies[0])
    finally:
        registry.stop()
