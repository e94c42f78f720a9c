"""Tier 2: a step annotated on its Job never runs without its agent, not even while the webhook is
down. The controller process (with only its ServiceAccount's RBAC) labels each namespace that
holds an OrasCache; there the apiserver refuses the pods a Job makes while our webhook does not
answer, and the Job makes them, injected, once it does. A pod without our annotations and no
owner, and a pod in a namespace without a cache, are admitted as before."""

from __future__ import annotations

import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml

from controller.core.cache_namespaces import LABEL
from controller.core.webhook_configuration import OWNED_PODS_IN_CACHE_NAMESPACES, webhook_configuration
from kubectl_oras.pods.annotations import PREFIX
from tests.cluster.apply import apply, apply_file, delete_configuration, new_namespace, wait_for
from tests.cluster.conftest import FAST
from tests.webhook.process import NS, REPO, Replica, install_controller, start_replica, stop_replica
from tests.webhook.test_webhook_in_apiserver import MARK, create, create_pod_when_webhook_ready, pod

GROUP = "apis/cache.converged-computing.github.io/v1alpha1"


@dataclass
class Controller:
    """One controller process at a fixed webhook port, stopped and started again by the tests."""

    control_plane: object
    kubeconfig: Path
    port: int
    log: Path
    replica: Replica | None = None

    def start(self) -> None:
        identity = f"replica-{uuid.uuid4().hex[:6]}"
        self.replica = start_replica(self.kubeconfig, self.log, agent_image="kubectl-oras:test", identity=identity,
                                     webhook_port=self.port, extra=FAST)
        wait_for(self.control_plane, f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/kubectl-oras-controller",
                 lambda lease: lease["spec"].get("holderIdentity") == identity, timeout=30)

    def stop(self) -> None:
        if self.replica is not None:
            stop_replica(self.replica)
            self.replica = None


@pytest.fixture(scope="module")
def controller(control_plane, tmp_path_factory):
    from tests.support.net import free_port

    kubeconfig = install_controller(control_plane)
    port = free_port()
    delete_configuration(control_plane, "kubectl-oras")  # one an install left (service, not url) would merge with ours
    apply(control_plane, webhook_configuration(name="kubectl-oras", own_namespace=NS, ca_bundle="",
                                               url=f"https://127.0.0.1:{port}/mutate"))
    running = Controller(control_plane, kubeconfig, port, tmp_path_factory.mktemp("controller") / "controller.log")
    running.start()
    yield running
    running.stop()
    delete_configuration(control_plane, "kubectl-oras")


def orascache(ns: str, name: str = "oras") -> dict:
    return {"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache",
            "metadata": {"name": name, "namespace": ns}, "spec": {}}


def labelled(cp, ns: str, present: bool = True) -> None:
    wait_for(cp, f"/api/v1/namespaces/{ns}", lambda n: (LABEL in (n["metadata"].get("labels") or {})) == present,
             timeout=30)


def delete(cp, path: str) -> None:
    r = cp.session().delete(f"{cp.server}{path}")
    assert r.status_code in (200, 202), r.text


def annotated_job(name: str, *, suspend: bool, **more: str) -> dict:
    """A Job annotated on itself, as `kubectl oras annotate job/NAME` leaves it: its pods carry none."""
    annotations = {**MARK, **{PREFIX + key: value for key, value in more.items()}}
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": name, "annotations": annotations},
            "spec": {"suspend": suspend, "backoffLimit": 0, "template": {"spec": pod("x")["spec"]}}}


def owned_by(job: dict) -> list[dict]:
    return [{"apiVersion": "batch/v1", "kind": "Job", "name": job["metadata"]["name"], "uid": job["metadata"]["uid"],
             "controller": True}]


def job_pods(cp, ns: str, name: str) -> list[dict]:
    return cp.session().get(f"{cp.server}/api/v1/namespaces/{ns}/pods",
                            params={"labelSelector": f"job-name={name}"}).json()["items"]


def failed_creates(cp, ns: str, name: str) -> list[str]:
    items = cp.session().get(f"{cp.server}/api/v1/namespaces/{ns}/events").json()["items"]
    return [e["message"] for e in items if e["involvedObject"]["kind"] == "Job" and e["involvedObject"]["name"] == name
            and e["reason"] == "FailedCreate"]


