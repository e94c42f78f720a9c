import base64
import json

import pytest

from controller.core.admission import MalformedReview, controlling_owner, parse_review, review_pod
from kubectl_oras.pods.annotations import PREFIX

MARK = {PREFIX + "output-uri": "a/b:c", PREFIX + "output-path": "out"}


def review_body(pod, operation="CREATE", kind="Pod", namespace="lab"):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u-1", "operation": operation, "kind": {"group": "", "version": "v1", "kind": kind},
                        "namespace": namespace, "object": pod}}


def review(pod, operation="CREATE", kind="Pod", namespace="lab"):
    return parse_review(review_body(pod, operation, kind, namespace))


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
    assert {op["path"] for op in ops} == {"/metadata/labels", "/spec/initContainers", "/spec/containers", "/spec/volumes"}


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
        parse_review(body)


def test_the_controlling_owner_is_the_one_with_controller_true():
    refs = [{"kind": "ConfigMap", "name": "x"}, {"kind": "Job", "name": "j", "controller": True}]
    assert controlling_owner(pod(owners=refs))["name"] == "j"
    assert controlling_owner(pod()) is None


def containers(**fields):
    return [{"name": "c", "image": "x", "command": ["run"], **fields}]


def nested(depth):
    value: list = []
    for _ in range(depth):
        value = [value]
    return value


# Each one answered 500 with a traceback (the apiserver never sends them, but the webhook must
# not fall over): now a denial naming the field, as the apiserver itself would refuse the pod.
@pytest.mark.parametrize(
    "obj, culprit",
    [
        ({"metadata": "oops", "spec": {}}, "metadata must be a map, not 'oops'"),
        ({"metadata": {"annotations": [PREFIX + "debug"]}, "spec": {}}, "metadata.annotations must be a map of strings"),
        ({"metadata": {"annotations": {**MARK, PREFIX + "debug": True}}, "spec": {"containers": containers()}},
         f"annotation {PREFIX}debug: the value must be a string, not true"),
        ({"metadata": {"annotations": MARK, "ownerReferences": ["x"]}, "spec": {}},
         "metadata.ownerReferences[0] must be a map"),
        ({"metadata": {"ownerReferences": {"kind": "Job"}}, "spec": {}}, "metadata.ownerReferences must be a list"),
        ({"metadata": {"annotations": MARK}, "spec": []}, "spec must be a map, not []"),
        ({"metadata": {"annotations": MARK}, "spec": {"containers": {"name": "c"}}},
         "spec.containers must be a list, not {\"name\": \"c\"}"),
        ({"metadata": {"annotations": MARK}, "spec": {"containers": [None]}}, "spec.containers[0] must be a map, not null"),
        ({"metadata": {"annotations": MARK}, "spec": {"containers": containers(), "initContainers": "x"}},
         "spec.initContainers must be a list"),
        ({"metadata": {"annotations": MARK}, "spec": {"containers": containers(), "volumes": [None]}},
         "spec.volumes[0] must be a map, not null"),
        ({"metadata": {"annotations": MARK}, "spec": {"containers": containers(env=["A=1"])}},
         "spec.containers[0].env[0] must be a map, not 'A=1'"),
        ({"metadata": {"annotations": MARK}, "spec": {"containers": containers(env=[{"name": 1}])}},
         "spec.containers[0].env[0].name must be a string"),
        ({"metadata": {"annotations": MARK}, "spec": {"containers": containers(volumeMounts=["x"])}},
         "spec.containers[0].volumeMounts[0] must be a map"),
        ({"metadata": {"annotations": MARK}, "spec": {"containers": containers(command="python3 train.py")}},
         "container 'c': command must be a list of strings, not the string 'python3 train.py'"),
        ({"metadata": {"annotations": MARK}, "spec": {"containers": containers(args=["--epochs", 10])}},
         "container 'c': args[1] must be a string, not 10"),
        ({"metadata": {"annotations": MARK, "namespace": ["lab"]}, "spec": {"containers": containers()}},
         "metadata.namespace must be a string"),
    ],
)
def test_a_structurally_wrong_pod_is_denied_naming_the_field(obj, culprit):
    r = review(obj, namespace=None)
    response = review_pod(r, owner_annotations=None, agent_image="img")["response"]
    assert response["allowed"] is False and response["status"]["code"] == 400
    assert culprit in response["status"]["message"]


@pytest.mark.parametrize(
    "request_fields, culprit",
    [
        ({"kind": "Pod"}, "request.kind is not an object"),
        ({"object": "a pod"}, "request.object is not an object"),
        ({"namespace": ["lab"]}, "request.namespace is not a string"),
        ({"operation": {"op": "CREATE"}}, "request.operation is not a string"),
    ],
)
def test_a_structurally_wrong_request_is_a_malformed_review(request_fields, culprit):
    r = review_body(pod(MARK))
    r["request"].update(request_fields)
    with pytest.raises(MalformedReview, match=culprit):
        parse_review(r)


def test_a_pod_nested_too_deeply_is_a_malformed_review_not_a_recursion_error():
    deep = pod(MARK)
    deep["spec"]["containers"][0]["resources"] = {"limits": nested(100_000)}
    with pytest.raises(MalformedReview, match="nested too deeply"):
        review_pod(review(deep), owner_annotations=None, agent_image="img")


def test_the_controlling_owner_of_a_malformed_pod_is_none():
    for obj in ({"metadata": "oops"}, pod(owners=["x"]), pod(owners={"controller": True}), "a pod"):
        assert controlling_owner(obj) is None
