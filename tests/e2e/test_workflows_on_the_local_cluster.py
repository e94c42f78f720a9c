"""Tier 3 on the two-node local cluster, with the controller as a user installs it: `kubectl oras
install` (its image preloaded on every node as kubectl-oras:VERSION), so the controller and the
webhook run in pods and reach the apiserver through the `kubernetes` Service. The README's main job
itself, the predecessor's hello-world fixtures, a DAG across the nodes, an Indexed Job fanning out
and a consumer fanning in, a failing step, a PVC-backed cache whose registry pod is deleted
mid-workflow, and a Job annotated on itself while the controller is scaled to zero. Every artifact
is checked by pulling it with `kubectl oras pull` through the port-forward, as a user would.

This module runs last in tests/e2e (its name sorts after the others'): the other modules run the
controller as a host process, and the uninstall at its end leaves nothing of it behind for them.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import yaml

from controller.core.cache_namespaces import LABEL
from controller.core.webhook_configuration import OWNED_PODS_IN_CACHE_NAMESPACES
from kubectl_oras import __version__
from kubectl_oras.pods.annotations import PREFIX
from localcluster import images
from localcluster.project_image import project_archive
from tests.cluster.apply import apply, new_namespace, wait_for
from tests.e2e.test_workflow_on_a_node import FIXTURES, GROUP, SHELL, all_logs, get, hostpath_volume, logs, ready

REPO = Path(__file__).resolve().parents[2]
PROVENANCE = "dev.kubectl-oras."
CONTROLLER_NS = "kubectl-oras-system"


@pytest.fixture(scope="module")
def installed(control_plane, local_cluster):
    local_cluster.import_archive(project_archive(), f"docker.io/library/kubectl-oras:{__version__}")
    env = {**os.environ, "KUBECONFIG": str(control_plane.kubeconfig)}
    subprocess.run(["kubectl-oras", "install", "--timeout", "180s"], env=env, check=True, capture_output=True, text=True)
    yield env
    result = subprocess.run(["kubectl-oras", "uninstall", "--force"], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.fixture(scope="module")
def shell_by_digest(local_cluster) -> str:
    """The tests' shell image also under its name by digest (`…/shell@sha256:…`, its manifest's
    digest), given with `ctr images tag` as no registry is at hand: a step naming it so is
    recorded with its digest (docs/provenance.md). Its name by tag stays (docs/local-cluster.md)."""
    archive = images.archive_path(local_cluster.nodes[0].images_directory, images.shell_image())
    name = images.pinned_name(images.archive_index(archive))
    local_cluster.import_archive(archive, name)
    return name


def oras(env, *args: str, cwd: Path | None = None) -> str:
    result = subprocess.run(["kubectl-oras", *args], env=env, capture_output=True, text=True, cwd=cwd, timeout=300)
    assert result.returncode == 0, f"kubectl oras {' '.join(args)}: {result.stderr}"
    return result.stdout


def cache(cp, env, ns: str, name: str = "oras", spec: dict | None = None) -> None:
    apply(cp, {"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache",
               "metadata": {"name": name, "namespace": ns}, "spec": spec or {}})
    wait_for(cp, f"/{GROUP}/namespaces/{ns}/orascaches/{name}", ready, timeout=180)


def job(ns: str, name: str, annotations: dict[str, str], script: str, *, node: str | None = None, image: str = SHELL,
        **spec) -> dict:
    pod_spec: dict = {"restartPolicy": "Never", "containers": [
        {"name": "step", "image": image, "imagePullPolicy": "Never", "command": ["sh", "-c", script]}]}
    if node:
        pod_spec["nodeSelector"] = {"kubernetes.io/hostname": node}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "namespace": ns, "annotations": annotations},
            "spec": {"backoffLimit": 0, **spec, "template": {"spec": pod_spec}}}


def outcome(cp, ns: str, name: str, timeout: float = 240) -> tuple[dict, list[dict]]:
    """The Job once it succeeded or failed, and its pods."""
    done = wait_for(cp, f"/apis/batch/v1/namespaces/{ns}/jobs/{name}", lambda j: any(
        c["type"] in ("Complete", "Failed") and c["status"] == "True" for c in j.get("status", {}).get("conditions", [])),
        timeout=timeout)
    pods = get(cp, f"/api/v1/namespaces/{ns}/pods?labelSelector=job-name%3D{name}").json()["items"]
    return done, pods


def succeeded(cp, ns: str, name: str) -> list[dict]:
    done, pods = outcome(cp, ns, name)
    assert done["status"].get("succeeded", 0) >= 1 and not done["status"].get("failed"), \
        "\n".join(all_logs(cp, ns, p) for p in pods)
    return pods


def a(key: str) -> str:
    return PREFIX + key


def test_the_readme_main_job_ends_with_the_results_on_disk(control_plane, installed, tmp_path):
    """scripts/demo.sh, as the README runs it, on this cluster by its kubeconfig context."""
    timings = tmp_path / "timings"
    result = subprocess.run(["bash", str(REPO / "scripts" / "demo.sh"), "--context", "test", "--namespace", "readme",
                             "--out", str(tmp_path / "data")], env={**installed, "DEMO_TIMINGS": str(timings)},
                            capture_output=True, text=True, timeout=900)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-4000:]
    data = tmp_path / "data"
    assert int((data / "analysis" / "cpu" / "count.txt").read_text()) >= 1
    assert (data / "analysis" / "node.txt").read_text().startswith("hwloc-")  # the pod's hostname
    log = (data / "lammps.out").read_text()
    assert log.startswith("LAMMPS (simulated)") and "Step 50 Temp 350" in log
    assert [line.split()[0] for line in timings.read_text().splitlines()] == ["setup", "install", "cache", "experiment",
                                                                               "pull"]
    assert "the results are in" in result.stdout


def test_the_predecessors_hello_world_job_and_pods_run_unchanged_but_for_their_images(control_plane, installed,
                                                                                       tmp_path):
    cp, env = control_plane, installed
    ns = new_namespace(cp, "hello")
    (sample,) = yaml.safe_load_all((FIXTURES / "tests_hello-world_oras.yaml").read_text())
    sample["metadata"]["namespace"] = ns
    sample["spec"]["image"] = "docker.io/library/registry:3.0.0"  # ghcr.io/oras-project/registry:latest cannot be pulled
    apply(cp, sample)
    wait_for(cp, f"/{GROUP}/namespaces/{ns}/orascaches/{sample['metadata']['name']}", ready, timeout=180)
    documents = {}
    for name in ("tests_hello-world_job.yaml", "tests_hello-world_pod.yaml", "tests_hello-world_pod-with-storage.yaml"):
        (doc,) = yaml.safe_load_all((FIXTURES / name).read_text())
        pod_spec = doc["spec"]["template"]["spec"] if doc["kind"] == "Job" else doc["spec"]
        for container in pod_spec["containers"]:  # perl:5.34.0 and ubuntu cannot be pulled here
            container["image"], container["imagePullPolicy"] = "busybox", "IfNotPresent"
        doc["metadata"]["namespace"] = ns
        documents[name] = doc
    plain = documents["tests_hello-world_pod.yaml"]
    plain["metadata"]["name"] = "plain-pumpkin"  # both Pod fixtures are called pumpkin-pod
    for doc in documents.values():
        apply(cp, doc)
    succeeded(cp, ns, "breakfast")
    deadline = time.monotonic() + 180  # pumpkin-pod restarts its step forever (restartPolicy Always)
    while "latest" not in oras(env, "tags", "dinosaur/hello-world", "--cache", "orascache-sample", "-n", ns).split():
        assert time.monotonic() < deadline, all_logs(cp, ns, get(cp, f"/api/v1/namespaces/{ns}/pods/pumpkin-pod").json())
        time.sleep(1)
    running = wait_for(cp, f"/api/v1/namespaces/{ns}/pods/plain-pumpkin", lambda p: p["status"].get("phase") == "Running")
    assert [c["name"] for c in running["spec"]["containers"]] == ["my-container"]  # no annotation: not injected
    assert not running["spec"].get("initContainers")
    oras(env, "pull", "dinosaur/hello-world:pancakes", "--cache", "orascache-sample", "-n", ns, "-o", str(tmp_path / "p"))
    assert (tmp_path / "p" / "pancakes.txt").read_text() == "blueberry\n"
    oras(env, "pull", "dinosaur/hello-world:latest", "--cache", "orascache-sample", "-n", ns, "-o", str(tmp_path / "h"))
    assert (tmp_path / "h" / "hello-world.txt").read_text() == ""


def test_a_dag_passes_artifacts_between_steps_on_different_nodes(control_plane, local_cluster, installed,
                                                                shell_by_digest, tmp_path):
    cp, env, pinned = control_plane, installed, shell_by_digest
    first, second = (n.name for n in local_cluster.nodes[:2])
    ns = new_namespace(cp, "dag")
    cache(cp, env, ns)
    apply(cp, job(ns, "left", {a("output-uri"): "dag/left:v1", a("output-path"): "results"},
                  "mkdir -p results/deep && seq 1 100 > results/deep/numbers.txt && hostname > results/where.txt",
                  node=first, image=pinned))
    apply(cp, job(ns, "right", {a("output-uri"): "dag/right:v1", a("output-path"): "words.txt"},
                  "printf 'alpha\\nbeta\\n' > words.txt", node=second, image=pinned))
    left, right = succeeded(cp, ns, "left"), succeeded(cp, ns, "right")
    assert (left[0]["spec"]["nodeName"], right[0]["spec"]["nodeName"]) == (first, second)
    apply(cp, job(ns, "join", {a("input-uri_1"): "dag/left:v1", a("input-uri_2"): "dag/right:v1",
                               a("output-uri"): "dag/join:v1", a("output-path"): "summary.txt"},
                  "{ wc -l < results/deep/numbers.txt; cat words.txt; cat results/where.txt; } > summary.txt",
                  node=second, image=pinned))
    join = succeeded(cp, ns, "join")
    oras(env, "pull", "dag/join:v1", "-n", ns, "-o", str(tmp_path / "out"))
    assert (tmp_path / "out" / "summary.txt").read_text() == f"100\nalpha\nbeta\n{left[0]['metadata']['name']}\n"
    assert join[0]["spec"]["nodeName"] == second
    # What the kubelet says each step ran (docs/local-cluster.md, "An image by digest"): the same name by digest.
    assert {c["imageID"] for pod in (*left, *right, *join) for c in pod["status"]["containerStatuses"]
            if c["name"] == "step"} == {pinned}
    # Where the last output came from (docs/provenance.md): both producers, their pods and image by digest.
    found = {x["name"]: x for x in json.loads(oras(env, "lineage", "dag/join:v1", "-n", ns, "-o", "json"))["artifacts"]}
    assert list(found) == ["dag/join:v1", "dag/left:v1", "dag/right:v1"]
    for name, pods in (("left", left), ("right", right), ("join", join)):
        assert found[f"dag/{name}:v1"]["producer"] == f"Job/{name} pod {pods[0]['metadata']['name']}"
        assert found[f"dag/{name}:v1"]["image"] == pinned and found[f"dag/{name}:v1"]["provenance"]
    provenance = json.loads(oras(env, "inspect", "dag/join:v1", "-n", ns, "-o", "json"))["provenance"]
    (statement,) = provenance["statements"]
    algorithm, _, digest = pinned.partition("@")[2].partition(":")
    *inputs, image = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
    assert image == {"uri": f"oci://{pinned}", "digest": {algorithm: digest}}  # the image, with its digest
    assert sorted(i["digest"][algorithm] for i in inputs) == sorted(
        found[f"dag/{name}:v1"]["digest"].partition(":")[2] for name in ("left", "right"))
    said = provenance["annotations"]
    assert (said[PROVENANCE + "node"], said[PROVENANCE + "namespace"]) == (second, ns)
    # Re-pushed by hand, it says so, naming the context and never its credentials.
    oras(env, "push", "dag/join:by-hand", "summary.txt", "-n", ns, cwd=tmp_path / "out")
    again = json.loads(oras(env, "inspect", "dag/join:by-hand", "-n", ns, "-o", "json"))["provenance"]
    assert again["annotations"] == {PROVENANCE + "pushed-by": "context test"}
    assert again["statements"][0]["predicate"]["buildDefinition"]["internalParameters"] == {"pushedBy": "context test"}


def test_an_indexed_job_fans_out_and_a_consumer_pulls_every_result(control_plane, installed, tmp_path):
    cp, env = control_plane, installed
    ns = new_namespace(cp, "fan")
    cache(cp, env, ns)
    apply(cp, job(ns, "pi", {a("output-uri"): "results/pi:run-$(JOB_COMPLETION_INDEX)", a("output-path"): "part.txt"},
                  'echo "part $JOB_COMPLETION_INDEX" > part.txt', completions=3, parallelism=3, completionMode="Indexed"))
    pods = succeeded(cp, ns, "pi")
    assert len(pods) == 3
    tags = oras(env, "tags", "results/pi", "-n", ns).split()
    assert sorted(tags) == ["run-0", "run-1", "run-2"]
    apply(cp, job(ns, "sum", {a("input-uri"): "results/pi:run-*", a("input-path"): "parts",
                              a("output-uri"): "results/sum:v1", a("output-path"): "sum.txt"},
                  "cat parts/run-*/part.txt > sum.txt"))
    succeeded(cp, ns, "sum")
    oras(env, "pull", "results/sum:v1", "-n", ns, "-o", str(tmp_path / "out"))
    assert (tmp_path / "out" / "sum.txt").read_text() == "part 0\npart 1\npart 2\n"


def docs_fan_in_example(ns: str) -> list[dict]:
    """docs/annotations.md's fan-out and fan-in example, as written but for its images, which no
    node here can pull: python:3.12-slim is the project's image (a Python on Debian's slim, run as
    root as that one is), busybox the node's own."""
    section = (REPO / "docs" / "annotations.md").read_text().partition("## Fan-out and fan-in")[2]
    documents = list(yaml.safe_load_all(section.partition("```yaml\n")[2].partition("```")[0]))
    local = {"python:3.12-slim": f"kubectl-oras:{__version__}", "busybox": "busybox"}
    for doc in documents:
        doc["metadata"]["namespace"] = ns
        for container in doc["spec"]["template"]["spec"]["containers"]:
            container.update(image=local[container["image"]], imagePullPolicy="Never")
            if container["image"].startswith("kubectl-oras:"):
                container["securityContext"] = {"runAsUser": 0}
    return documents


