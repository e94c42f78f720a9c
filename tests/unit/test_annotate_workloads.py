"""`kubectl oras annotate`'s pure part: where annotations go for each kind, conflicts, the
webhook's own validation, and kubectl's TYPE/NAME forms."""

from __future__ import annotations

import pytest

from kubectl_oras.errors import OrasError
from kubectl_oras.pods.annotate import (
    AnnotationConflict,
    NothingToAnnotate,
    Request,
    annotate_documents,
    annotate_object,
    parse_target,
)
from kubectl_oras.pods.annotations import PREFIX, InvalidAnnotations
from kubectl_oras.pods.injection import InvalidPod

VALUES = Request(output="results/train:v1", output_path="out", inputs=("data/in:v1", "data/more:v2")).values()


def _pod_spec(*names):
    return {"containers": [{"name": n, "image": "busybox", "command": ["sh", "-c", "true"]} for n in names or ("main",)],
            "restartPolicy": "Never"}


def _template(*names):
    return {"metadata": {"labels": {"app": "x"}}, "spec": _pod_spec(*names)}


def _job(**spec):
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "train"},
            "spec": {"template": _template(), **spec}}


def test_the_flags_map_to_the_annotation_keys():
    assert VALUES == {"input-uri": "data/in:v1", "input-uri_1": "data/more:v2", "output-uri": "results/train:v1",
                      "output-path": "out"}
    assert Request(output="a:b", output_pipe="log.txt", input_path="/in", container="c", cache="other").values() == {
        "output-uri": "a:b", "output-pipe": "log.txt", "input-path": "/in", "container": "c", "oras-cache": "other"}
    with pytest.raises(OrasError, match="nothing to annotate"):
        Request().values()


def test_a_job_is_annotated_on_the_job_itself_and_its_template_is_left_alone():
    new, warnings = annotate_object(_job(suspend=True), VALUES)
    assert new["metadata"]["annotations"] == {PREFIX + k: v for k, v in VALUES.items()}
    assert "annotations" not in new["spec"]["template"]["metadata"]
    assert warnings == []


def test_a_live_job_that_is_not_suspended_or_has_pods_is_warned_about():
    _, warnings = annotate_object(_job(), VALUES, live=True)
    assert warnings and "is not suspended" in warnings[0]
    job = _job(suspend=True)
    job["status"] = {"active": 2}
    _, warnings = annotate_object(job, VALUES, live=True)
    assert "running pods will not change" in warnings[0]


def test_a_jobs_template_value_wins_and_the_user_is_told():
    job = _job(suspend=True)
    job["spec"]["template"]["metadata"]["annotations"] = {PREFIX + "output-path": "elsewhere"}
    _, warnings = annotate_object(job, VALUES)
    assert any("sets " + PREFIX + "output-path to 'elsewhere' itself, which wins" in w for w in warnings)


@pytest.mark.parametrize("kind", ["Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"])
def test_workloads_with_a_template_get_the_annotations_on_it(kind):
    obj = {"apiVersion": "apps/v1", "kind": kind, "metadata": {"name": "w"}, "spec": {"template": _template()}}
    new, _ = annotate_object(obj, VALUES)
    assert new["spec"]["template"]["metadata"]["annotations"][PREFIX + "output-uri"] == "results/train:v1"
    assert "annotations" not in new["metadata"]
    assert obj["spec"]["template"]["metadata"] == {"labels": {"app": "x"}}  # the input is not changed


def test_a_cronjobs_job_template_and_every_jobset_template_are_annotated():
    cron = {"kind": "CronJob", "metadata": {"name": "c"},
            "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": _template()}}}}
    new, _ = annotate_object(cron, VALUES)
    assert PREFIX + "output-uri" in new["spec"]["jobTemplate"]["spec"]["template"]["metadata"]["annotations"]
    jobset = {"kind": "JobSet", "metadata": {"name": "s"}, "spec": {"replicatedJobs": [
        {"name": "a", "template": {"spec": {"template": _template()}}},
        {"name": "b", "template": {"spec": {"template": _template()}}}]}}
    new, _ = annotate_object(jobset, VALUES)
    for job in new["spec"]["replicatedJobs"]:
        assert job["template"]["spec"]["template"]["metadata"]["annotations"][PREFIX + "input-uri_1"] == "data/more:v2"


def test_a_list_has_every_item_annotated():
    listed = {"kind": "List", "items": [_job(suspend=True), {**_job(suspend=True), "metadata": {"name": "two"}}]}
    new, _ = annotate_object(listed, VALUES)
    assert all(PREFIX + "output-uri" in item["metadata"]["annotations"] for item in new["items"])


def test_a_pod_is_annotated_itself_and_a_live_one_is_warned_about():
    pod = {"kind": "Pod", "metadata": {"name": "p"}, "spec": _pod_spec()}
    new, warnings = annotate_object(pod, VALUES)
    assert PREFIX + "output-path" in new["metadata"]["annotations"] and warnings == []
    _, warnings = annotate_object(pod, VALUES, live=True)
    assert "its containers will not change" in warnings[0]


