"""End to end on a real node: a two-step workflow whose steps hand files to each other through
the registry of an OrasCache, with nothing in the step's own spec but annotations.

The controller process (webhook + reconciler, with only its ServiceAccount's RBAC) turns each
OrasCache into a registry pod (the default image, docker.io/library/registry:3.0.0, with auth on)
behind a Service, and injects the agent from the project's own image (built from the Containerfile
by buildah) into annotated pods. Agents reach the registry by its DNS name (CoreDNS + kube-proxy on
the node); the test reaches it by ClusterIP with the password from the cache's Secret.
"""

from __future__ import annotations

import base64
import time
import uuid
from pathlib import Path

import pytest
import yaml

from kubectl_oras.oci.auth import Credentials
from kubectl_oras.oci.client import RegistryClient
from kubectl_oras.oci.errors import RegistryError
from kubectl_oras.oci.pull import pull_artifact
from kubectl_oras.oci.push import push_artifact
from kubectl_oras.oci.reference import Reference, is_fallback_tag
from kubectl_oras.pods.annotations import PREFIX
from kubectl_oras.pods.share import PULL_FAILED_EXIT
from localcluster import images
from localcluster.project_image import IMAGE_NAME, project_archive
from tests.cluster.apply import apply, new_namespace, wait_for
from tests.webhook.process import controller_process

SHELL = images.shell_image().name
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "predecessor"
GROUP = "apis/cache.converged-computing.github.io/v1alpha1"


def get(cp, path):
    return cp.session().get(f"{cp.server}{path}")


@pytest.fixture(scope="module")
def cluster(control_plane, local_cluster, tmp_path_factory):
    local_cluster.import_archive(project_archive())
    log = tmp_path_factory.mktemp("e2e") / "controller.log"
    with controller_process(control_plane, log, agent_image=IMAGE_NAME):
        yield control_plane, log


def ready(cache):
    return any(c["type"] == "Ready" and c["status"] == "True" and c.get("observedGeneration") == cache["metadata"]["generation"]
               for c in (cache.get("status") or {}).get("conditions") or [])


def orascache(cp, ns, name, spec=None):
    """An OrasCache, once Ready; the test's way to its registry (ClusterIP, the cache's password)."""
    apply(cp, {"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache",
               "metadata": {"name": name, "namespace": ns}, "spec": spec or {}})
    return cache_client(cp, ns, name)


def cache_client(cp, ns, name):
    cache = wait_for(cp, f"/{GROUP}/namespaces/{ns}/orascaches/{name}", ready, timeout=180)
    credentials = None
    if cache["status"].get("authSecret"):  # none with auth.enabled: false
        secret = get(cp, f"/api/v1/namespaces/{ns}/secrets/{cache['status']['authSecret']}").json()
        credentials = Credentials(*(base64.b64decode(secret["data"][k]).decode() for k in ("ORAS_USER", "ORAS_PASS")))
    service = get(cp, f"/api/v1/namespaces/{ns}/services/{name}").json()
    host = f"{service['spec']['clusterIP']}:5000"
    client = RegistryClient(host, plain_http=True, retries=8, credentials=credentials)
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
    host, client = orascache(cp, ns, "oras")
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
    # restartPolicy Never: the sidecar pulled, and ended by itself
    assert [c["name"] for c in pod["spec"]["initContainers"]] == ["oras-push"]
    sidecar = logs(cp, ns, pod, "oras-push")
    assert "pulled experiment/params:v1" in sidecar
    assert "run 1 has its verdict and the launcher runs once" in sidecar, sidecar
    assert pod["status"]["initContainerStatuses"][0]["restartCount"] == 0

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


def test_a_missing_input_fails_its_job_without_running_the_step_and_the_step_log_says_why(workspace):
    cp, log, ns, host, client = workspace
    job = step_job(ns, "starved", {PREFIX + "input-uri": "experiment/never-pushed:v1",
                                   PREFIX + "output-uri": "experiment/starved:iter-0", PREFIX + "output-path": "out.txt"},
                   "echo the step ran; echo x > out.txt")
    done, pod = run_job(cp, ns, job)
    assert done["status"].get("failed") == 1, all_logs(cp, ns, pod)
    status = pod_status(cp, ns, pod)
    step = next(c for c in status["containerStatuses"] if c["name"] == "step")
    assert step["state"]["terminated"]["exitCode"] == PULL_FAILED_EXIT  # 211: a podFailurePolicy can tell it apart
    assert step["state"]["terminated"]["message"].startswith("pull-failed: ")  # the pod's status says why
    step_log = logs(cp, ns, pod, "step")
    assert "the step ran" not in step_log
    assert "pull-failed:" in step_log and "experiment/never-pushed:v1" in step_log, step_log
    assert "the step was not run" in step_log
    sidecar = logs(cp, ns, pod, "oras-push")
    assert "kubectl-oras pull: error:" in sidecar and "read the failed pull's answer" in sidecar, sidecar
    assert status["initContainerStatuses"][0]["restartCount"] == 0  # the hook never failed: no restart loop
    assert client.resolve("experiment/starved", "iter-0", what="check") is None


