"""Tier 2: our webhook registered in a real kube-apiserver, called by it, its patches accepted."""

from __future__ import annotations

import json
import time
import uuid

import pytest

from controller.core.webhook_configuration import webhook_configuration
from kubectl_oras.pods.annotations import PREFIX
from kubectl_oras.pods.step import POD_ENV
from tests.cluster.apply import apply, delete_configuration, new_namespace
from tests.webhook.process import NS, install_identity
from tests.webhook.server import WebhookThread

IMAGE = "kubectl-oras:test"
MARK = {PREFIX + "output-uri": "metric/out:v1", PREFIX + "output-path": "out.txt"}


def pod(name, annotations=None, **extra_meta):
    return {"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "annotations": annotations or {}, **extra_meta},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo hi > out.txt"]}]}}


@pytest.fixture(scope="module")
def webhook(control_plane):
    # The webhook reads owners with its own ServiceAccount's token: its RBAC is all it has.
    hook = WebhookThread(agent_image=IMAGE, kubeconfig=install_identity(control_plane, "rbac-webhook.yaml")).start()
    name = f"kubectl-oras-{uuid.uuid4().hex[:6]}"
    apply(control_plane, webhook_configuration(name=name, own_namespace=NS,
                                               ca_bundle=hook.ca_bundle, url=hook.url))
    yield hook
    delete_configuration(control_plane, name)
    hook.stop()


@pytest.fixture
def ns(control_plane, webhook):
    return new_namespace(control_plane, "t")


def create(cp, ns, doc):
    plural = {"Pod": "api/v1/namespaces/{}/pods", "Job": "apis/batch/v1/namespaces/{}/jobs"}[doc["kind"]]
    return cp.session().post(f"{cp.server}/{plural.format(ns)}", json=doc)


def create_pod_when_webhook_ready(cp, ns, doc, attempts=50):
    """The configuration is live once the apiserver's informer has it: retry a marked create briefly."""
    for i in range(attempts):
        attempt = {**doc, "metadata": {**doc["metadata"], "name": f"{doc['metadata']['name']}-{i}"}}
        r = create(cp, ns, attempt)
        assert r.status_code == 201, r.text
        if r.json()["spec"].get("initContainers"):
            return r
        time.sleep(0.2)
    raise AssertionError("the webhook was never called")


def denial(cp, ns, doc) -> str:
    """The apiserver's message for a pod our webhook denies (the webhook being called by then)."""
    create_pod_when_webhook_ready(cp, ns, pod("warmup", MARK))
    r = create(cp, ns, doc)
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert "denied the request" in message
    return message


def test_an_annotated_pod_is_stored_with_the_agent_injected(control_plane, ns):
    r = create_pod_when_webhook_ready(control_plane, ns, pod("marked", MARK))
    spec = r.json()["spec"]
    # restartPolicy Never: one native sidecar, with a postStart hook, accepted by the apiserver
    assert [c["name"] for c in spec["initContainers"]] == ["oras-push"]
    assert spec["initContainers"][0]["restartPolicy"] == "Always"
    assert spec["initContainers"][0]["lifecycle"]["postStart"]["exec"]["command"][-1] == "prepare"
    assert spec["containers"][0]["command"] == ["/oras/bin/busybox", "sh", "/oras/bin/oras-wrap"]
    assert spec["containers"][0]["args"] == ["sh", "-c", "echo hi > out.txt"]
    assert f'"registry":"oras.{ns}.svc:5000"' in spec["initContainers"][0]["env"][0]["value"]
    assert any(v["name"] == "oras-share" for v in spec["volumes"])


def test_an_unannotated_pod_is_left_alone(control_plane, ns):
    create_pod_when_webhook_ready(control_plane, ns, pod("warmup", MARK))
    r = create(control_plane, ns, pod("plain", {"unrelated": "x"}))
    assert r.status_code == 201
    assert "initContainers" not in r.json()["spec"]