def test_the_docs_fan_in_applied_as_one_file_pulls_every_shard(control_plane, installed, tmp_path):
    """Producers and consumer in one `kubectl apply -f`: the consumer's pull waits (input-count,
    input-wait) for all 3 shards instead of gathering those there when it starts."""
    cp, env = control_plane, installed
    ns = new_namespace(cp, "fanin")
    cache(cp, env, ns)
    pi, gather = docs_fan_in_example(ns)
    assert gather["metadata"]["annotations"][a("input-count")] == "3"
    manifest = tmp_path / "pi.yaml"
    manifest.write_text(yaml.safe_dump_all([gather, pi]))  # the consumer first: it starts before any shard exists
    applied = subprocess.run(["kubectl", "apply", "-f", str(manifest)], env=env, capture_output=True, text=True,
                             timeout=60)
    assert applied.returncode == 0, applied.stderr
    pods = succeeded(cp, ns, "gather")
    assert len(pods) == 1
    said = logs(cp, ns, pods[0], "gather").splitlines()  # the step's output, and the wrapper's word if it waited
    assert [line for line in said if not line.startswith("kubectl-oras: ")] == ["3.14159"] * 3, said
    assert "input-uri: results/pi:run-* pulls 3 tags: run-0, run-1, run-2" in logs(cp, ns, pods[0], "oras-push")
    assert len(succeeded(cp, ns, "pi")) == 3