def test_a_different_value_is_kept_unless_overwrite_naming_the_key_and_both_values():
    job = _job(suspend=True)
    job["metadata"]["annotations"] = {PREFIX + "output-uri": "results/old:v0", "other": "x"}
    with pytest.raises(AnnotationConflict) as e:
        annotate_object(job, VALUES)
    assert str(e.value) == (f"Job/train: {PREFIX}output-uri is 'results/old:v0' already, not 'results/train:v1'; "
                            "give --overwrite to replace it")
    new, _ = annotate_object(job, VALUES, overwrite=True)
    assert new["metadata"]["annotations"][PREFIX + "output-uri"] == "results/train:v1"
    assert new["metadata"]["annotations"]["other"] == "x"
    same = _job(suspend=True)
    same["metadata"]["annotations"] = {PREFIX + "output-uri": "results/train:v1"}
    annotate_object(same, VALUES)  # the same value again is no conflict


@pytest.mark.parametrize("values, key", [
    ({"output-uri": "registry.example.com/a:b", "output-path": "x"}, "output-uri"),
    ({"output-uri": "a:b"}, "output-uri"),  # needs output-path
    ({"input-uri": "NOT A REF"}, "input-uri"),
    ({"oras-cache": "Bad_Name", "input-uri": "a:b"}, "oras-cache"),
])
def test_a_bad_value_is_refused_naming_the_annotation_key(values, key):
    with pytest.raises(InvalidAnnotations, match=PREFIX + key):
        annotate_object(_job(suspend=True), values)


def test_a_pod_the_webhook_would_deny_is_refused_naming_why():
    job = _job(suspend=True)
    job["spec"]["template"] = _template("a", "b")
    with pytest.raises(InvalidAnnotations, match=f"Job/train .*2 containers.*{PREFIX}container"):
        annotate_object(job, VALUES)
    annotate_object(job, {**VALUES, "container": "b"})


def test_an_object_without_a_pod_template_is_refused():
    with pytest.raises(InvalidPod, match="no pod template"):
        annotate_object({"kind": "ConfigMap", "metadata": {"name": "c"}}, VALUES)
    with pytest.raises(InvalidPod, match="Deployment/w holds no pod template"):  # a workload without one is broken
        annotate_object({"kind": "Deployment", "metadata": {"name": "w"}, "spec": {}}, VALUES)


