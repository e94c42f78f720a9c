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


def test_the_kubelets_config_file_has_only_fields_it_knows(control_plane, local_cluster):
    """The kubelet drops a field of its config file it does not know without a word: each node's
    kubelet, asked for the configuration it runs with (/configz), has every field we wrote, with
    our value. (`podLogsDirectory` for `podLogsDir` once left both kubelets on /var/log/pods,
    each deleting the other's pods' logs.)"""
    import yaml

    for node in local_cluster.nodes:
        written = yaml.safe_load((node.root / "kubelet" / "config.yaml").read_text())
        running = control_plane.session().get(f"{control_plane.server}/api/v1/nodes/{node.name}/proxy/configz",
                                              timeout=10).json()["kubeletconfig"]
        # A zero value (readOnlyPort: 0) is left out of its answer as of any default; the rest must be there.
        unknown = sorted(k for k in set(written) - set(running) - {"apiVersion", "kind"} if written[k])
        assert unknown == [], f"{node.name}: the kubelet ignored {unknown}"
        assert running["podLogsDir"] == str(node.root / "kubelet" / "pod-logs")
        assert running["cgroupRoot"] == node.cgroup_root and running["healthzBindAddress"] == node.ip