def test_the_docs_pod_failure_policy_fails_the_job_at_once_on_a_missing_input(control_plane, installed):
    """docs/pod-protocol.md's podFailurePolicy, as written but for busybox's pull policy: its input
    was never pushed, so the one pod exits 211 (pull-failed) and the Job fails without a retry."""
    cp, env = control_plane, installed
    ns = new_namespace(cp, "policy")
    cache(cp, env, ns)
    section = (REPO / "docs" / "pod-protocol.md").read_text().partition("## Exit codes")[2]
    (train,) = yaml.safe_load_all(section.partition("```yaml\n")[2].partition("```")[0])
    train["metadata"]["namespace"] = ns
    train["spec"]["template"]["spec"]["containers"][0]["imagePullPolicy"] = "Never"
    apply(cp, train)
    done, pods = outcome(cp, ns, "train")
    assert [c["reason"] for c in done["status"]["conditions"] if c["type"] == "Failed"] == ["PodFailurePolicy"]
    assert len(pods) == 1 and done["status"].get("failed") == 1
    pod = get(cp, f"/api/v1/namespaces/{ns}/pods/{pods[0]['metadata']['name']}").json()
    (step,) = [c for c in pod["status"]["containerStatuses"] if c["name"] == "train"]
    assert step["state"]["terminated"]["exitCode"] == 211, all_logs(cp, ns, pod)
    assert step["state"]["terminated"]["message"].startswith("pull-failed: "), step
    assert "data/corpus" in step["state"]["terminated"]["message"]


