"""End to end on a real node: steps whose launcher the kubelet may start again (restartPolicy
OnFailure, and a Deployment-style pod's Always) get the sidecar that pulls, like a step that runs
once: a restarted launcher gets its inputs, a failed pull is pulled again when the restarted
launcher asks, a failed push fails the run, and under OnFailure the sidecar ends after the run
that succeeded (docs/pod-protocol.md)."""

from __future__ import annotations

import threading
import time

import pytest

from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.pods.annotations import PREFIX
from kubectl_oras.pods.share import PUSH_FAILED_EXIT
from tests.cluster.apply import apply, new_namespace, wait_for
from tests.e2e.test_workflow_on_a_node import SHELL, all_logs, cluster, get, logs, orascache  # noqa: F401 - fixture


@pytest.fixture
def workspace(cluster):  # noqa: F811 - the fixture imported above
    """A namespace of the test's own with a Ready cache: (control plane, namespace, the registry's host, a client)."""
    cp, _ = cluster
    ns = new_namespace(cp, "restart")
    host, client = orascache(cp, ns, "oras")
    return cp, ns, host, client


def on_failure_job(ns, name, annotations, script, *, backoff_limit=4):
    """A Job as many are written by hand: restartPolicy OnFailure, a volume of its own that keeps
    what one run leaves for the next (the container's own filesystem is new at each start)."""
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": ns, "annotations": annotations},
            "spec": {"backoffLimit": backoff_limit, "template": {"spec": {
                "restartPolicy": "OnFailure", "volumes": [{"name": "state", "emptyDir": {}}],
                "containers": [{"name": "step", "image": SHELL, "imagePullPolicy": "Never", "command": ["sh", "-c", script],
                                "volumeMounts": [{"name": "state", "mountPath": "/state"}]}]}}}}


def job_pod(cp, ns, name):
    pods = get(cp, f"/api/v1/namespaces/{ns}/pods?labelSelector=job-name%3D{name}").json()["items"]
    return pods[0] if pods else None


def finished(job):
    return job.get("status", {}).get("succeeded") == 1 or job.get("status", {}).get("failed")


def test_an_on_failure_step_that_fails_once_gets_its_inputs_again_pushes_and_completes(workspace, tmp_path):
    cp, ns, host, client = workspace
    (tmp_path / "params.txt").write_text("iterations=3\n")
    push_artifact(client, Reference(host, "restart/params", "v1"), [str(tmp_path / "params.txt")])
    job = on_failure_job(ns, "flaky", {PREFIX + "input-uri": "restart/params:v1",
                                       PREFIX + "output-uri": "restart/flaky:v1", PREFIX + "output-path": "out.txt"},
                         "cat params.txt > out.txt || exit 9; "  # the inputs are there at every start
                         "if [ ! -e /state/once ]; then touch /state/once; exit 1; fi")
    apply(cp, job)
    done = wait_for(cp, f"/apis/batch/v1/namespaces/{ns}/jobs/flaky", finished, timeout=120)
    pod = job_pod(cp, ns, "flaky")
    assert done["status"].get("succeeded") == 1, all_logs(cp, ns, pod)
    status = pod["status"]
    step = next(c for c in status["containerStatuses"] if c["name"] == "step")
    assert step["restartCount"] == 1 and step["lastState"]["terminated"]["exitCode"] == 1, step
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["oras-push"]  # no oras-pull init container
    assert status["initContainerStatuses"][0]["restartCount"] == 0
    sidecar = logs(cp, ns, pod, "oras-push")
    assert "run 2 succeeded and its verdict is read" in sidecar, sidecar  # it ended by itself
    assert "restart/flaky:v1" in sidecar
    got = client.resolve("restart/flaky", "v1", what="check")
    assert got is not None
    pulled = tmp_path / "got"
    pull_artifact(client, Reference(host, "restart/flaky", "v1"), str(pulled))
    assert (pulled / "out.txt").read_text() == "iterations=3\n"