def test_a_pod_deleted_while_its_sidecar_waits_for_a_registry_goes_away_at_once(workspace):
    """The pull runs in the sidecar, not in its postStart hook: the kubelet cancels no running hook,
    so a pod deleted during a pull in the hook would stay until the pull gave up (300 s here)."""
    cp, log, ns, host, client = workspace
    name = "waits-" + uuid.uuid4().hex[:6]
    pod = {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": ns, "annotations": {
        PREFIX + "registry": "http://127.0.0.1:9", PREFIX + "input-uri": "experiment/params:v1"}},
        "spec": {"restartPolicy": "Never", "terminationGracePeriodSeconds": 5, "containers": [
            {"name": "step", "image": SHELL, "imagePullPolicy": "Never", "command": ["sh", "-c", "echo ran"]}]}}
    apply(cp, pod)
    path = f"/api/v1/namespaces/{ns}/pods/{name}"
    deadline = time.monotonic() + 120
    # The pod runs while the sidecar pulls (its status and logs are there to see), the step waits.
    while "waiting for the inputs to be pulled" not in get(cp, f"{path}/log?container=step").text:
        assert time.monotonic() < deadline, get(cp, path).json().get("status")
        time.sleep(0.5)
    assert "waiting for registry 127.0.0.1:9" in get(cp, f"{path}/log?container=oras-push").text
    began = time.monotonic()
    assert cp.session().delete(f"{cp.server}{path}").status_code == 200
    while get(cp, path).status_code != 404:
        assert time.monotonic() - began < 60, "the pod outlived its 5 s grace period by far"
        time.sleep(0.5)


def test_a_pod_deleted_after_its_step_while_the_push_waits_succeeds_with_its_tag_stored(cluster):
    """The pod is deleted after its step finished, while the sidecar's push waits for the registry
    (a Service with no endpoints yet): the kubelet signals the step's container first, the wrapper
    goes on waiting, the push ends once the Service finds the registry, and the pod, the Job
    (podReplacementPolicy: Failed, so it waits for the pod's phase) and the registry agree."""
    cp, _ = cluster
    ns = new_namespace(cp, "e2e")
    host, client = orascache(cp, ns, "oras", {"auth": {"enabled": False}})
    registry = get(cp, f"/api/v1/namespaces/{ns}/services/oras").json()["spec"]
    late = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "late", "namespace": ns},
            "spec": {"ports": [{"port": 5000, "targetPort": 5000}], "selector": {"kubectl-oras-test": "nobody"}}}
    apply(cp, late)
    job = step_job(ns, "deleted", {PREFIX + "registry": f"http://late.{ns}.svc:5000",
                                   PREFIX + "output-uri": "experiment/deleted:iter-0", PREFIX + "output-path": "out.txt"},
                   "echo result > out.txt")
    job["spec"]["podReplacementPolicy"] = "Failed"
    job["spec"]["template"]["spec"]["terminationGracePeriodSeconds"] = 120
    apply(cp, job)
    pods = f"/api/v1/namespaces/{ns}/pods?labelSelector=job-name%3Ddeleted"
    deadline = time.monotonic() + 120
    while not (items := get(cp, pods).json()["items"]):
        assert time.monotonic() < deadline, "the Job made no pod"
        time.sleep(0.5)
    path = f"/api/v1/namespaces/{ns}/pods/{items[0]['metadata']['name']}"
    while "waiting for registry late." not in get(cp, f"{path}/log?container=oras-push").text:  # the step is done
        assert time.monotonic() < deadline, get(cp, path).json().get("status")
        time.sleep(0.5)
    assert cp.session().delete(f"{cp.server}{path}").status_code == 200
    while "waiting for its push to end" not in get(cp, f"{path}/log?container=step").text:
        assert time.monotonic() < deadline, get(cp, f"{path}/log?container=step").text
        time.sleep(0.5)
    assert client.resolve("experiment/deleted", "iter-0", what="check") is None
    apply(cp, {**late, "spec": {**late["spec"], "selector": registry["selector"]}})  # the registry answers now
    done = wait_for(cp, f"/apis/batch/v1/namespaces/{ns}/jobs/deleted",
                    lambda j: j.get("status", {}).get("succeeded") == 1 or j.get("status", {}).get("failed"))
    assert done["status"].get("succeeded") == 1, done["status"]
    assert client.resolve("experiment/deleted", "iter-0", what="check") is not None