def test_a_failing_step_fails_its_job_and_the_tag_keeps_its_earlier_artifact(control_plane, installed, tmp_path):
    cp, env = control_plane, installed
    ns = new_namespace(cp, "fail")
    cache(cp, env, ns)
    annotations = {a("output-uri"): "results/model:latest", a("output-path"): "model.txt"}
    apply(cp, job(ns, "good", annotations, "echo good > model.txt"))
    succeeded(cp, ns, "good")
    apply(cp, job(ns, "bad", annotations, "echo half-written > model.txt; exit 7"))
    done, pods = outcome(cp, ns, "bad")
    assert done["status"].get("failed") == 1 and not done["status"].get("succeeded")
    step = next(c for c in get(cp, f"/api/v1/namespaces/{ns}/pods/{pods[0]['metadata']['name']}").json()["status"][
        "containerStatuses"] if c["name"] == "step")
    assert step["state"]["terminated"]["exitCode"] == 7
    oras(env, "pull", "results/model:latest", "-n", ns, "-o", str(tmp_path / "out"))
    assert (tmp_path / "out" / "model.txt").read_text() == "good\n"


def test_a_pvc_backed_cache_whose_registry_pod_is_deleted_mid_workflow_loses_nothing(control_plane, local_cluster,
                                                                                     installed, tmp_path):
    cp, env = control_plane, installed
    ns = new_namespace(cp, "pvc")
    hostpath_volume(cp, local_cluster.nodes[0], f"pv-{uuid.uuid4().hex[:6]}")
    cache(cp, env, ns, spec={"storage": {"pvc": {"size": "1Gi", "storageClassName": "kubectl-oras-local"}}})
    apply(cp, job(ns, "one", {a("output-uri"): "flow/one:v1", a("output-path"): "one.txt"}, "seq 1 5000 > one.txt"))
    succeeded(cp, ns, "one")
    # Step two runs while the registry pod is deleted: its input was pulled before, its push
    # waits for the replacement (same volume) and lands.
    apply(cp, job(ns, "two", {a("input-uri"): "flow/one:v1", a("output-uri"): "flow/two:v1", a("output-path"): "two.txt"},
                  "sleep 8; wc -l < one.txt > two.txt"))
    wait_for(cp, f"/api/v1/namespaces/{ns}/pods?labelSelector=job-name%3Dtwo", lambda pods: any(
        c.get("state", {}).get("running") for p in pods["items"]
        for c in p.get("status", {}).get("containerStatuses", []) if c["name"] == "step"))
    old = get(cp, f"/api/v1/namespaces/{ns}/pods/oras-0").json()["metadata"]["uid"]
    assert cp.session().delete(f"{cp.server}/api/v1/namespaces/{ns}/pods/oras-0").status_code == 200
    succeeded(cp, ns, "two")
    assert get(cp, f"/api/v1/namespaces/{ns}/pods/oras-0").json()["metadata"]["uid"] != old
    apply(cp, job(ns, "three", {a("input-uri_1"): "flow/one:v1", a("input-uri_2"): "flow/two:v1",
                                a("output-uri"): "flow/three:v1", a("output-path"): "three.txt"},
                  "{ tail -1 one.txt; cat two.txt; } > three.txt"))
    succeeded(cp, ns, "three")
    for name, expected in (("one", None), ("three", "5000\n5000\n")):
        oras(env, "pull", f"flow/{name}:v1", "-n", ns, "-o", str(tmp_path / name))
        if expected:
            assert (tmp_path / name / f"{name}.txt").read_text() == expected
    assert (tmp_path / "one" / "one.txt").read_text() == "".join(f"{i}\n" for i in range(1, 5001))