CONFIGMAP = {"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "cfg"}, "data": {"a": "b"}}
SERVICE = {"apiVersion": "v1", "kind": "Service", "metadata": {"name": "svc"}, "spec": {"ports": [{"port": 80}]}}


def test_a_file_with_a_configmap_next_to_the_job_annotates_the_job_and_passes_the_rest_through():
    out, warnings = annotate_documents([CONFIGMAP, _job(suspend=True), SERVICE], VALUES)
    assert out[0] == CONFIGMAP and out[2] == SERVICE
    assert out[1]["metadata"]["annotations"][PREFIX + "output-uri"] == "results/train:v1"
    assert warnings == []


def test_a_list_with_a_configmap_annotates_its_workloads_and_leaves_the_configmap():
    listed = {"kind": "List", "items": [CONFIGMAP, _job(suspend=True)]}
    new, _ = annotate_object(listed, VALUES)
    assert new["items"][0] == CONFIGMAP
    assert PREFIX + "output-uri" in new["items"][1]["metadata"]["annotations"]
    out, _ = annotate_documents([SERVICE, listed], VALUES)
    assert out[0] == SERVICE and out[1] == new


def test_a_file_with_nothing_to_annotate_is_refused_naming_what_it_holds():
    with pytest.raises(NothingToAnnotate, match="nothing to annotate: ConfigMap/cfg, Service/svc"):
        annotate_documents([CONFIGMAP, SERVICE], VALUES)
    with pytest.raises(NothingToAnnotate, match="List holds no pod template"):
        annotate_object({"kind": "List", "items": [CONFIGMAP]}, VALUES)
    with pytest.raises(NothingToAnnotate):
        annotate_documents([], VALUES)


def _inputs(annotations):
    return {k[len(PREFIX):]: v for k, v in annotations.items() if k[len(PREFIX):].startswith("input-uri")}


def test_input_with_overwrite_replaces_the_whole_input_list():
    three = Request(inputs=("a:v1", "b:v1", "c:v1")).values()
    job, _ = annotate_object(_job(suspend=True), three)
    assert _inputs(job["metadata"]["annotations"]) == {"input-uri": "a:v1", "input-uri_1": "b:v1", "input-uri_2": "c:v1"}
    one = Request(inputs=("z:v9",)).values()
    new, _ = annotate_object(job, one, overwrite=True)
    assert _inputs(new["metadata"]["annotations"]) == {"input-uri": "z:v9"}
    deploy = {"kind": "Deployment", "metadata": {"name": "w"}, "spec": {"template": _template()}}
    deploy["spec"]["template"]["metadata"]["annotations"] = {PREFIX + "input-uri": "a:v1", PREFIX + "input-uri_7": "q:v1",
                                                             "other": "x"}
    new, _ = annotate_object(deploy, one, overwrite=True)
    assert new["spec"]["template"]["metadata"]["annotations"] == {PREFIX + "input-uri": "z:v9", "other": "x"}


def test_input_without_overwrite_names_older_inputs_beyond_the_new_ones_as_a_conflict():
    job = _job(suspend=True)
    job["metadata"]["annotations"] = {PREFIX + "input-uri": "z:v9", PREFIX + "input-uri_1": "b:v1",
                                      PREFIX + "input-uri_2": "c:v1"}
    with pytest.raises(AnnotationConflict) as e:
        annotate_object(job, Request(inputs=("z:v9",)).values())
    assert str(e.value) == (f"Job/train: {PREFIX}input-uri_1 'b:v1', {PREFIX}input-uri_2 'c:v1' already, beyond the 1 "
                            "--input given (its pods would pull them too); give --overwrite to replace the inputs")
    # Without --input the inputs there are not ours to judge: kept, no conflict.
    new, _ = annotate_object(job, Request(output="r:v1", output_path="out").values())
    assert _inputs(new["metadata"]["annotations"]) == _inputs(job["metadata"]["annotations"])


def test_a_jobs_template_with_its_own_extra_input_is_warned_about():
    job = _job(suspend=True)
    job["spec"]["template"]["metadata"]["annotations"] = {PREFIX + "input-uri_3": "old:v1"}
    _, warnings = annotate_object(job, Request(inputs=("z:v9",)).values())
    assert any(f"sets {PREFIX}input-uri_3 to 'old:v1' itself, so its pods pull it too" in w for w in warnings)


@pytest.mark.parametrize("text, name, expected", [
    ("job/x", None, ("Job", "x")), ("jobs/x", None, ("Job", "x")), ("job.batch/x", None, ("Job", "x")),
    ("deploy/web", None, ("Deployment", "web")), ("deployment.apps/web", None, ("Deployment", "web")),
    ("jobset/s", None, ("JobSet", "s")), ("jobset.jobset.x-k8s.io/s", None, ("JobSet", "s")),
    ("cronjob/c", None, ("CronJob", "c")), ("cj/c", None, ("CronJob", "c")), ("sts/r", None, ("StatefulSet", "r")),
    ("ds/d", None, ("DaemonSet", "d")), ("rs/r", None, ("ReplicaSet", "r")), ("po/p", None, ("Pod", "p")),
    ("Job/x", None, ("Job", "x")), ("job", "x", ("Job", "x")),
    ("jobs.batch/x", None, ("Job", "x")), ("deployments.v1.apps/web", None, ("Deployment", "web")),
    ("jobsets.v1alpha2.jobset.x-k8s.io/s", None, ("JobSet", "s")), ("pods/p", None, ("Pod", "p")),
])
def test_type_and_name_take_kubectls_forms(text, name, expected):
    assert parse_target(text, name) == expected


@pytest.mark.parametrize("text", ["job.apps/x", "deployments.batch/x", "pods.v1.apps/x"])
def test_a_type_with_another_kinds_group_is_refused(text):
    with pytest.raises(OrasError, match="is not a kind annotate knows"):
        parse_target(text)


def test_a_live_deployment_is_said_to_roll_out():
    deployment = {"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "web"},
                  "spec": {"template": {"spec": {"containers": [{"name": "m", "image": "i", "command": ["serve"]}]}}}}
    _, warnings = annotate_object(deployment, {"input-uri": "model/w:v1", "input-path": "/models"}, live=True)
    assert any("rolls out: its running pods are replaced" in w for w in warnings), warnings
    _, offline = annotate_object(deployment, {"input-uri": "model/w:v1", "input-path": "/models"})
    assert not any("rolls out" in w for w in offline)


@pytest.mark.parametrize("text, name, words", [
    ("job", None, "TYPE/NAME"), ("job/", None, "TYPE/NAME"), ("configmap/x", None, "not a kind annotate knows"),
    ("job/A_B", None, "not an object name"), ("job/x", "y", "not both"),
])
def test_bad_targets_are_refused_clearly(text, name, words):
    with pytest.raises(OrasError, match=words):
        parse_target(text, name)


@pytest.mark.parametrize("obj, where", [
    ({"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "nightly"},
      "spec": {"schedule": "@daily", "jobTemplate": {"spec": {"template": {"spec": _pod_spec()}}}}},
     lambda o: o["spec"]["jobTemplate"]["spec"]["template"]),
    ({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "d"},
      "spec": {"template": {"metadata": None, "spec": _pod_spec()}}}, lambda o: o["spec"]["template"]),
    ({"apiVersion": "batch/v1", "kind": "Job", "spec": {"template": _template()}}, lambda o: o),
])
def test_a_template_or_object_without_metadata_gets_the_annotations_not_a_silent_no_op(obj, where):
    new, _ = annotate_object(obj, VALUES)
    assert where(new)["metadata"]["annotations"][PREFIX + "output-uri"] == "results/train:v1"
