"""Tier 2: a workload whose pod templates our annotations mark is reviewed by the real apiserver's
call to /validate when it is created or updated, and refused with its pods' message; every other
object is kept away by the entry's matchConditions.

Only the workloads' entry of the configuration is registered here, so every review the server
counts is a workload's (the pods' entries are test_webhook_in_apiserver.py's, whose configuration
carries this entry too)."""

from __future__ import annotations

import copy
import time
import uuid

import pytest

from controller.core.webhook_configuration import ANNOTATED_WORKLOADS, webhook_configuration
from kubectl_oras.pods.annotations import PREFIX
from kubectl_oras.pods.caches import CacheView
from tests.cluster.apply import apply, delete_configuration, new_namespace
from tests.webhook.process import NS
from tests.webhook.server import WebhookThread

IMAGE = "kubectl-oras:test"
MARK = {PREFIX + "output-uri": "metric/out:v1", PREFIX + "output-path": "out.txt"}
TYPO = {**MARK, PREFIX + "output-pth": "out.txt"}
POD_SPEC = {"restartPolicy": "Never",
            "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "echo hi > out.txt"]}]}
PLURALS = {"Job": "apis/batch/v1/namespaces/{}/jobs", "CronJob": "apis/batch/v1/namespaces/{}/cronjobs",
           "Deployment": "apis/apps/v1/namespaces/{}/deployments"}


async def lookup_cache(namespace, name):
    return CacheView(name, exists=False) if name == "missing" else CacheView.default(name)


@pytest.fixture(scope="module")
def webhook(control_plane):
    reviews: list[str] = []  # the outcome of each review the server answered
    hook = WebhookThread(agent_image=IMAGE, lookup_cache=lookup_cache,
                         observe=lambda outcome, seconds: reviews.append(outcome)).start()
    hook.reviews = reviews
    name = f"kubectl-oras-workloads-{uuid.uuid4().hex[:6]}"
    config = webhook_configuration(name=name, own_namespace=NS, ca_bundle=hook.ca_bundle, url=hook.url)
    config["webhooks"] = [w for w in config["webhooks"] if w["name"] == ANNOTATED_WORKLOADS]
    apply(control_plane, config)
    yield hook
    delete_configuration(control_plane, name)
    hook.stop()


@pytest.fixture
def ns(control_plane, webhook):
    namespace = new_namespace(control_plane, "w")
    # The configuration is live once the apiserver's informer has it: a marked Job is refused then.
    for i in range(100):
        r = create(control_plane, namespace, job(f"warmup-{i}", template_annotations=TYPO))
        if r.status_code == 400:
            return namespace
        assert r.status_code == 201, r.text
        time.sleep(0.2)
    raise AssertionError("the webhook was never called")


def job(name, annotations=None, template_annotations=None, **spec):
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"suspend": True, "template": {"metadata": {"annotations": template_annotations or {}},
                                                   "spec": copy.deepcopy(POD_SPEC)}, **spec}}


def cronjob(name, template_annotations=None, job_annotations=None):
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": name},
            "spec": {"schedule": "@yearly", "suspend": True,
                     "jobTemplate": {"metadata": {"annotations": job_annotations or {}},
                                     "spec": {"template": {"metadata": {"annotations": template_annotations or {}},
                                                           "spec": copy.deepcopy(POD_SPEC)}}}}}


def deployment(name, annotations=None, template_annotations=None):
    return {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "annotations": annotations or {}},
            "spec": {"replicas": 0, "selector": {"matchLabels": {"app": name}},
                     "template": {"metadata": {"labels": {"app": name}, "annotations": template_annotations or {}},
                                  "spec": {"containers": [{"name": "c", "image": "busybox"}]}}}}


def create(cp, ns, doc):
    return cp.session().post(f"{cp.server}/{PLURALS[doc['kind']].format(ns)}", json=doc)


def denial(cp, ns, doc) -> str:
    r = create(cp, ns, doc)
    assert r.status_code == 400, r.text
    message = r.json()["message"]
    assert f'admission webhook "{ANNOTATED_WORKLOADS}" denied the request: ' in message
    url = f"{cp.server}/{PLURALS[doc['kind']].format(ns)}/{doc['metadata']['name']}"
    assert cp.session().get(url).status_code == 404, "a denied workload was stored"
    return message