def pod_status(cp, ns, pod):
    return get(cp, f"/api/v1/namespaces/{ns}/pods/{pod['metadata']['name']}").json()["status"]


def test_the_predecessors_job_example_runs_unchanged_but_for_its_image(cluster, tmp_path):
    cp, _ = cluster
    ns = new_namespace(cp, "e2e")
    (cache,) = yaml.safe_load_all((FIXTURES / "cache_v1alpha1_orascache.yaml").read_text())
    cache["metadata"]["namespace"] = ns
    apply(cp, cache)  # the predecessor's own sample cache, unchanged: now a registry with auth on
    (job,) = yaml.safe_load_all((FIXTURES / "tests_hello-world_job.yaml").read_text())
    assert job["metadata"]["annotations"][PREFIX + "oras-cache"] == cache["metadata"]["name"]
    host, client = cache_client(cp, ns, cache["metadata"]["name"])
    job["metadata"]["namespace"] = ns
    container = job["spec"]["template"]["spec"]["containers"][0]
    container["image"], container["imagePullPolicy"] = SHELL, "Never"  # perl:5.34.0 cannot be pulled here
    done, pod = run_job(cp, ns, job)
    assert done["status"].get("succeeded") == 1, (done["status"], logs(cp, ns, pod, "breakfast"))
    assert "blueberry\n" in logs(cp, ns, pod, "breakfast")  # debug: "true" adds the wrapper's own lines
    pull_artifact(client, Reference(host, "dinosaur/hello-world", "pancakes"), str(tmp_path / "out"))
    assert (tmp_path / "out" / "pancakes.txt").read_text() == "blueberry\n"


def hostpath_volume(cp, node, name, size="1Gi"):
    """A static PersistentVolume on the node's disk, owned by the registry's uid, for one claim."""
    import os

    path = node.root / "volumes" / name
    path.mkdir(parents=True)
    os.chown(path, 65532, 65532)
    apply(cp, {"apiVersion": "v1", "kind": "PersistentVolume", "metadata": {"name": name},
               "spec": {"capacity": {"storage": size}, "accessModes": ["ReadWriteOnce"],
                        "persistentVolumeReclaimPolicy": "Retain", "storageClassName": "kubectl-oras-local",
                        "hostPath": {"path": str(path), "type": "Directory"}}})
    return path


def test_a_pvc_backed_cache_keeps_every_artifact_when_its_registry_pod_is_replaced(cluster, node, tmp_path):
    cp, _ = cluster
    ns = new_namespace(cp, "e2e")
    volume = hostpath_volume(cp, node, f"pv-{uuid.uuid4().hex[:6]}")
    host, client = orascache(cp, ns, "kept", {"storage": {"pvc": {"size": "1Gi", "storageClassName": "kubectl-oras-local"}}})
    files = []
    for i in range(3):
        f = tmp_path / f"result-{i}.txt"
        f.write_text(f"iteration {i}\n" * 1000)
        push_artifact(client, Reference(host, "experiment/kept", f"iter-{i}"), [str(f)])
        files.append(f)
    pod = get(cp, f"/api/v1/namespaces/{ns}/pods/kept-0").json()
    assert get(cp, f"/api/v1/namespaces/{ns}/persistentvolumeclaims/data-kept-0").json()["status"]["phase"] == "Bound"
    assert cp.session().delete(f"{cp.server}/api/v1/namespaces/{ns}/pods/kept-0").status_code == 200
    wait_for(cp, f"/api/v1/namespaces/{ns}/pods/kept-0",
             lambda p: p["metadata"]["uid"] != pod["metadata"]["uid"] and any(
                 c["type"] == "Ready" and c["status"] == "True" for c in p.get("status", {}).get("conditions", [])))
    host, client = cache_client(cp, ns, "kept")
    for i, f in enumerate(files):
        out = tmp_path / f"out-{i}"
        pull_artifact(client, Reference(host, "experiment/kept", f"iter-{i}"), str(out))
        assert (out / f.name).read_bytes() == f.read_bytes()
    assert any(volume.rglob("data")), "the registry wrote its data to the volume"


