"""Tier 2: the controller's retention run spares what the pods that have not finished name as
inputs, and what is younger than minAge, reading the pods through a real kube-apiserver as the
controller's ServiceAccount with only the RBAC in manifests/ (docs/retention.md).

The registry is a real one on loopback (no node here: a cache's own registry pod would stay
Pending); the pods are Pod objects the test creates (no kubelet runs them: they stay Pending,
as a step waiting for its node or its inputs does), finished by writing their status as the
kubelet would. The run is the controller's own (controller/runtime/retention.py)."""

from __future__ import annotations

import asyncio
import datetime as dt
import functools

import pytest

from controller.core.cache_spec import cache_spec
from controller.runtime.retention import RetentionLoop, run_against_registry
from kubectl_oras.kube.config import connect
from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.manifest import ANNOTATION_JOB, EMPTY_CONFIG, EMPTY_CONFIG_BLOB, build_manifest, encode_manifest, file_layer
from kubectl_oras.pods.annotations import PREFIX
from tests.cluster.apply import apply, new_namespace, wait_for
from tests.cluster.test_orascache_controller import orascache
from tests.registry.test_retention_against_registries import sha256
from tests.support.registries import start_registry

NOW = dt.datetime.now(dt.UTC).replace(microsecond=0)
REPO = "results/pi"
SHARDS = 4


@pytest.fixture
def registry():
    proc = start_registry("distribution-3")
    yield proc
    proc.stop()


def push_run(client: RegistryClient, run: int, created: dt.datetime) -> None:
    """One run of a 4-way Indexed Job: run-R-0..run-R-3, each with the Job's uid (agent/outputs.py)."""
    client.upload_blob_bytes(REPO, EMPTY_CONFIG, EMPTY_CONFIG_BLOB.digest)
    for i in range(SHARDS):
        data = f"shard {i} of run {run}".encode()
        client.upload_blob_bytes(REPO, data, sha256(data))
        manifest = build_manifest(layers=[file_layer(title="result.txt", digest=sha256(data), size=len(data))],
                                  created=created + dt.timedelta(seconds=i), annotations={ANNOTATION_JOB: f"uid-{run}"})
        client.put_manifest(REPO, f"run-{run}-{i}", encode_manifest(manifest))


def shards(run: int) -> set[str]:
    return {f"run-{run}-{i}" for i in range(SHARDS)}


def fan_in(ns: str) -> dict:
    """The consumer of run 0's shards, Pending (no node takes it)."""
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "fan-in", "namespace": ns,
                         "annotations": {PREFIX + "input-uri": f"{REPO}:run-0-*", PREFIX + "input-path": "in"}},
            "spec": {"restartPolicy": "Never", "containers": [{"name": "main", "image": "busybox"}]}}


async def one_run(kube, cache: dict, host: str) -> dict:
    """The controller's run for ``cache`` against ``host``, listing pods through ``kube``."""
    loop = RetentionLoop(kube, caches=None, services=None, secrets=None, events=None)  # type: ignore[arg-type]
    namespace, name = cache["metadata"]["namespace"], cache["metadata"]["name"]
    in_use = functools.partial(loop._inputs_now, asyncio.get_running_loop(), namespace, name)
    result = await asyncio.to_thread(run_against_registry, host, None, cache_spec(cache).retention, cache, NOW,
                                     in_use=in_use)
    return result.record


def test_a_pending_pod_spares_every_shard_its_pattern_names_until_it_finishes(control_plane, kubeconfig, registry):
    ns = new_namespace(control_plane, "keep")
    cache = apply(control_plane, orascache(ns, "oras", {"deploy": False, "retention": {"keepLastRuns": 1}}))
    assert cache_spec(cache).retention.policy.min_age == 3600.0  # the default: the CRD takes the field unset
    client = RegistryClient(registry.host, plain_http=True, retries=2)
    for run in range(3):
        push_run(client, run, NOW - dt.timedelta(hours=6 - 2 * run))
    apply(control_plane, fan_in(ns))

    async def scenario() -> tuple[dict, dict]:
        async with await connect(kubeconfig=str(kubeconfig)) as kube:  # the controller's identity
            first = await one_run(kube, cache, registry.host)
            assert set(client.list_tags(REPO)) == shards(0) | shards(2)  # run 0 spared for fan-in; run 2 the newest
            # the kubelet's word: the pod has finished; its inputs are free to go
            r = control_plane.session().patch(f"{control_plane.server}/api/v1/namespaces/{ns}/pods/fan-in/status",
                                              json={"status": {"phase": "Succeeded"}},
                                              headers={"Content-Type": "application/merge-patch+json"})
            assert r.status_code == 200, r.text
            wait_for(control_plane, f"/api/v1/namespaces/{ns}/pods/fan-in",
                     lambda pod: pod.get("status", {}).get("phase") == "Succeeded", timeout=30)
            return first, await one_run(kube, cache, registry.host)

    first, second = asyncio.run(scenario())
    assert first["errors"] == [] and sorted(first["tags"]) == sorted(f"{REPO}:{t}" for t in shards(1))
    assert second["errors"] == [] and sorted(second["tags"]) == sorted(f"{REPO}:{t}" for t in shards(0))
    assert set(client.list_tags(REPO)) == shards(2)


def test_min_age_keeps_a_fresh_run_from_keep_last_zero(control_plane, kubeconfig, registry):
    ns = new_namespace(control_plane, "young")
    cache = apply(control_plane, orascache(ns, "oras", {"deploy": False, "retention": {"keepLast": 0, "minAge": "30m"}}))
    client = RegistryClient(registry.host, plain_http=True, retries=2)
    push_run(client, 0, NOW - dt.timedelta(hours=1))
    push_run(client, 1, NOW - dt.timedelta(minutes=5))

    async def scenario() -> dict:
        async with await connect(kubeconfig=str(kubeconfig)) as kube:
            return await one_run(kube, cache, registry.host)

    record = asyncio.run(scenario())
    assert sorted(record["tags"]) == sorted(f"{REPO}:{t}" for t in shards(0))
    assert set(client.list_tags(REPO)) == shards(1)


def test_pods_that_cannot_be_listed_mean_nothing_is_deleted(control_plane, registry):
    ns = new_namespace(control_plane, "blind")
    cache = apply(control_plane, orascache(ns, "oras", {"deploy": False, "retention": {"keepLast": 0, "minAge": "0s"}}))
    client = RegistryClient(registry.host, plain_http=True, retries=2)
    push_run(client, 0, NOW - dt.timedelta(hours=3))
    blind = control_plane.kubeconfig_for_service_account(ns, "default")  # may list no pods

    async def scenario() -> dict:
        async with await connect(kubeconfig=str(blind)) as kube:
            return await one_run(kube, cache, registry.host)

    record = asyncio.run(scenario())
    assert record["tags"] == [] and record["tagsDeleted"] == 0
    assert record["errors"][0].startswith(f"nothing deleted: cannot list the pods of namespace {ns} (their inputs "
                                          "are spared): ")
    assert set(client.list_tags(REPO)) == shards(0)
