"""A workload whose pod templates our annotations mark is checked as its pods will be, when it is
applied (controller/core/workload_review.py): denied with their message, naming the template's path,
and never patched."""

import copy

from controller.core.admission import parse_review, review_pod
from controller.core.workload_review import WorkloadToCheck, check_workload, read_workload
from kubectl_oras.pods.annotations import PREFIX
from kubectl_oras.pods.caches import CacheView

MARK = {PREFIX + "output-uri": "a/b:c", PREFIX + "output-path": "out"}
TYPO = {**MARK, PREFIX + "output-pth": "out"}
POD_SPEC = {"restartPolicy": "Never", "containers": [{"name": "c", "image": "x", "command": ["run"]}]}


def template(annotations=None):
    return {"metadata": {"annotations": annotations or {}}, "spec": copy.deepcopy(POD_SPEC)}


def job(annotations=None, template_annotations=None, **spec):
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "j", "annotations": annotations or {}},
            "spec": {"template": template(template_annotations), **spec}}


def cronjob(job_annotations=None, template_annotations=None, annotations=None):
    return {"apiVersion": "batch/v1", "kind": "CronJob", "metadata": {"name": "cj", "annotations": annotations or {}},
            "spec": {"schedule": "@hourly", "jobTemplate": {"metadata": {"annotations": job_annotations or {}},
                                                            "spec": {"template": template(template_annotations)}}}}


def jobset(*job_templates):
    return {"apiVersion": "jobset.x-k8s.io/v1alpha2", "kind": "JobSet", "metadata": {"name": "js"},
            "spec": {"replicatedJobs": [{"name": f"r{i}", "template": {"metadata": {"annotations": annotations},
                                                                       "spec": {"template": template(on_template)}}}
                                        for i, (annotations, on_template) in enumerate(job_templates)]}}


def workload(kind, annotations=None, template_annotations=None):
    return {"kind": kind, "metadata": {"name": "w", "annotations": annotations or {}},
            "spec": {"template": template(template_annotations)}}