def test_a_job_with_an_annotation_typo_is_refused_at_create_naming_the_template_and_the_key(control_plane, ns):
    message = denial(control_plane, ns, job("typo", template_annotations=TYPO))
    assert f"denied the request: spec.template: annotation {PREFIX}output-pth is not known" in message
    # on the Job itself, whose annotations its pods are reviewed with
    message = denial(control_plane, ns, job("typo-on-job", annotations=TYPO))
    assert f"denied the request: spec.template: annotation {PREFIX}output-pth is not known" in message


def test_a_job_naming_a_missing_cache_is_refused_at_create(control_plane, ns):
    message = denial(control_plane, ns, job("nowhere", annotations={**MARK, PREFIX + "oras-cache": "missing"}))
    assert "denied the request: spec.template: no OrasCache named 'missing' in this namespace" in message
    assert "kubectl oras create-cache missing" in message


def test_a_cronjob_with_a_bad_value_is_refused_at_create_naming_its_pod_template(control_plane, ns):
    message = denial(control_plane, ns, cronjob("hourly", template_annotations={**MARK, PREFIX + "unpack": "maybe"}))
    assert (f"denied the request: spec.jobTemplate.spec.template: annotation {PREFIX}unpack: "
            "'maybe' is not \"true\" or \"false\"") in message
    # on its Job template, which its Jobs are given
    message = denial(control_plane, ns, cronjob("daily", job_annotations={**MARK, PREFIX + "unpack": "maybe"}))
    assert f"denied the request: spec.jobTemplate.spec.template: annotation {PREFIX}unpack" in message


def test_a_deployment_with_a_typo_is_refused_on_its_template_or_on_itself(control_plane, ns):
    for doc in (deployment("web", template_annotations=TYPO), deployment("api", annotations=TYPO)):
        message = denial(control_plane, ns, doc)
        assert f"denied the request: spec.template: annotation {PREFIX}output-pth is not known" in message


def test_a_good_job_is_reviewed_and_stored_unchanged(control_plane, ns, webhook):
    before = len(webhook.reviews)
    doc = job("good", template_annotations=MARK)
    r = create(control_plane, ns, doc)
    assert r.status_code == 201, r.text
    assert webhook.reviews[before:] == ["allowed"]
    stored = r.json()["spec"]["template"]
    assert "initContainers" not in stored["spec"]
    assert stored["spec"]["containers"][0]["command"] == POD_SPEC["containers"][0]["command"]
    assert stored["metadata"]["annotations"] == MARK


def test_objects_without_our_annotations_never_reach_the_webhook(control_plane, ns, webhook):
    before = len(webhook.reviews)
    assert create(control_plane, ns, job("plain")).status_code == 201
    assert create(control_plane, ns, job("other", annotations={"example.com/step": "x"},
                                         template_annotations={"example.com/x": "y"})).status_code == 201
    assert create(control_plane, ns, cronjob("plain-cron")).status_code == 201
    assert create(control_plane, ns, deployment("idle")).status_code == 201
    time.sleep(3)  # the deployment controller's own updates (its revision annotation) come meanwhile
    assert webhook.reviews[before:] == []
    # the count would see a review: a marked one is counted
    assert create(control_plane, ns, job("marked", template_annotations=MARK)).status_code == 201
    assert webhook.reviews[before:] == ["allowed"]


def test_an_update_of_a_suspended_job_adding_a_bad_annotation_is_refused(control_plane, ns):
    assert create(control_plane, ns, job("later")).status_code == 201
    url = f"{control_plane.server}/{PLURALS['Job'].format(ns)}/later"
    session = control_plane.session()
    headers = {"Content-Type": "application/merge-patch+json"}
    r = session.patch(url, json={"metadata": {"annotations": TYPO}}, headers=headers)
    assert r.status_code == 400, r.text
    assert f"denied the request: spec.template: annotation {PREFIX}output-pth is not known" in r.json()["message"]
    assert not session.get(url).json()["metadata"].get("annotations")
    r = session.patch(url, json={"metadata": {"annotations": MARK}}, headers=headers)
    assert r.status_code == 200, r.text
    assert session.get(url).json()["metadata"]["annotations"] == MARK
