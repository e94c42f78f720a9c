"""A push whose blobs the registry's garbage collector removes before its manifest arrives.

The collector deletes every blob no manifest lists yet (docs/retention.md, measured): a push
between its uploads and its manifest loses them, and the manifest PUT gets 400
MANIFEST_BLOB_UNKNOWN. Here the real `garbage-collect` of each registry runs at exactly that
moment, and the push must still store the artifact whole.
"""

from __future__ import annotations

import subprocess

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from tests.support.registries import KINDS, start_registry
from tests.support.tools import debian_registry, distribution_v3
from tests.support.trees import make_tree, snapshot


def collect_garbage(registry) -> str:
    binary = debian_registry() if registry.kind == "distribution-2.8" else distribution_v3()
    out = subprocess.run([binary, "garbage-collect", str(registry.root / "config.yml")], capture_output=True,
                         text=True, check=True, timeout=60)
    return out.stdout


@pytest.mark.parametrize("kind", KINDS)
def test_a_push_survives_a_garbage_collection_between_its_uploads_and_its_manifest(kind, tmp_path, monkeypatch):
    registry = start_registry(kind)
    try:
        client = RegistryClient(registry.host, plain_http=True, retries=1)
        (tmp_path / "src").mkdir()
        (tmp_path / "src" / "metrics.json").write_bytes(b'{"loss": 0.1}\n' * 5000)
        make_tree(tmp_path / "src" / "results")
        real_put = RegistryClient.put_manifest
        collected = []

        def put_after_collection(self, repository, reference, body, **kw):
            if not collected:
                collected.append(collect_garbage(registry))
            return real_put(self, repository, reference, body, **kw)

        monkeypatch.setattr(RegistryClient, "put_manifest", put_after_collection)
        ref = Reference(registry.host, "exp/run", "iter-0")
        result = push_artifact(client, ref, [str(tmp_path / "src" / "metrics.json"), str(tmp_path / "src" / "results")])
        monkeypatch.undo()
        assert "blob eligible for deletion" in collected[0], collected[0]  # the uploads were swept
        pulled = tmp_path / "pulled"
        pulled_result = pull_artifact(client, ref, str(pulled))
        assert pulled_result.digest == result.digest
        assert (pulled / "metrics.json").read_bytes() == (tmp_path / "src" / "metrics.json").read_bytes()
        assert snapshot(pulled / "results") == snapshot(tmp_path / "src" / "results")
    finally:
        registry.stop()
