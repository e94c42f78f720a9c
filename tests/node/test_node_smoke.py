"""Tier 3 works: real pods run on a real kubelet with containerd and runc."""

from __future__ import annotations

from localcluster import images
from tests.cluster.apply import apply, new_namespace, wait_for

SHELL = images.shell_image().name


def test_a_job_runs_a_shell_step_to_completion(control_plane, node):
    ns = new_namespace(control_plane, "node")
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "hello", "namespace": ns},
           "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
               {"name": "step", "image": SHELL, "imagePullPolicy": "Never",
                "command": ["sh", "-c", "echo blueberry > /tmp/pancakes.txt && cat /tmp/pancakes.txt"]}]}}}}
    apply(control_plane, job)
    done = wait_for(control_plane, f"/apis/batch/v1/namespaces/{ns}/jobs/hello",
                lambda j: j.get("status", {}).get("succeeded") == 1 or j.get("status", {}).get("failed"))
    assert done["status"].get("succeeded") == 1, done["status"]
    pods = control_plane.session().get(f"{control_plane.server}/api/v1/namespaces/{ns}/pods",
                                       params={"labelSelector": "job-name=hello"}).json()["items"]
    log = control_plane.session().get(
        f"{control_plane.server}/api/v1/namespaces/{ns}/pods/{pods[0]['metadata']['name']}/log").text
    assert log == "blueberry\n"


def test_a_native_sidecar_stops_after_the_main_container(control_plane, node):
    ns = new_namespace(control_plane, "node")
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "with-sidecar", "namespace": ns},
           "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 5,
                    "initContainers": [{"name": "sidecar", "image": SHELL, "imagePullPolicy": "Never",
                                        "restartPolicy": "Always",
                                        "command": ["sh", "-c", "trap 'echo got TERM; exit 0' TERM; "
                                                    "while true; do sleep 0.1; done"]}],
                    "containers": [{"name": "main", "image": SHELL, "imagePullPolicy": "Never",
                                    "command": ["sh", "-c", "sleep 1; echo main done"]}]}}
    apply(control_plane, pod)
    final = wait_for(control_plane, f"/api/v1/namespaces/{ns}/pods/with-sidecar",
                 lambda p: p.get("status", {}).get("phase") in ("Succeeded", "Failed"))
    assert final["status"]["phase"] == "Succeeded", final["status"]
    sidecar = final["status"]["initContainerStatuses"][0]
    assert sidecar["name"] == "sidecar" and "terminated" in sidecar["state"], sidecar
    log = control_plane.session().get(f"{control_plane.server}/api/v1/namespaces/{ns}/pods/with-sidecar/log",
                                      params={"container": "sidecar"}).text
    assert "got TERM" in log  # it was asked to stop, after main, and did
