"""Tier 2: the Events a user sees with `kubectl describe pod` on a step pod, recorded by the
controller (as its ServiceAccount, with only the RBAC in manifests/) from what the pod's status
says its agent reported. No kubelet runs here: the status is written through the pod's status
subresource, as the kubelet writes it (a terminated launcher, its termination message)."""

from __future__ import annotations

import time

from kubectl_oras.pods.annotations import PREFIX
from kubectl_oras.pods.injection import STEP_LABEL, STEP_LABEL_VALUE
from tests.cluster.apply import apply, wait_for
from tests.cluster.test_cluster_commands import cli, controller, lab  # noqa: F401 (fixtures)


def step(name):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": {PREFIX + "input-uri": "wf/a:in", PREFIX + "output-uri": "wf/b:out",
                                                       PREFIX + "output-path": "out"}},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo > out"]}]}}


def launcher_ended(cp, ns, pod, *, exit_code, message=""):
    terminated = {"exitCode": exit_code, "reason": "Completed" if exit_code == 0 else "Error",
                  **({"message": message} if message else {})}
    status = {"phase": "Succeeded" if exit_code == 0 else "Failed",
              "containerStatuses": [{"name": "main", "image": "busybox", "imageID": "", "ready": False,
                                     "restartCount": 0, "state": {"terminated": terminated}}]}
    r = cp.session().patch(f"{cp.server}/api/v1/namespaces/{ns}/pods/{pod}/status", json={"status": status},
                           headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text


def events_on(cp, ns, pod):
    r = cp.session().get(f"{cp.server}/api/v1/namespaces/{ns}/events",
                         params={"fieldSelector": f"involvedObject.kind=Pod,involvedObject.name={pod}"})
    assert r.status_code == 200, r.text
    return sorted((e["type"], e["reason"], e["message"]) for e in r.json()["items"]
                  if e.get("source", {}).get("component") == "kubectl-oras")


def wait_for_events(cp, ns, pod, count, *, timeout=30):
    deadline = time.monotonic() + timeout
    while True:
        seen = events_on(cp, ns, pod)
        if len(seen) >= count or time.monotonic() > deadline:
            return seen
        time.sleep(0.3)


def test_a_step_pod_gets_one_event_per_verdict_of_its_agent(control_plane, lab):  # noqa: F811
    cp = control_plane
    ns, kubeconfig = lab
    assert cli("create-cache", kubeconfig=kubeconfig).returncode == 0  # "oras": the pods' default cache
    for name in ("good", "bad"):
        apply(cp, step(name), namespace=ns)
    pod = wait_for(cp, f"/api/v1/namespaces/{ns}/pods/good", lambda p: True, timeout=10)
    assert pod["metadata"]["labels"][STEP_LABEL] == STEP_LABEL_VALUE  # what the controller watches by
    launcher_ended(cp, ns, "good", exit_code=0)
    launcher_ended(cp, ns, "bad", exit_code=1, message="push-failed: push wf/b:out: registry gone\n")
    assert wait_for_events(cp, ns, "good", 2) == [
        ("Normal", "InputsPulled", "pulled wf/a:in"), ("Normal", "OutputsPushed", "pushed wf/b:out")]
    assert wait_for_events(cp, ns, "bad", 2) == [
        ("Normal", "InputsPulled", "pulled wf/a:in"),
        ("Warning", "OutputsPushFailed", "push-failed: push wf/b:out: registry gone")]
    # The pod changes again (the kubelet writes its status more than once): no second Event.
    launcher_ended(cp, ns, "bad", exit_code=1, message="push-failed: push wf/b:out: registry gone again\n")
    time.sleep(3)
    assert len(events_on(cp, ns, "bad")) == 2