def test_bad_annotations_are_denied_with_our_message(control_plane, ns):
    create_pod_when_webhook_ready(control_plane, ns, pod("warmup", MARK))
    r = create(control_plane, ns, pod("bad", {PREFIX + "output-uri": "Not/Valid:tag", PREFIX + "output-path": "x"}))
    assert r.status_code == 400
    message = r.json()["message"]
    assert "denied the request" in message and PREFIX + "output-uri" in message and "'Not/Valid'" in message


def test_a_timeout_past_the_bound_is_denied_naming_the_key(control_plane, ns):
    """Admitted before, it failed the step after it ran (the push's alarm overflowed), losing its output."""
    create_pod_when_webhook_ready(control_plane, ns, pod("warmup", MARK))
    r = create(control_plane, ns, pod("forever", {**MARK, PREFIX + "timeout": "3000000h"}))
    assert r.status_code == 400
    message = r.json()["message"]
    assert "denied the request" in message
    assert f"annotation {PREFIX}timeout: '3000000h' is longer than 87600h (10 years)" in message


@pytest.mark.parametrize("cache", ["1abc", "c" * 53])
def test_a_cache_the_controller_would_never_run_is_denied_naming_the_key(control_plane, ns, cache):
    """Admitted before (a DNS label), the pod then waited for a registry that no cache of that name
    ever runs."""
    message = denial(control_plane, ns, pod("nowhere", {**MARK, PREFIX + "oras-cache": cache}))
    assert f"annotation {PREFIX}oras-cache: {cache!r} cannot name an OrasCache" in message


def test_a_cache_the_controller_runs_is_the_pods_registry(control_plane, ns):
    create_pod_when_webhook_ready(control_plane, ns, pod("warmup", MARK))
    r = create(control_plane, ns, pod("results", {**MARK, PREFIX + "oras-cache": "results-2"}))
    assert r.status_code == 201, r.text
    assert f'"registry":"results-2.{ns}.svc:5000"' in r.json()["spec"]["initContainers"][0]["env"][0]["value"]


def test_deprecated_keys_come_back_as_admission_warnings(control_plane, ns):
    create_pod_when_webhook_ready(control_plane, ns, pod("warmup", MARK))
    r = create(control_plane, ns, pod("old", {**MARK, PREFIX + "oras-entrypoint": "https://example.invalid/e.sh"}))
    assert r.status_code == 201
    assert PREFIX + "oras-entrypoint is ignored" in r.headers.get("Warning", "")


def test_a_pod_made_by_an_annotated_job_is_injected_via_its_owner(control_plane, ns):
    create_pod_when_webhook_ready(control_plane, ns, pod("warmup", MARK))
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "breakfast", "annotations": {**MARK, PREFIX + "output-pipe": "out.txt"}},
           "spec": {"backoffLimit": 0, "template": {"spec": pod("x")["spec"]}}}
    assert create(control_plane, ns, job).status_code == 201
    session = control_plane.session()
    deadline = time.monotonic() + 60
    pods = []
    while time.monotonic() < deadline and not pods:
        pods = session.get(f"{control_plane.server}/api/v1/namespaces/{ns}/pods",
                           params={"labelSelector": "job-name=breakfast"}).json()["items"]
        time.sleep(0.2)
    assert pods, "the Job controller made no pod"
    spec = pods[0]["spec"]
    assert [c["name"] for c in spec["initContainers"]] == ["oras-push"]  # the Job's restartPolicy is Never
    env = {e["name"]: e.get("value", "") for e in spec["containers"][0]["env"]}  # "" is stored as absent
    assert env["KUBECTL_ORAS_OUTPUT_PIPE"] == "out.txt"
    step = step_value(pods[0])  # its outputs' provenance names the Job (docs/provenance.md)
    assert (step["workload"], step["argv"]) == ("Job/breakfast", spec["containers"][0]["args"])