def test_a_namespace_carries_the_label_while_it_holds_a_cache(control_plane, controller):
    cp = control_plane
    ns = new_namespace(cp, "label")
    apply(cp, orascache(ns, "first"))
    labelled(cp, ns)
    apply(cp, orascache(ns, "second"))
    delete(cp, f"/{GROUP}/namespaces/{ns}/orascaches/first")
    # Taken off by hand while a cache is left: put back (which also shows the deletion was seen).
    r = cp.session().patch(f"{cp.server}/api/v1/namespaces/{ns}", json={"metadata": {"labels": {LABEL: None}}},
                           headers={"Content-Type": "application/merge-patch+json"})
    assert r.status_code == 200, r.text
    labelled(cp, ns)
    delete(cp, f"/{GROUP}/namespaces/{ns}/orascaches/second")
    labelled(cp, ns, present=False)


def test_with_the_webhook_down_the_pods_of_an_annotated_job_wait_for_it(control_plane, controller):
    cp = control_plane
    with_cache, without = new_namespace(cp, "cached"), new_namespace(cp, "plain")
    apply(cp, orascache(with_cache))
    labelled(cp, with_cache)
    create_pod_when_webhook_ready(cp, with_cache, pod("warmup", MARK))  # the apiserver trusts and calls it
    parked = create(cp, with_cache, annotated_job("parked", suspend=True)).json()
    # Where no cache is, only a registry of its own can serve a step (a Job naming the cache is refused).
    elsewhere = create(cp, without, annotated_job("parked", suspend=True, registry="registry.example:5000")).json()

    controller.stop()
    try:
        # A pod of the annotated Job, in the namespace of the cache: refused, naming the webhook.
        r = create(cp, with_cache, pod("step", ownerReferences=owned_by(parked)))
        assert r.status_code >= 500, f"admitted without its agent: {r.status_code} {r.text[:300]}"
        assert f'failed calling webhook "{OWNED_PODS_IN_CACHE_NAMESPACES}"' in r.json()["message"]
        # The Job itself, made now: the Job controller's pods are refused, and its event says why.
        assert create(cp, with_cache, annotated_job("train", suspend=False)).status_code == 201
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not failed_creates(cp, with_cache, "train"):
            time.sleep(0.5)
        (said, *_) = failed_creates(cp, with_cache, "train")
        assert OWNED_PODS_IN_CACHE_NAMESPACES in said, said
        assert job_pods(cp, with_cache, "train") == []
        # Untouched: a pod with no owner and none of our annotations, here; any pod where no cache is.
        r = create(cp, with_cache, pod("plain", {"unrelated": "x"}))
        assert r.status_code == 201, r.text
        r = create(cp, without, pod("step", ownerReferences=owned_by(elsewhere)))
        assert r.status_code == 201, r.text
        assert "initContainers" not in r.json()["spec"]
    finally:
        controller.start()

    create_pod_when_webhook_ready(cp, with_cache, pod("back", MARK))
    r = create(cp, with_cache, pod("step", ownerReferences=owned_by(parked)))
    assert r.status_code == 201, r.text
    assert [c["name"] for c in r.json()["spec"]["initContainers"]] == ["oras-push"]
    deadline = time.monotonic() + 120  # the Job controller retries after its back-off (up to a minute)
    pods: list[dict] = []
    while time.monotonic() < deadline and not pods:
        pods = job_pods(cp, with_cache, "train")
        time.sleep(0.5)
    assert pods, "the Job made no pod once the webhook was back"
    assert [c["name"] for c in pods[0]["spec"]["initContainers"]] == ["oras-push"]


def test_a_controller_that_may_not_label_namespaces_still_reconciles_caches(control_plane, controller):
    """Its ClusterRole older than its image (no rights on namespaces, nor to list pods, claims or
    events, as the release before had it): the label is not made, and every cache is still reconciled."""
    cp = control_plane
    rbac = REPO / "manifests" / "rbac-controller.yaml"
    docs = [d for d in yaml.safe_load_all(rbac.read_text()) if d]
    role = next(d for d in docs if d["kind"] == "ClusterRole")
    new_rights = {"namespaces", "pods", "persistentvolumeclaims"}
    role["rules"] = [r for r in role["rules"] if not new_rights & set(r["resources"])]
    for rule in role["rules"]:
        if rule["resources"] == ["events"]:
            rule["verbs"] = ["create"]
    controller.stop()
    apply(cp, role)
    try:
        controller.start()
        ns = new_namespace(cp, "older")
        apply(cp, orascache(ns))
        wait_for(cp, f"/{GROUP}/namespaces/{ns}/orascaches/oras",
                 lambda c: (c.get("status") or {}).get("observedGeneration") == 1, timeout=60)
        assert LABEL not in (cp.session().get(f"{cp.server}/api/v1/namespaces/{ns}").json()["metadata"].get("labels") or {})
    finally:
        controller.stop()
        apply_file(cp, rbac)
        controller.start()
