import base64
import json

import pytest

from controller.core.admission import MalformedReview, controlling_owner, review_pod
from kubectl_oras.pods.annotations import PREFIX

MARK = {PREFIX + "output-uri": "a/b:c", PREFIX + "output-path": "out"}


def review(pod, operation="CREATE", kind="Pod", namespace="lab"):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u-1", "operation": operation, "kind": {"group": "", "version": "v1", "kind": kind},
                        "namespace": namespace, "object": pod}}


def pod(annotations=None, owners=None):
    meta = {"generateName": "step-", "annotations": annotations or {}}
    if owners:
        meta["ownerReferences"] = owners
    return {"metadata": meta, "spec": {"containers": [{"name": "c", "image": "x", "command": ["run"]}]}}


def test_a_marked_pod_gets_a_base64_jsonpatch_and_the_uid_echoed():
    out = review_pod(review(pod(MARK)), owner_annotations=None, agent_image="img")
    response = out["response"]
    assert out["apiVersion"] == "admission.k8s.io/v1" and response["uid"] == "u-1" and response["allowed"]
    assert response["patchType"] == "JSONPatch"
    ops = json.loads(base64.b64decode(response["patch"]))
    assert {op["path"] for op in ops} == {"/spec/initContainers", "/spec/containers", "/spec/volumes"}


def test_unmarked_pods_and_other_operations_pass_untouched():
    for r in (review(pod()), review(pod(MARK), operation="UPDATE"), review(pod(MARK), kind="Service")):
        response = review_pod(r, owner_annotations=None, agent_image="img")["response"]
        assert response == {"uid": "u-1", "allowed": True}


def test_owner_annotations_mark_a_pod_and_the_pods_own_win():
    owner = {**MARK, PREFIX + "output-uri": "a/b:from-owner"}
    response = review_pod(review(pod({PREFIX + "output-uri": "a/b:from-pod"})), owner_annotations=owner,
                          agent_image="img")["response"]
    ops = json.loads(base64.b64decode(response["patch"]))
    init = next(op for op in ops if op["path"] == "/spec/initContainers")["value"]
    assert '"output":"a/b:from-pod"' in init[0]["env"][0]["value"]


def test_bad_annotations_are_denied_with_the_message():
    response = review_pod(review(pod({PREFIX + "nope": "x"})), owner_annotations=None, agent_image="img")["response"]
    assert response["allowed"] is False and PREFIX + "nope is not known" in response["status"]["message"]


def test_warnings_are_returned():
    response = review_pod(review(pod({**MARK, PREFIX + "entrypoint": "x"})), owner_annotations=None,
                          agent_image="img")["response"]
    assert response["warnings"] == [f"annotation {PREFIX}entrypoint is ignored: the wrapper ships in our own image"]


@pytest.mark.parametrize("body", [[], {"kind": "AdmissionReview"}, {"apiVersion": "admission.k8s.io/v1",
                                                                     "kind": "AdmissionReview", "request": {}}])
def test_malformed_reviews_are_rejected(body):
    with pytest.raises(MalformedReview):
        review_pod(body, owner_annotations=None, agent_image="img")


def test_the_controlling_owner_is_the_one_with_controller_true():
    refs = [{"kind": "ConfigMap", "name": "x"}, {"kind": "Job", "name": "j", "controller": True}]
    assert controlling_owner(pod(owners=refs))["name"] == "j"
    assert controlling_owner(pod()) is None