def test_after_a_refused_storage_change_the_caches_artifacts_can_still_be_read_through_it(cluster, tmp_path):
    """A storage change is refused (StorageImmutable) and the registry keeps its emptyDir: the
    cache showed the storage asked for and `kubectl oras pull/tags` refused it as not Ready,
    although its registry answered; reading its artifacts out is what a user must do before
    re-creating it."""
    import kubectl_oras

    cp, _ = cluster
    ns = new_namespace(cp, "e2e")
    host, client = orascache(cp, ns, "moving")
    f = tmp_path / "result.txt"
    f.write_text("keep me\n")
    push_artifact(client, Reference(host, "experiment/moving", "v1"), [str(f)])
    apply(cp, {"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache",
               "metadata": {"name": "moving", "namespace": ns}, "spec": {"storage": {"pvc": {"size": "1Gi"}}}})
    cache = wait_for(cp, f"/{GROUP}/namespaces/{ns}/orascaches/moving", lambda c: c["status"]["observedGeneration"] == 2
                     and any(d["type"] == "Degraded" and d["reason"] == "StorageImmutable" for d in c["status"]["conditions"]),
                     timeout=60)
    assert cache["status"]["storage"] == "emptyDir" and ready(cache)
    assert kubectl_oras.tags("experiment/moving", cache="moving", namespace=ns, kubeconfig=str(cp.kubeconfig)) == ["v1"]
    kubectl_oras.pull("experiment/moving:v1", str(tmp_path / "saved"), cache="moving", namespace=ns,
                      kubeconfig=str(cp.kubeconfig))
    assert (tmp_path / "saved" / "result.txt").read_text() == "keep me\n"


def test_the_registry_has_auth_on_and_refuses_a_client_without_the_password(workspace, tmp_path):
    cp, log, ns, host, client = workspace
    f = tmp_path / "x.txt"
    f.write_text("x")
    push_artifact(client, Reference(host, "auth/check", "v1"), [str(f)])
    anonymous = RegistryClient(host, plain_http=True, retries=1)
    with pytest.raises(RegistryError, match="401|denied|unauthorized|credentials"):
        pull_artifact(anonymous, Reference(host, "auth/check", "v1"), str(tmp_path / "out"))


def test_a_pod_naming_a_missing_cache_is_refused_saying_how_to_create_it(cluster):
    cp, _ = cluster
    ns = new_namespace(cp, "e2e")
    pod = {"apiVersion": "v1", "kind": "Pod",
           "metadata": {"name": "orphan", "annotations": {PREFIX + "oras-cache": "nowhere", PREFIX + "output-uri": "a/b:c",
                                                          PREFIX + "output-path": "out"}},
           "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": SHELL, "command": ["true"]}]}}
    r = cp.session().post(f"{cp.server}/api/v1/namespaces/{ns}/pods", json=pod)
    assert r.status_code == 400, r.text
    assert "kubectl oras create-cache nowhere" in r.json()["message"]


def test_a_workflow_submitted_with_its_cache_starts_without_back_off(cluster):
    """The Job comes in the same moment as its cache: the agent waits for the registry."""
    cp, _ = cluster
    ns = new_namespace(cp, "e2e")
    apply(cp, {"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache",
               "metadata": {"name": "oras", "namespace": ns}, "spec": {}})
    job = step_job(ns, "eager", {PREFIX + "output-uri": "eager/out:v1", PREFIX + "output-path": "out.txt"},
                   "echo done > out.txt")
    done, pod = run_job(cp, ns, job)
    assert done["status"].get("succeeded") == 1, all_logs(cp, ns, pod)
    host, client = cache_client(cp, ns, "oras")
    assert client.resolve("eager/out", "v1", what="check") is not None