def test_an_owner_reference_cannot_reach_into_another_namespace(control_plane, ns):
    """A pod's ownerReferences are its author's to write: a name like '../../other/jobs/x' must not
    make the webhook (which may read Jobs everywhere) merge another namespace's annotations."""
    create_pod_when_webhook_ready(control_plane, ns, pod("warmup", MARK))
    other = new_namespace(control_plane, "victim")
    job = {"apiVersion": "batch/v1", "kind": "Job",
           "metadata": {"name": "secret-job", "annotations": {**MARK, PREFIX + "oras-env": "their-credentials"}},
           "spec": {"suspend": True, "template": {"spec": pod("x")["spec"]}}}
    assert create(control_plane, other, job).status_code == 201
    owner = {"apiVersion": "batch/v1", "kind": "Job", "name": f"../../{other}/jobs/secret-job",
             "uid": str(uuid.uuid4()), "controller": True}
    r = create(control_plane, ns, pod("intruder", ownerReferences=[owner]))
    assert r.status_code == 201, r.text
    assert "initContainers" not in r.json()["spec"], "another namespace's annotations were applied"


# -- fan-out: $(JOB_COMPLETION_INDEX) and $(POD_NAME), expanded per pod (docs/annotations.md) ---------

INDEX = "batch.kubernetes.io/job-completion-index"
FAN_OUT = {PREFIX + "output-uri": "results/pi:run-$(JOB_COMPLETION_INDEX)", PREFIX + "output-path": "pi.txt"}


def agent_env(stored_pod):
    return stored_pod["spec"]["initContainers"][0]["env"]


def step_value(stored_pod):
    return json.loads(next(e["value"] for e in agent_env(stored_pod) if e["name"] == "KUBECTL_ORAS_STEP"))


def test_a_pod_with_a_completion_index_pushes_its_own_tag(control_plane, ns):
    create_pod_when_webhook_ready(control_plane, ns, pod("warmup", MARK))
    r = create(control_plane, ns, pod("pi-2", {**FAN_OUT, INDEX: "2"}))
    assert r.status_code == 201, r.text
    assert step_value(r.json())["output"] == "results/pi:run-2"


def test_a_completion_index_the_pod_does_not_have_is_denied_naming_the_key(control_plane, ns):
    message = denial(control_plane, ns, pod("pi-x", FAN_OUT))
    assert f"annotation {PREFIX}output-uri: $(JOB_COMPLETION_INDEX) cannot be expanded" in message


def test_two_input_patterns_that_can_match_one_tag_are_denied_naming_both(control_plane, ns):
    create_pod_when_webhook_ready(control_plane, ns, pod("warmup", MARK))
    r = create(control_plane, ns, pod("gather", {PREFIX + "input-uri": "a/pi:run-*", PREFIX + "input-uri_1": "b/pi:run-*"}))
    assert r.status_code == 400
    message = r.json()["message"]
    assert "denied the request" in message
    assert f"annotations {PREFIX}input-uri (a/pi:run-*) and {PREFIX}input-uri_1 (b/pi:run-*) are patterns" in message
    r = create(control_plane, ns, pod("gather-apart", {PREFIX + "input-uri": "a/pi:run-a-*",
                                                       PREFIX + "input-uri_1": "b/pi:run-b-*"}))
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("annotations, said", [
    ({"input-uri": "a/pi:v1", "input-count": "3"},
     f"annotation {PREFIX}input-count: annotation {PREFIX}input-uri (a/pi:v1) is not a tag pattern"),
    ({"input-uri": "a/pi:run-*", "input-count": "many"}, f"annotation {PREFIX}input-count: 'many' is not a number"),
    ({"input-uri": "a/pi:run-*", "input-wait": "3000000h"}, f"annotation {PREFIX}input-wait: '3000000h' is longer"),
], ids=["count-on-a-plain-input", "count-not-a-number", "wait-past-the-bound"])
def test_an_input_count_or_wait_that_cannot_be_honoured_is_denied_naming_the_key(control_plane, ns, annotations, said):
    message = denial(control_plane, ns, pod("gather", {PREFIX + k: v for k, v in annotations.items()}))
    assert said in message, message


