"""Tier 2: a cache whose registry cannot start says why, against a real apiserver, controller
manager (its StatefulSet and volume controllers) and the controller with its webhook.

No kubelet runs here, so what a kubelet would say of the registry pod (an image it cannot pull, a
container killed for memory over and over, a container ready) is written through the pod's status
subresource, as the kubelet writes it. A claim with no StorageClass stays Pending for real: no
default StorageClass, no volume, and the volume controller says so in the claim's events.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from kubectl_oras.pods.annotations import PREFIX
from tests.cluster.apply import apply, wait_for
from tests.cluster.test_cluster_commands import REPO, controller, lab  # noqa: F401 (fixtures)
from tests.cluster.test_orascache_controller import cache_path, condition, orascache

IMAGE = "docker.io/library/registry:3.0.0"
PULL_BACKOFF = {"waiting": {"reason": "ImagePullBackOff", "message": f'Back-off pulling image "{IMAGE}"'}}
OOM_LOOP = {"waiting": {"reason": "CrashLoopBackOff",
                        "message": "back-off 40s restarting failed container=registry pod=x-0"}}


def kubelet_says(cp, ns, pod, *, state, last_state=None, ready=False, restarts=0):
    """The registry pod's status, as a kubelet running it would write it."""
    container = {"name": "registry", "image": IMAGE, "imageID": "", "ready": ready, "restartCount": restarts,
                 "started": ready, "state": state, "lastState": last_state or {}}
    status = {"phase": "Running" if ready else "Pending", "containerStatuses": [container],
              "conditions": [{"type": kind, "status": "True" if ready else "False"}
                             for kind in ("Initialized", "PodScheduled", "ContainersReady", "Ready")]}
    if ready:
        status["podIP"], status["podIPs"] = "10.0.0.9", [{"ip": "10.0.0.9"}]
    r = cp.session().patch(f"{cp.server}/api/v1/namespaces/{ns}/pods/{pod}/status", json={"status": status},
                           headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text


def step(name, cache):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": {PREFIX + "oras-cache": cache, PREFIX + "output-uri": "r/x:v1",
                                                       PREFIX + "output-path": "out"}},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo > out"]}]}}