def test_an_on_failure_step_whose_input_comes_late_is_pulled_again_when_its_launcher_starts_again(workspace, tmp_path):
    cp, ns, host, client = workspace
    job = on_failure_job(ns, "late", {PREFIX + "input-uri": "restart/late:v1", PREFIX + "output-uri": "restart/late-out:v1",
                                      PREFIX + "output-path": "out.txt"}, "cp late.txt out.txt")
    apply(cp, job)
    wait_for(cp, f"/api/v1/namespaces/{ns}/pods?labelSelector=job-name%3Dlate",
             lambda pods: any(c.get("restartCount", 0) >= 1 or (c.get("state") or {}).get("terminated")
                              for p in pods["items"] for c in (p.get("status") or {}).get("containerStatuses") or []),
             timeout=60)  # the first run: pull-failed, 211
    (tmp_path / "late.txt").write_text("late\n")
    push_artifact(client, Reference(host, "restart/late", "v1"), [str(tmp_path / "late.txt")])
    done = wait_for(cp, f"/apis/batch/v1/namespaces/{ns}/jobs/late", finished, timeout=120)
    pod = job_pod(cp, ns, "late")
    assert done["status"].get("succeeded") == 1, all_logs(cp, ns, pod)
    sidecar = logs(cp, ns, pod, "oras-push")
    assert "asks for the inputs again" in sidecar and "pulled restart/late:v1" in sidecar, sidecar
    assert client.resolve("restart/late-out", "v1", what="check") is not None


def test_a_failed_push_fails_the_on_failure_step(workspace):
    cp, ns, _, _ = workspace
    # a registry of its own that refuses every connection: the push fails within the step's timeout
    job = on_failure_job(ns, "unstored", {PREFIX + "registry": "http://127.0.0.1:9", PREFIX + "timeout": "3s",
                                          PREFIX + "output-uri": "restart/unstored:v1", PREFIX + "output-path": "out.txt"},
                         "echo x > out.txt", backoff_limit=0)
    exits: list[dict] = []

    def watch() -> None:  # the Job controller deletes the pod once it fails the Job: read its exit first
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not exits:
            pod = job_pod(cp, ns, "unstored")
            for c in ((pod or {}).get("status") or {}).get("containerStatuses") or []:
                ended = (c.get("state") or {}).get("terminated") or (c.get("lastState") or {}).get("terminated")
                if c["name"] == "step" and ended:
                    exits.append(ended)
            time.sleep(0.2)

    watcher = threading.Thread(target=watch)
    watcher.start()
    apply(cp, job)
    done = wait_for(cp, f"/apis/batch/v1/namespaces/{ns}/jobs/unstored", finished, timeout=120)
    watcher.join()
    assert done["status"].get("failed"), done["status"]
    assert exits and exits[0]["exitCode"] == PUSH_FAILED_EXIT, exits
    assert exits[0]["message"].startswith("push-failed: "), exits


def test_a_deployment_style_pod_pushes_at_each_run_and_goes_away_when_deleted(workspace):
    cp, ns, host, client = workspace
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "server", "namespace": ns,
                        "annotations": {PREFIX + "output-uri": "restart/server:latest", PREFIX + "output-path": "out.txt"}},
           "spec": {"restartPolicy": "Always", "terminationGracePeriodSeconds": 5, "containers": [
               {"name": "step", "image": SHELL, "imagePullPolicy": "Never",
                "command": ["sh", "-c", "date +%s%N > out.txt; sleep 1"]}]}}
    apply(cp, pod)
    url = f"/api/v1/namespaces/{ns}/pods/server"
    digests = set()
    deadline = time.monotonic() + 120
    while len(digests) < 2 and time.monotonic() < deadline:  # each run pushes its own outputs
        got = client.resolve("restart/server", "latest", what="check")
        if got is not None:
            digests.add(got)
        time.sleep(0.2)
    assert len(digests) >= 2, all_logs(cp, ns, get(cp, url).json())
    status = get(cp, url).json()["status"]
    assert status["initContainerStatuses"][0]["restartCount"] == 0  # the sidecar stays, serving each run
    assert next(c for c in status["containerStatuses"] if c["name"] == "step")["lastState"]["terminated"]["exitCode"] == 0
    began = time.monotonic()
    cp.session().delete(f"{cp.server}{url}")
    wait_for(cp, f"/api/v1/namespaces/{ns}/pods", lambda pods: not any(
        p["metadata"]["name"] == "server" for p in pods["items"]), timeout=60)
    assert time.monotonic() - began < 15  # nothing hangs: the grace period, and the kubelet's looks