def test_a_pattern_input_with_a_count_and_a_wait_is_admitted_and_its_agent_told_both(control_plane, ns):
    create_pod_when_webhook_ready(control_plane, ns, pod("warmup", MARK))
    r = create(control_plane, ns, pod("gather", {PREFIX + "input-uri": "a/pi:run-*", PREFIX + "input-count": "3",
                                                 PREFIX + "input-wait": "10m"}))
    assert r.status_code == 201, r.text
    step = r.json()["spec"]["initContainers"][0]["env"][0]["value"]
    assert '"inputWait":600.0' in step and '"inputCounts":[3]' in step, step


def test_a_generated_name_is_defined_for_the_kubelet_before_the_step(control_plane, ns):
    create_pod_when_webhook_ready(control_plane, ns, pod("warmup", MARK))
    doc = pod("unused", {PREFIX + "output-uri": "results/pi:$(POD_NAME)", PREFIX + "output-path": "pi.txt"})
    doc["metadata"] = {"generateName": "pi-", "annotations": doc["metadata"]["annotations"]}
    r = create(control_plane, ns, doc)
    assert r.status_code == 201, r.text
    stored = r.json()
    assert stored["metadata"]["name"].startswith("pi-")
    env = agent_env(stored)
    # the apiserver takes them all (the downward API's fields among them)
    assert [e["name"] for e in env] == ["POD_NAME", "KUBECTL_ORAS_STEP", "KUBECTL_ORAS_JOB_UID", *POD_ENV]
    assert env[0]["valueFrom"]["fieldRef"]["fieldPath"] == "metadata.name"
    assert step_value(stored)["output"] == "results/pi:$(POD_NAME)"


def test_each_pod_of_an_indexed_job_is_told_its_own_tag(control_plane, ns):
    create_pod_when_webhook_ready(control_plane, ns, pod("warmup", MARK))
    job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "annotations": FAN_OUT},
           "spec": {"completionMode": "Indexed", "completions": 3, "parallelism": 3, "backoffLimit": 0,
                    "template": {"spec": pod("x")["spec"]}}}
    assert create(control_plane, ns, job).status_code == 201
    session = control_plane.session()
    deadline = time.monotonic() + 60
    pods = []
    while time.monotonic() < deadline and len(pods) < 3:
        pods = session.get(f"{control_plane.server}/api/v1/namespaces/{ns}/pods",
                           params={"labelSelector": "job-name=pi"}).json()["items"]
        time.sleep(0.2)
    assert len(pods) == 3, "the Job controller did not make a pod per index"
    told = {p["metadata"]["annotations"][INDEX]: step_value(p)["output"] for p in pods}
    assert told == {"0": "results/pi:run-0", "1": "results/pi:run-1", "2": "results/pi:run-2"}


def test_a_path_in_the_share_and_a_container_named_as_the_agents_are_denied_naming_what_the_user_wrote(
        control_plane, ns):
    create_pod_when_webhook_ready(control_plane, ns, pod("warmup", MARK))
    r = create(control_plane, ns, pod("into-share", {**MARK, PREFIX + "input-path": "/oras/runs"}))
    assert r.status_code == 400
    message = r.json()["message"]
    assert "denied the request" in message and f"annotation {PREFIX}input-path: /oras/runs is in /oras" in message
    clash = pod("clash", MARK)
    clash["spec"]["initContainers"] = [{"name": "oras-push", "image": "busybox", "command": ["true"]}]
    r = create(control_plane, ns, clash)
    assert r.status_code == 400, r.text  # before: stored as it was, the step running without the agent
    message = r.json()["message"]
    assert "denied the request" in message and "spec.initContainers[0] is named 'oras-push'" in message