def create_cache_waiting(name, *args, kubeconfig):
    return subprocess.Popen([sys.executable, "-m", "kubectl_oras", "create-cache", name, *args, "--wait", "--timeout",
                             "150s", "--kubeconfig", str(kubeconfig)], cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


@pytest.mark.parametrize("name, state, last_state, restarts, words", [
    ("pull", PULL_BACKOFF, None, 0, f'ImagePullBackOff: container registry: Back-off pulling image "{IMAGE}"'),
    ("oom", OOM_LOOP, {"terminated": {"reason": "OOMKilled", "exitCode": 137}}, 4,
     "CrashLoopBackOff: container registry: its last run ended OOMKilled, exit code 137 (back-off 40s restarting "
     "failed container=registry pod=x-0)"),
])
def test_a_registry_pod_that_cannot_start_fails_the_wait_and_denies_steps_naming_why(
        control_plane, lab, name, state, last_state, restarts, words):  # noqa: F811
    """It said "waiting for the registry pod" and "no problem seen" for ever, create-cache --wait
    timed out saying the same, and steps waited 300 s for a registry refusing connections."""
    cp = control_plane
    ns, kubeconfig = lab
    waiting = create_cache_waiting(name, kubeconfig=kubeconfig)
    try:
        wait_for(cp, f"/api/v1/namespaces/{ns}/pods/{name}-0", lambda pod: True, timeout=60)
        kubelet_says(cp, ns, f"{name}-0", state=state, last_state=last_state, restarts=restarts)
        _, err = waiting.communicate(timeout=120)
    finally:
        waiting.kill()
    said = f"the registry pod {name}-0 cannot start: {words}"
    assert waiting.returncode == 1, err
    assert err.strip().splitlines()[-1] == (f"error: cache '{name}' in namespace {ns} cannot become ready "
                                            f"(RegistryCannotStart): {said} (kubectl describe orascache {name} -n {ns})")
    cache = wait_for(cp, cache_path(ns, name), lambda c: condition(c, "Degraded").get("status") == "True", timeout=10)
    assert (condition(cache, "Ready")["reason"], condition(cache, "Ready")["message"]) == ("RegistryNotReady", said)
    assert condition(cache, "Progressing")["status"] == "False"
    events = cp.session().get(f"{cp.server}/api/v1/namespaces/{ns}/events").json()["items"]
    assert ("Warning", said) in [(e["type"], e["message"]) for e in events if e["reason"] == "RegistryCannotStart"]

    r = cp.session().post(f"{cp.server}/api/v1/namespaces/{ns}/pods", json=step(f"step-{name}", name))
    assert r.status_code == 400, r.text
    assert f"OrasCache '{name}' cannot run its registry: {said}" in r.json()["message"]

    kubelet_says(cp, ns, f"{name}-0", state={"running": {"startedAt": "2026-12-07T02:00:00Z"}}, ready=True)
    wait_for(cp, cache_path(ns, name), lambda c: condition(c, "Ready").get("status") == "True" and
             condition(c, "Degraded").get("status") == "False", timeout=60)
    r = cp.session().post(f"{cp.server}/api/v1/namespaces/{ns}/pods", json=step(f"step-{name}", name))
    assert r.status_code == 201, r.text  # ready again: its steps are admitted


@pytest.mark.parametrize("name, args, words", [
    ("noclass", ("--storage", "1Gi"),
     "FailedBinding: no persistent volumes available for this claim and no storage class is set"),
    ("badclass", ("--storage", "1Gi", "--storage-class", "fast"),
     'ProvisioningFailed: storageclass.storage.k8s.io "fast" not found'),
])
def test_a_claim_no_volume_binds_fails_the_wait_naming_the_volume_controllers_reason(
        control_plane, lab, name, args, words):  # noqa: F811
    ns, kubeconfig = lab
    waiting = create_cache_waiting(name, *args, kubeconfig=kubeconfig)
    try:
        _, err = waiting.communicate(timeout=160)
    finally:
        waiting.kill()
    assert waiting.returncode == 1, err
    assert err.strip().splitlines()[-1] == (
        f"error: cache '{name}' in namespace {ns} cannot become ready (RegistryCannotStart): its PersistentVolumeClaim "
        f"data-{name}-0 is Pending: {words} (kubectl describe orascache {name} -n {ns})")
    events = control_plane.session().get(f"{control_plane.server}/api/v1/namespaces/{ns}/events").json()["items"]
    said = {(e["reason"], e["type"]) for e in events if e["involvedObject"]["name"] == f"data-{name}-0"}
    # What the volume controller really sends: FailedBinding is a Normal event, though nothing binds.
    assert said == {("FailedBinding", "Normal")} if name == "noclass" else ("ProvisioningFailed", "Warning") in said, said


def printed(cp, ns, name):
    """`kubectl get orascache NAME`'s columns, as the apiserver prints them (a Table)."""
    r = cp.session().get(f"{cp.server}{cache_path(ns, name)}",
                         headers={"Accept": "application/json;as=Table;v=v1;g=meta.k8s.io"})
    assert r.status_code == 200, r.text
    table = r.json()
    return dict(zip([c["name"] for c in table["columnDefinitions"]], table["rows"][0]["cells"], strict=True))


async def test_after_a_refused_storage_change_the_cache_shows_what_runs_and_stays_usable(control_plane, lab):  # noqa: F811
    """After StorageImmutable, `kubectl get orascache` showed the storage asked for, and pull/tags
    refused the cache as not Ready although its registry answered: the one way to save its
    artifacts before re-creating it was closed."""
    from kubectl_oras.cluster.caches import cache_endpoint
    from kubectl_oras.kube.config import connect

    cp = control_plane
    ns, kubeconfig = lab
    apply(cp, orascache(ns, "kept"))
    wait_for(cp, f"/api/v1/namespaces/{ns}/pods/kept-0", lambda pod: True, timeout=60)
    kubelet_says(cp, ns, "kept-0", state={"running": {"startedAt": "2026-12-07T02:00:00Z"}}, ready=True)
    wait_for(cp, cache_path(ns, "kept"), lambda c: condition(c, "Ready").get("status") == "True", timeout=60)
    apply(cp, orascache(ns, "kept", {"storage": {"pvc": {"size": "1Gi"}}}))
    cache = wait_for(cp, cache_path(ns, "kept"), lambda c: condition(c, "Degraded").get("reason") == "StorageImmutable"
                     and c["status"]["observedGeneration"] == 2, timeout=60)
    assert cache["status"]["storage"] == "emptyDir"
    assert condition(cache, "Ready")["status"] == "True", json.dumps(cache["status"])
    columns = printed(cp, ns, "kept")
    assert (columns["Ready"], columns["Storage"]) == ("True", "emptyDir"), columns
    async with await connect(kubeconfig=str(kubeconfig)) as kube:
        endpoint = await cache_endpoint(kube, ns, "kept")  # what pull and tags open the cache with
    assert endpoint.host == f"kept.{ns}.svc:5000" and endpoint.password