def test_the_predecessors_deploy_false_cache_deploys_nothing(cluster):
    cp, _ = cluster
    ns = new_namespace(cp, "e2e")
    (cache,) = yaml.safe_load_all((FIXTURES / "registry_oras.yaml").read_text())
    cache["metadata"]["namespace"] = ns
    apply(cp, cache)
    wait_for(cp, f"/{GROUP}/namespaces/{ns}/orascaches/oras", ready, timeout=60)
    time.sleep(1)
    for path in ("apis/apps/v1/namespaces/{ns}/statefulsets", "api/v1/namespaces/{ns}/services",
                 "api/v1/namespaces/{ns}/pods", "api/v1/namespaces/{ns}/secrets"):
        assert get(cp, "/" + path.format(ns=ns)).json()["items"] == []


def last_retention(cp, ns, name, predicate, timeout=120):
    cache = wait_for(cp, f"/{GROUP}/namespaces/{ns}/orascaches/{name}",
                     lambda c: predicate((c.get("status") or {}).get("lastRetention") or {}), timeout=timeout)
    return cache["status"]["lastRetention"]


def test_retention_deletes_what_the_cache_policy_no_longer_keeps_and_kept_tags_pull_intact(cluster, tmp_path):
    """The leader runs a cache's retention at once, then on its interval or when asked (the
    run-retention annotation): against the cache's registry pod, with the cache's password."""
    cp, _ = cluster
    ns = new_namespace(cp, "retention")
    host, client = orascache(cp, ns, "oras", {"retention": {"keepLast": 2, "keep": ["final"], "interval": "1h",
                                                             "minAge": "0s"}})  # the tags are fresh: no minimum
    last_retention(cp, ns, "oras", lambda r: "time" in r)  # the first run: nothing there yet
    content = {}
    for tag in ("iter-0", "iter-1", "iter-2", "iter-3", "iter-4", "final"):
        f = tmp_path / tag
        f.write_bytes(f"{tag} of a long experiment\n".encode() * 1000)
        content[tag] = f.read_bytes()
        push_artifact(client, Reference(host, "metric/lammps", tag), [str(f)])

    cp.session().patch(f"{cp.server}/{GROUP}/namespaces/{ns}/orascaches/oras",
                       json={"metadata": {"annotations": {"cache.converged-computing.github.io/run-retention": "1"}}},
                       headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    record = last_retention(cp, ns, "oras", lambda r: r.get("request") == "1")
    assert record["errors"] == [] and record["tagsDeleted"] == 3, record
    assert sorted(record["tags"]) == [f"metric/lammps:iter-{i}" for i in range(3)]
    assert record["bytesFreed"] == sum(len(content[f"iter-{i}"]) for i in range(3))
    assert sorted(client.list_tags("metric/lammps")) == ["final", "iter-3", "iter-4"]
    for tag in ("final", "iter-3", "iter-4"):
        out = tmp_path / "pulled" / tag
        pull_artifact(client, Reference(host, "metric/lammps", tag), str(out))
        assert (out / tag).read_bytes() == content[tag]
    events = get(cp, f"/api/v1/namespaces/{ns}/events").json()["items"]
    deleted = [e for e in events if e["reason"] == "RetentionDeleted"]
    assert deleted and "deleted 3 tags" in deleted[0]["message"], [e["reason"] for e in events]


def indexed_job(ns, name, output_uri):
    """A 4-way Indexed Job, each pod pushing its shard to ``output_uri`` (with $(JOB_COMPLETION_INDEX))."""
    job = step_job(ns, name, {}, 'echo "shard $JOB_COMPLETION_INDEX" > part.txt')
    job["spec"].update({"completions": 4, "parallelism": 4, "completionMode": "Indexed"})
    job["spec"]["template"]["metadata"] = {"annotations": {PREFIX + "output-uri": output_uri,
                                                           PREFIX + "output-path": "part.txt"}}
    return job


def shards(client) -> list[str]:
    """The tags of results/pi, not the sha256-<hex> tags that index each one's provenance
    (retention deletes those only with their shard: docs/provenance.md)."""
    return [tag for tag in client.list_tags("results/pi") if not is_fallback_tag(tag)]


def test_retention_keeps_the_newest_run_of_a_fan_out_whole_and_what_a_pending_pod_will_pull(cluster, tmp_path):
    """keepLastRuns over the shards 4-way Indexed Jobs pushed (the sidecar writes its Job's uid on
    each), and the shards a pod that has not started yet names as its input, by pattern."""
    cp, _ = cluster
    ns = new_namespace(cp, "runs")
    host, client = orascache(cp, ns, "oras", {"retention": {"keepLastRuns": 1, "minAge": "0s", "interval": "1h"}})
    last_retention(cp, ns, "oras", lambda r: "time" in r)  # the first run: nothing there yet
    for run in (1, 2):
        apply(cp, indexed_job(ns, f"pi-{run}", f"results/pi:run-{run}-$(JOB_COMPLETION_INDEX)"))
        wait_for(cp, f"/apis/batch/v1/namespaces/{ns}/jobs/pi-{run}",
                 lambda j: j.get("status", {}).get("succeeded") == 4 or j.get("status", {}).get("failed"))
    assert sorted(shards(client)) == sorted(f"run-{r}-{i}" for r in (1, 2) for i in range(4))
    uids = {get(cp, f"/apis/batch/v1/namespaces/{ns}/jobs/pi-{r}").json()["metadata"]["uid"] for r in (1, 2)}
    written = {client.fetch_manifest("results/pi", f"run-{r}-{i}", what="read")[0]["annotations"]["dev.kubectl-oras.job"]
               for r in (1, 2) for i in range(4)}
    assert written == uids
    # a fan-in of run 1 that cannot be scheduled: Pending, as a step waiting for its node is
    apply(cp, {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "fan-in", "namespace": ns, "annotations": {
        PREFIX + "input-uri": "results/pi:run-1-*", PREFIX + "input-path": "parts"}},
        "spec": {"restartPolicy": "Never", "nodeSelector": {"no-such-node": "true"}, "containers": [
            {"name": "step", "image": SHELL, "imagePullPolicy": "Never", "command": ["true"]}]}})

    def ask(request):
        cp.session().patch(f"{cp.server}/{GROUP}/namespaces/{ns}/orascaches/oras",
                           json={"metadata": {"annotations": {"cache.converged-computing.github.io/run-retention": request}}},
                           headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
        return last_retention(cp, ns, "oras", lambda r: r.get("request") == request)

    record = ask("1")
    assert record["errors"] == [] and record["tagsDeleted"] == 0, record  # run 1 named by fan-in, run 2 the newest
    assert len(shards(client)) == 8
    cp.session().delete(f"{cp.server}/api/v1/namespaces/{ns}/pods/fan-in", params={"gracePeriodSeconds": "0"})
    wait_for(cp, f"/api/v1/namespaces/{ns}/pods?fieldSelector=metadata.name%3Dfan-in", lambda listed: not listed["items"],
             timeout=60)
    # each of run 1's shards goes with the tag that indexes its provenance statement (docs/retention.md)
    indexes = [f"results/pi:sha256-{client.fetch_manifest('results/pi', f'run-1-{i}', what='read')[2].split(':')[1]}"
               for i in range(4)]
    record = ask("2")
    assert record["errors"] == [] and sorted(record["tags"]) == sorted(
        [f"results/pi:run-1-{i}" for i in range(4)] + indexes), record
    assert sorted(shards(client)) == [f"run-2-{i}" for i in range(4)]
    for i in range(4):  # every shard of the newest run pulls
        pull_artifact(client, Reference(host, "results/pi", f"run-2-{i}"), str(tmp_path / str(i)))
        assert (tmp_path / str(i) / "part.txt").read_text() == f"shard {i}\n"


def blob_files(root: Path) -> int:
    blobs = root / "docker" / "registry" / "v2" / "blobs"
    return sum(f.stat().st_size for f in blobs.rglob("*") if f.is_file())


def test_reclamation_frees_the_disk_of_deleted_tags_while_steps_keep_pushing(cluster, local_cluster, tmp_path):
    """An emptyDir cache: retention deletes, the registry's supervisor stops it for distribution's
    garbage collector and serves again, in the same container (the emptyDir stays). Pushes under
    way wait and succeed; the disk shrinks by the deleted artifacts, measured on the node."""
    import os
    import threading

    cp, _ = cluster
    ns = new_namespace(cp, "reclaim")
    # the pushes meanwhile (p-*, and the steps' v1) are kept by pattern: retention deletes 4 iterations
    host, client = orascache(cp, ns, "oras", {"retention": {"keepLast": 2, "keep": ["p-*", "v1"], "interval": "1h",
                                                             "minAge": "0s"}})
    last_retention(cp, ns, "oras", lambda r: "time" in r)
    pod = get(cp, f"/api/v1/namespaces/{ns}/pods/oras-0").json()
    node = local_cluster.node_named(pod["spec"]["nodeName"])
    data = node.root / "kubelet" / "root" / "pods" / pod["metadata"]["uid"] / "volumes" / "kubernetes.io~empty-dir" / "data"
    content = {}
    for i in range(6):
        f = tmp_path / f"iter-{i}"
        f.write_bytes(os.urandom(2 << 20))
        content[f"iter-{i}"] = f.read_bytes()
        push_artifact(client, Reference(host, "metric/big", f"iter-{i}"), [str(f)])
    before = blob_files(data)

    pushed, failures, stop = [], [], threading.Event()

    def keep_pushing():
        n = 0
        while not stop.is_set():
            f = tmp_path / f"during-{n}"
            f.write_bytes(os.urandom(64 << 10))
            try:
                push_artifact(client, Reference(host, "metric/during", f"p-{n}"), [str(f)])
                pushed.append(f)
            except Exception as e:  # noqa: BLE001 - every failure is the finding
                failures.append(e)
            n += 1

    pusher = threading.Thread(target=keep_pushing)
    pusher.start()
    job = step_job(ns, "steps", {PREFIX + "output-uri": "steps/out:v1", PREFIX + "output-path": "out.txt"},
                   "seq 1 100000 > out.txt")
    job["spec"].update({"completions": 4, "parallelism": 2})
    apply(cp, job)
    cp.session().patch(f"{cp.server}/{GROUP}/namespaces/{ns}/orascaches/oras",
                       json={"metadata": {"annotations": {"cache.converged-computing.github.io/run-retention": "1"}}},
                       headers={"Content-Type": "application/merge-patch+json"}).raise_for_status()
    record = last_retention(cp, ns, "oras", lambda r: r.get("request") == "1")
    # four iterations; with them, the provenance indexes of steps/out:v1's overwritten manifests
    # (four pods push v1: only the last manifest keeps its index, docs/retention.md)
    deleted = [t for t in record["tags"] if not is_fallback_tag(t.rpartition(":")[2])]
    assert sorted(deleted) == [f"metric/big:iter-{i}" for i in range(4)] and record.get("reclaimRequested"), record
    deadline = time.monotonic() + 120
    while "kubectl-oras: reclaimed" not in logs(cp, ns, pod, "registry") and time.monotonic() < deadline:
        time.sleep(1)
    done = wait_for(cp, f"/apis/batch/v1/namespaces/{ns}/jobs/steps",
                    lambda j: j.get("status", {}).get("succeeded") == 4 or j.get("status", {}).get("failed"))
    stop.set()
    pusher.join(120)
    registry_log = logs(cp, ns, pod, "registry")
    # In CI the log read here twice lacked the line the loop above had seen: the other node's
    # kubelet had deleted it (both kept /var/log/pods, docs/local-cluster.md). Should it happen
    # again, the container's restarts and last state say whether it was restarted instead.
    statuses = get(cp, f"/api/v1/namespaces/{ns}/pods/oras-0").json()["status"].get("containerStatuses")
    assert "kubectl-oras: reclaimed" in registry_log, (statuses, registry_log[:1000], registry_log[-2000:])
    assert done["status"].get("succeeded") == 4, done["status"]
    assert not failures, failures
    after = blob_files(data)
    added = sum(f.stat().st_size for f in pushed) + len(b"".join(f"{i}\n".encode() for i in range(1, 100001)))
    freed = before + added - after
    print(f"registry blobs: {before} bytes before, {after} after, {added} added meanwhile: {freed} freed")
    # the manifests written meanwhile (under 1 KiB each) are not in "added", nor the steps'
    # provenance statements (a few KiB each, with their manifests)
    assert freed >= 4 * (2 << 20) - (len(pushed) + 8) * 1024 - 4 * 8192, (before, added, after, len(pushed))
    for tag in ("iter-4", "iter-5"):
        out = tmp_path / "pulled" / tag
        pull_artifact(client, Reference(host, "metric/big", tag), str(out))
        assert (out / tag).read_bytes() == content[tag]
    for f in pushed[-3:]:
        out = tmp_path / "pulled" / f.name
        pull_artifact(client, Reference(host, "metric/during", "p-" + f.name.removeprefix("during-")), str(out))
        assert (out / f.name).read_bytes() == f.read_bytes()
    now = get(cp, f"/api/v1/namespaces/{ns}/pods/oras-0").json()
    assert now["metadata"]["uid"] == pod["metadata"]["uid"]
    assert [c["restartCount"] for c in now["status"]["containerStatuses"]] == [0]  # the same container