def request(obj, operation="CREATE", old=None):
    body = {"uid": "u-1", "operation": operation, "kind": {"kind": obj.get("kind")}, "namespace": "lab", "object": obj}
    if old is not None:
        body["oldObject"] = old
    return parse_review({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": body})


def verdict(obj, operation="CREATE", old=None, caches=None, warnings=()):
    marked = read_workload(request(obj, operation, old))
    if not isinstance(marked, WorkloadToCheck):
        return marked["response"]
    views = {name: view for name, view in (caches or {}).items() if name in marked.caches}
    return check_workload(marked, agent_image="img", caches=views, warnings=warnings)["response"]


def message(response):
    assert response["allowed"] is False, response
    return response["status"]["message"]


def pod_message(annotations):
    """What the webhook tells a pod with these annotations (its owner's merged in)."""
    body = {"uid": "p", "operation": "CREATE", "kind": {"kind": "Pod"}, "namespace": "lab",
            "object": {"metadata": {"generateName": "j-", "annotations": annotations}, "spec": copy.deepcopy(POD_SPEC)}}
    review = parse_review({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": body})
    return message(review_pod(review, owner_annotations=None, agent_image="img")["response"])


def test_a_typo_on_a_jobs_template_is_denied_with_its_pods_message_naming_the_template():
    said = message(verdict(job(template_annotations=TYPO)))
    assert said == f"spec.template: {pod_message(TYPO)}"
    assert PREFIX + "output-pth" in said


def test_the_jobs_own_annotations_count_as_its_pods_owners_do():
    assert message(verdict(job(annotations=TYPO))) == f"spec.template: {pod_message(TYPO)}"
    # the template's own value wins, as for a pod
    fixed = {PREFIX + "output-pth": "out"}
    assert PREFIX + "output-pth" in message(verdict(job(annotations=MARK, template_annotations=fixed)))
    bad_uri = {**MARK, PREFIX + "output-uri": "Not/Valid:x"}
    assert verdict(job(annotations=bad_uri, template_annotations=MARK)) == {"uid": "u-1", "allowed": True}


def test_a_cache_that_does_not_exist_or_cannot_run_is_denied_as_for_its_pods():
    named = {**MARK, PREFIX + "oras-cache": "results"}
    said = message(verdict(job(template_annotations=named), caches={"results": CacheView("results", exists=False)}))
    assert said.startswith("spec.template: no OrasCache named 'results' in this namespace")
    assert "kubectl oras create-cache results" in said
    broken = CacheView("results", problem="spec.storage: '1Gb' is not a quantity")
    said = message(verdict(job(template_annotations=named), caches={"results": broken}))
    assert said.startswith("spec.template: OrasCache 'results' cannot run its registry: spec.storage")
    # the default cache too, when the annotations name none
    said = message(verdict(job(template_annotations=MARK), caches={"oras": CacheView("oras", exists=False)}))
    assert said.startswith("spec.template: no OrasCache named 'oras' in this namespace")


def test_a_good_job_is_admitted_unchanged_with_its_pods_warnings():
    obj = job(template_annotations={**MARK, PREFIX + "entrypoint": "x"})
    before = copy.deepcopy(obj)
    response = verdict(obj, caches={"oras": CacheView.default("oras")}, warnings=("the cache was not read",))
    assert response["allowed"] is True and "patch" not in response and "patchType" not in response
    assert response["warnings"][0] == "the cache was not read"
    assert response["warnings"][1].startswith(f"spec.template: annotation {PREFIX}entrypoint is ignored")
    assert obj == before


def test_a_cronjobs_job_template_and_its_pod_template_are_read_where_its_jobs_and_pods_take_them():
    path = "spec.jobTemplate.spec.template"
    bad = {**MARK, PREFIX + "unpack": "maybe"}
    assert message(verdict(cronjob(template_annotations=bad))).startswith(f"{path}: annotation {PREFIX}unpack")
    assert message(verdict(cronjob(job_annotations=bad))).startswith(f"{path}: annotation {PREFIX}unpack")
    # the CronJob's own annotations reach no pod (its Jobs are given the Job template's): not checked
    assert verdict(cronjob(annotations=bad))["allowed"] is True


def test_each_job_template_of_a_jobset_is_named_by_its_path():
    said = message(verdict(jobset((MARK, None), (None, TYPO))))
    assert said.startswith(f"spec.replicatedJobs[1].template.spec.template: annotation {PREFIX}output-pth")
    said = message(verdict(jobset((MARK, None), (TYPO, None))))
    assert said.startswith("spec.replicatedJobs[1].template.spec.template: ")


def test_owners_annotations_count_only_where_the_webhook_reads_its_pods_owners():
    # A Deployment's ReplicaSets are given its annotations; a ReplicationController's are never read.
    for kind in ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet"):
        assert PREFIX + "output-pth" in message(verdict(workload(kind, annotations=TYPO))), kind
    assert verdict(workload("ReplicationController", annotations=TYPO))["allowed"] is True
    assert PREFIX + "output-pth" in message(verdict(workload("ReplicationController", template_annotations=TYPO)))


def test_a_completion_index_a_non_indexed_jobs_pods_never_have_is_denied_when_applied():
    fan_out = {PREFIX + "output-uri": "r/pi:run-$(JOB_COMPLETION_INDEX)", PREFIX + "output-path": "pi"}
    said = message(verdict(job(template_annotations=fan_out)))
    assert said.startswith(f"spec.template: annotation {PREFIX}output-uri: $(JOB_COMPLETION_INDEX) would never be known")
    assert verdict(job(template_annotations=fan_out, completionMode="Indexed"))["allowed"] is True


def test_an_update_is_checked_only_where_it_changes_a_marked_template():
    bad_old = job(template_annotations=TYPO, suspend=True)
    resumed = job(template_annotations=TYPO, suspend=False)
    # a controller's own update (here: resuming) is not refused for what it did not change
    assert verdict(resumed, "UPDATE", old=bad_old)["allowed"] is True
    good = job(suspend=True)
    assert PREFIX + "output-pth" in message(verdict(job(annotations=TYPO, suspend=True), "UPDATE", old=good))
    assert PREFIX + "output-pth" in message(verdict(job(template_annotations=TYPO, suspend=True), "UPDATE", old=good))
    # the same annotations, a template changed otherwise: checked again
    changed = job(template_annotations=TYPO, suspend=True)
    changed["spec"]["template"]["spec"]["containers"][0]["image"] = "y"
    assert PREFIX + "output-pth" in message(verdict(changed, "UPDATE", old=bad_old))


def test_what_is_not_a_marked_workload_create_or_update_is_allowed_untouched():
    allowed = {"uid": "u-1", "allowed": True}
    assert verdict(job()) == allowed
    assert verdict(job(template_annotations=TYPO), "DELETE") == allowed
    assert verdict({"kind": "Pod", "metadata": {"annotations": TYPO}, "spec": POD_SPEC}) == allowed
    assert verdict({"kind": "ConfigMap", "metadata": {"annotations": TYPO}, "data": {}}) == allowed


def test_a_template_not_shaped_as_kubernetes_has_it_is_denied_naming_the_field():
    obj = job(template_annotations=MARK)
    obj["spec"]["template"]["spec"]["containers"] = "c"
    assert message(verdict(obj)).startswith("spec.template: spec.containers must be a list")
    obj = job(annotations=MARK)
    obj["spec"]["template"]["metadata"] = ["x"]
    assert message(verdict(obj)).startswith("spec.template: metadata must be a map")


def test_the_caches_to_look_up_are_each_named_once():
    obj = jobset(({**MARK, PREFIX + "oras-cache": "b"}, None), (MARK, None), ({**MARK, PREFIX + "oras-cache": "b"}, None),
                 ({**MARK, PREFIX + "registry": "r.example:5000"}, None))
    marked = read_workload(request(obj))
    assert isinstance(marked, WorkloadToCheck) and marked.caches == ["b", "oras"]


def test_a_job_whose_launcher_has_no_command_is_allowed_its_pods_image_is_looked_up_when_they_are_made():
    no_command = job(template_annotations=MARK)
    del no_command["spec"]["template"]["spec"]["containers"][0]["command"]
    marked = read_workload(request(no_command))
    assert isinstance(marked, WorkloadToCheck)
    assert check_workload(marked, agent_image="img", caches={})["response"] == {"uid": "u-1", "allowed": True}
