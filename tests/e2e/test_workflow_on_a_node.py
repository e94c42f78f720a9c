"""End to end on a real node: a two-step workflow whose steps hand files to each other through
a registry pod, with nothing in the step's own spec but annotations.

The webhook process (with only its ServiceAccount's RBAC) injects the agent from the project's
own image (built from the Containerfile by buildah); the registry is the Go-built distribution
in a pod behind a Service named like the cache (what an OrasCache will create), which agents
reach by its DNS name (CoreDNS + kube-proxy on the node) and the test reaches by ClusterIP.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference
from kubectl_oras.pods.annotations import PREFIX
from tests.cluster.apply import apply, new_namespace, wait_for
from tests.node import images
from tests.node.project_image import IMAGE_NAME, project_archive
from tests.webhook.process import webhook_process

SHELL = images.shell_image().name
REGISTRY = images.REGISTRY_IMAGE


def get(cp, path):
    return cp.session().get(f"{cp.server}{path}")


@pytest.fixture(scope="module")
def cluster(control_plane, node, tmp_path_factory):
    node.import_archive(project_archive())
    log = tmp_path_factory.mktemp("e2e") / "webhook.log"
    with webhook_process(control_plane, log, agent_image=IMAGE_NAME):
        yield control_plane, log


def registry_service(cp, ns, name):
    """A registry pod behind a Service: what an OrasCache named ``name`` stands for."""
    labels = {"app.kubernetes.io/name": "registry", "cache": name}
    apply(cp, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": f"{name}-registry", "namespace": ns, "labels": labels},
               "spec": {"containers": [{"name": "registry", "image": REGISTRY, "imagePullPolicy": "Never",
                                        "ports": [{"containerPort": 5000}]}]}})
    apply(cp, {"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
               "spec": {"selector": labels, "ports": [{"port": 5000, "targetPort": 5000}]}})
    wait_for(cp, f"/api/v1/namespaces/{ns}/pods/{name}-registry",
             lambda p: any(c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", [])))
    service = get(cp, f"/api/v1/namespaces/{ns}/services/{name}").json()
    host = f"{service['spec']['clusterIP']}:5000"
    client = RegistryClient(host, plain_http=True, retries=8)
    deadline = time.monotonic() + 30
    while True:  # until kube-proxy has programmed the Service
        try:
            client.list_repositories()
            return host, client
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)


@pytest.fixture
def workspace(cluster):
    cp, log = cluster
    ns = new_namespace(cp, "e2e")
    host, client = registry_service(cp, ns, "oras")
    return cp, log, ns, host, client


def step_job(ns, name, annotations, script):
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": ns, "annotations": annotations},
            "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "step", "image": SHELL, "imagePullPolicy": "Never", "command": ["sh", "-c", script]}]}}}}


def run_job(cp, ns, job):
    apply(cp, job)
    done = wait_for(cp, f"/apis/batch/v1/namespaces/{ns}/jobs/{job['metadata']['name']}",
                    lambda j: j.get("status", {}).get("succeeded") == 1 or j.get("status", {}).get("failed"))
    pods = get(cp, f"/api/v1/namespaces/{ns}/pods?labelSelector=job-name%3D{job['metadata']['name']}").json()["items"]
    return done, pods[0]


def all_logs(cp, ns, pod):
    names = [c["name"] for c in pod["spec"].get("initContainers", []) + pod["spec"]["containers"]]
    return "\n".join(f"--- {n}:\n{logs(cp, ns, pod, n)}" for n in names)


def logs(cp, ns, pod, container):
    return get(cp, f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}/log?container={container}").text


def test_two_steps_pass_a_directory_and_the_user_pulls_the_result(workspace, tmp_path):
    cp, log, ns, host, client = workspace
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "params.txt").write_text("iterations=3\n")
    push_artifact(client, Reference(host, "experiment/params", "v1"), [str(seed / "params.txt")])

    first = step_job(ns, "simulate", {
        PREFIX + "input-uri": "experiment/params:v1",
        PREFIX + "output-uri": "experiment/simulate:iter-0",
        PREFIX + "output-path": "results",
    }, "mkdir -p results && for i in 1 2 3; do echo run-$i > results/run-$i.txt; done && cp params.txt results/")
    done, pod = run_job(cp, ns, first)
    assert done["status"].get("succeeded") == 1, all_logs(cp, ns, pod)
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["oras-push", "oras-pull"]

    second = step_job(ns, "analyse", {
        PREFIX + "input-uri": "experiment/simulate:iter-0",
        PREFIX + "output-uri": "experiment/analyse:iter-0",
        PREFIX + "output-path": "summary.txt",
        PREFIX + "output-pipe": "summary.txt",
    }, "cat results/*.txt | sort")
    done, pod = run_job(cp, ns, second)
    assert done["status"].get("succeeded") == 1, all_logs(cp, ns, pod)
    assert logs(cp, ns, pod, "step") == "iterations=3\nrun-1\nrun-2\nrun-3\n"  # the log still shows it

    pulled = pull_artifact(client, Reference(host, "experiment/analyse", "iter-0"), str(tmp_path / "out"))
    assert [f.title for f in pulled.files] == ["summary.txt"]
    assert (tmp_path / "out" / "summary.txt").read_text() == "iterations=3\nrun-1\nrun-2\nrun-3\n"


def test_a_failing_step_fails_its_job_and_stores_nothing(workspace):
    cp, log, ns, host, client = workspace
    # This one names the registry itself (the `registry` annotation, plain HTTP) instead of the cache.
    job = step_job(ns, "broken", {PREFIX + "registry": f"http://{host}", PREFIX + "output-uri": "experiment/broken:iter-0",
                                  PREFIX + "output-path": "out.txt"}, "echo partial > out.txt; exit 3")
    done, pod = run_job(cp, ns, job)
    assert done["status"].get("failed") == 1
    step = next(c for c in pod_status(cp, ns, pod)["containerStatuses"] if c["name"] == "step")
    assert step["state"]["terminated"]["exitCode"] == 3
    assert client.resolve("experiment/broken", "iter-0", what="check") is None


def pod_status(cp, ns, pod):
    return get(cp, f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}").json()["status"]


def test_the_predecessors_job_example_runs_unchanged_but_for_its_image(cluster, tmp_path):
    import yaml

    cp, _ = cluster
    ns = new_namespace(cp, "e2e")
    fixture = Path(__file__).resolve().parents[1] / "fixtures" / "predecessor" / "tests_hello-world_job.yaml"
    (job,) = yaml.safe_load_all(fixture.read_text())
    host, client = registry_service(cp, ns, job["metadata"]["annotations"][PREFIX + "oras-cache"])
    job["metadata"]["namespace"] = ns
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["image"], container["imagePullPolicy"] = SHELL, "Never"  # perl:5.34.0 cannot be pulled here
    done, pod = run_job(cp, ns, job)
    assert done["status"].get("succeeded") == 1, (done["status"], logs(cp, ns, pod, "breakfast"))
    assert "blueberry\n" in logs(cp, ns, pod, "breakfast")  # debug: "true" adds the wrapper's own lines
    pull_artifact(client, Reference(host, "dinosaur/hello-world", "pancakes"), str(tmp_path / "out"))
    assert (tmp_path / "out" / "pancakes.txt").read_text() == "blueberry\n"
