"""End to end on a real node: a two-step workflow whose steps hand files to each other through
a registry pod, with nothing in the step's own spec but annotations.

The webhook process (with only its ServiceAccount's RBAC) injects the agent from the project's
own image (built from the Containerfile by buildah); the registry is the Go-built distribution
in a pod. Until Services are reachable on the test node, steps name the registry pod by IP
with the `registry` annotation instead of using an OrasCache's Service name.
"""

from __future__ import annotations

import time
import uuid

import pytest

from kubectl_oras.annotations import PREFIX
from kubectl_oras.pull import pull_artifact
from kubectl_oras.push import push_artifact
from kubectl_oras.reference import Reference
from kubectl_oras.registry import RegistryClient
from tests.cluster.apply import apply
from tests.node import images
from tests.node.project_image import IMAGE_NAME, project_archive
from tests.webhook.process import webhook_process

SHELL = images.shell_image().name
REGISTRY = images.REGISTRY_IMAGE


def get(cp, path):
    return cp.session().get(f"{cp.server}{path}")


def wait_for(cp, path, predicate, timeout=180):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        r = get(cp, path)
        if r.status_code == 200:
            last = r.json()
            if predicate(last):
                return last
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting on {path}; last:\n{last}")


@pytest.fixture(scope="module")
def cluster(control_plane, node, tmp_path_factory):
    node.import_archive(project_archive())
    log = tmp_path_factory.mktemp("e2e") / "webhook.log"
    with webhook_process(control_plane, log, agent_image=IMAGE_NAME):
        yield control_plane, log


@pytest.fixture
def workspace(cluster):
    cp, log = cluster
    ns = f"e2e-{uuid.uuid4().hex[:6]}"
    apply(cp, {"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns}})
    wait_for(cp, f"/api/v1/namespaces/{ns}/serviceaccounts/default", lambda sa: True, timeout=30)
    apply(cp, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "registry", "namespace": ns},
               "spec": {"containers": [{"name": "registry", "image": REGISTRY, "imagePullPolicy": "Never",
                                        "ports": [{"containerPort": 5000}]}]}})
    pod = wait_for(cp, f"/api/v1/namespaces/{ns}/pods/registry",
                   lambda p: p.get("status", {}).get("phase") == "Running" and p["status"].get("podIP"))
    host = f"{pod['status']['podIP']}:5000"
    client = RegistryClient(host, plain_http=True, retries=8)
    deadline = time.monotonic() + 30
    while True:
        try:
            client.list_repositories()
            break
        except Exception:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.2)
    return cp, log, ns, host, client


def step_job(ns, name, host, annotations, script):
    return {"apiVersion": "batch/v1", "kind": "Job",
            "metadata": {"name": name, "namespace": ns,
                         "annotations": {PREFIX + "registry": f"http://{host}", **annotations}},
            "spec": {"backoffLimit": 0, "template": {"spec": {"restartPolicy": "Never", "containers": [
                {"name": "step", "image": SHELL, "imagePullPolicy": "Never", "command": ["sh", "-c", script]}]}}}}


def run_job(cp, ns, job):
    apply(cp, job)
    done = wait_for(cp, f"/apis/batch/v1/namespaces/{ns}/jobs/{job['metadata']['name']}",
                    lambda j: j.get("status", {}).get("succeeded") == 1 or j.get("status", {}).get("failed"))
    pods = get(cp, f"/api/v1/namespaces/{ns}/pods?labelSelector=job-name%3D{job['metadata']['name']}").json()["items"]
    return done, pods[0]


def logs(cp, ns, pod, container):
    return get(cp, f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}/log?container={container}").text


def test_two_steps_pass_a_directory_and_the_user_pulls_the_result(workspace, tmp_path):
    cp, log, ns, host, client = workspace
    seed = tmp_path / "seed"
    seed.mkdir()
    (seed / "params.txt").write_text("iterations=3\n")
    push_artifact(client, Reference(host, "experiment/params", "v1"), [str(seed / "params.txt")])

    first = step_job(ns, "simulate", host, {
        PREFIX + "input-uri": "experiment/params:v1",
        PREFIX + "output-uri": "experiment/simulate:iter-0",
        PREFIX + "output-path": "results",
    }, "mkdir -p results && for i in 1 2 3; do echo run-$i > results/run-$i.txt; done && cp params.txt results/")
    done, pod = run_job(cp, ns, first)
    assert done["status"].get("succeeded") == 1, (done["status"], logs(cp, ns, pod, "step"), logs(cp, ns, pod, "oras-push"))
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["oras-push", "oras-pull"]

    second = step_job(ns, "analyse", host, {
        PREFIX + "input-uri": "experiment/simulate:iter-0",
        PREFIX + "output-uri": "experiment/analyse:iter-0",
        PREFIX + "output-path": "summary.txt",
        PREFIX + "output-pipe": "summary.txt",
    }, "cat results/*.txt | sort")
    done, pod = run_job(cp, ns, second)
    assert done["status"].get("succeeded") == 1, (done["status"], logs(cp, ns, pod, "step"), logs(cp, ns, pod, "oras-push"))
    assert logs(cp, ns, pod, "step") == "iterations=3\nrun-1\nrun-2\nrun-3\n"  # the log still shows it

    pulled = pull_artifact(client, Reference(host, "experiment/analyse", "iter-0"), str(tmp_path / "out"))
    assert [f.title for f in pulled.files] == ["summary.txt"]
    assert (tmp_path / "out" / "summary.txt").read_text() == "iterations=3\nrun-1\nrun-2\nrun-3\n"


def test_a_failing_step_fails_its_job_and_stores_nothing(workspace):
    cp, log, ns, host, client = workspace
    job = step_job(ns, "broken", host, {PREFIX + "output-uri": "experiment/broken:iter-0",
                                        PREFIX + "output-path": "out.txt"}, "echo partial > out.txt; exit 3")
    done, pod = run_job(cp, ns, job)
    assert done["status"].get("failed") == 1
    step = next(c for c in pod_status(cp, ns, pod)["containerStatuses"] if c["name"] == "step")
    assert step["state"]["terminated"]["exitCode"] == 3
    assert client.resolve("experiment/broken", "iter-0", what="check") is None


def pod_status(cp, ns, pod):
    return get(cp, f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}").json()["status"]