def scale_controller(cp, replicas: int) -> None:
    r = cp.session().patch(f"{cp.server}/apis/apps/v1/namespaces/{CONTROLLER_NS}/deployments/kubectl-oras/scale",
                           json={"spec": {"replicas": replicas}}, headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text


def job_events(cp, ns: str, name: str, reason: str) -> list[str]:
    items = get(cp, f"/api/v1/namespaces/{ns}/events").json()["items"]
    return [e["message"] for e in items
            if e["involvedObject"]["kind"] == "Job" and e["involvedObject"]["name"] == name and e["reason"] == reason]


def test_a_job_annotated_on_itself_waits_while_the_controller_is_scaled_to_zero(control_plane, installed, tmp_path):
    """A step annotated on its Job (as `kubectl oras annotate job/x` leaves it) never runs without
    its agent: with no webhook replica, its pods are refused (FailedCreate naming the webhook);
    once the controller is back, the Job runs injected and its output is in the cache."""
    cp, env = control_plane, installed
    ns = new_namespace(cp, "down")
    cache(cp, env, ns)
    wait_for(cp, f"/api/v1/namespaces/{ns}", lambda n: LABEL in (n["metadata"].get("labels") or {}), timeout=60)
    selector = "app.kubernetes.io/name%3Dkubectl-oras,app.kubernetes.io/component%3Dcontroller"
    scale_controller(cp, 0)
    try:
        wait_for(cp, f"/api/v1/namespaces/{CONTROLLER_NS}/pods?labelSelector={selector}",
                 lambda pods: not pods["items"], timeout=120)
        apply(cp, job(ns, "late", {a("output-uri"): "down/late:v1", a("output-path"): "late.txt"}, "echo late > late.txt"))
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not job_events(cp, ns, "late", "FailedCreate"):
            time.sleep(1)
        refused = job_events(cp, ns, "late", "FailedCreate")
        # What `kubectl describe job` shows: the entry, and that no replica serves (docs/controller.md).
        assert refused and f'failed calling webhook "{OWNED_PODS_IN_CACHE_NAMESPACES}"' in refused[0], refused
        assert "kubectl-oras-webhook.kubectl-oras-system.svc:443/mutate" in refused[0], refused
        assert get(cp, f"/api/v1/namespaces/{ns}/pods?labelSelector=job-name%3Dlate").json()["items"] == []
    finally:
        scale_controller(cp, 2)
    pods = succeeded(cp, ns, "late")
    assert [c["name"] for c in pods[0]["spec"]["initContainers"]] == ["oras-push"]
    oras(env, "pull", "down/late:v1", "-n", ns, "-o", str(tmp_path / "out"))
    assert (tmp_path / "out" / "late.txt").read_text() == "late\n"
