"""Fan-out and fan-in: $(JOB_COMPLETION_INDEX) and $(POD_NAME) in artifact annotations, expanded
per pod at admission (or by the kubelet, for a name generated after it), and tag patterns in
inputs (docs/annotations.md)."""

from __future__ import annotations

import json

import pytest

from controller.core.admission import parse_review, review_pod
from kubectl_oras.agent.outputs import failed_tag
from kubectl_oras.pods.annotate import Request, annotate_object
from kubectl_oras.pods.annotations import PREFIX, ArtifactName, InvalidAnnotations, ours, parse_settings
from kubectl_oras.pods.injection import InjectionConfig, mutate_pod
from kubectl_oras.pods.patterns import (
    MAX_MATCHES,
    MatchError,
    common_tag,
    first_clash,
    matching_tags,
    select_matches,
    shortfall,
    split_pattern,
    surplus,
)
from kubectl_oras.pods.step import JOB_UID_ENV, POD_ENV, STEP_ENV, StepDescription
from kubectl_oras.pods.variables import VariableError, expand, variables_in
from kubectl_oras.pods.workloads import inject_manifest

CONFIG = InjectionConfig(agent_image="kubectl-oras:test", namespace="lab")
INDEX = "batch.kubernetes.io/job-completion-index"
FAN_OUT = {PREFIX + "output-uri": "results/pi:run-$(JOB_COMPLETION_INDEX)", PREFIX + "output-path": "pi.txt"}
FAN_IN = {PREFIX + "input-uri": "results/pi:run-*"}


def pod(annotations, *, name="p", generate_name=None, labels=None):
    metadata = {"annotations": dict(annotations)}
    if name:
        metadata["name"] = name
    if generate_name:
        metadata["generateName"] = generate_name
    if labels:
        metadata["labels"] = labels
    return {"apiVersion": "v1", "kind": "Pod", "metadata": metadata,
            "spec": {"containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "true"]}]}}


def inject(p):
    new, _ = mutate_pod(p, ours(p["metadata"]["annotations"]), CONFIG)
    return new


def agent_env(new):
    """The env of the agent's container, the sidecar (it pulls and pushes)."""
    return new["spec"]["initContainers"][0]["env"]


def step_of(new) -> StepDescription:
    return StepDescription.from_json(next(e["value"] for e in agent_env(new) if e["name"] == STEP_ENV))


def denial(annotations, **pod_fields) -> str:
    with pytest.raises(InvalidAnnotations) as e:
        inject(pod(annotations, **pod_fields))
    return str(e.value)


# -- the pure parts ---------------------------------------------------------------------------------


def test_variables_are_found_once_each_and_expanded_only_where_known():
    text = "r/$(POD_NAME):run-$(JOB_COMPLETION_INDEX)-$(POD_NAME)"
    assert variables_in(text) == ("POD_NAME", "JOB_COMPLETION_INDEX")
    assert expand(text, {"JOB_COMPLETION_INDEX": "7"}) == "r/$(POD_NAME):run-7-$(POD_NAME)"
    assert expand(text, {"JOB_COMPLETION_INDEX": "7", "POD_NAME": "pi-x"}) == "r/pi-x:run-7-pi-x"
    with pytest.raises(VariableError, match=r"\$\(FOO\) is not a variable"):
        variables_in("r:$(JOB_COMPLETION_INDEX)-$(FOO)")


def test_a_tag_pattern_matches_shell_style_in_the_tag_alone():
    assert split_pattern("results/pi:run-*") == ("results/pi", "run-*")
    assert split_pattern("results/pi:run-1") is None
    assert split_pattern("results/pi") is None
    tags = ["run-0", "run-1", "run-10", "Run-2", "run-", "rerun-1", "run-1-failed", "latest"]
    assert matching_tags("run-*", tags) == ["run-", "run-0", "run-1", "run-10"]
    assert matching_tags("run-?", tags) == ["run-0", "run-1"]
    assert matching_tags("run-*-failed", tags) == ["run-1-failed"]
    assert matching_tags("*", ["b", "a"]) == ["a", "b"]
    assert matching_tags("run.*", ["run.1", "runx1"]) == ["run.1"]  # '.' is itself, not any character


def test_a_failed_steps_tag_is_matched_only_by_a_pattern_that_ends_in_failed():
    tags = ["run-0", "run-1", "run-1-failed", "run-2-failed", "run-failed", "run-" + "x" * 114 + "-failed"]
    assert [t for t in tags if t.endswith("-failed")] == [failed_tag(t) for t in ("run-1", "run-2", "run", "run-" + "x" * 114)]
    assert matching_tags("run-*", tags) == ["run-0", "run-1"]  # never a failed step's leftovers
    assert matching_tags("*", tags) == ["run-0", "run-1"]
    assert matching_tags("run-?*", tags) == ["run-0", "run-1"]
    assert matching_tags("run-*-failed", tags) == ["run-1-failed", "run-2-failed", "run-" + "x" * 114 + "-failed"]
    assert matching_tags("*-failed", tags) == sorted(t for t in tags if t.endswith("-failed"))
    assert matching_tags("run-*failed", tags) == []  # ends in "failed", not "-failed": not a failed-tag pattern
    assert matching_tags("run-?", tags) == ["run-0", "run-1"]


def test_the_tag_that_indexes_an_outputs_provenance_is_matched_only_by_a_pattern_that_says_so():
    index = "sha256-" + "a" * 64  # on a registry without the referrers API, every output has one (docs/provenance.md)
    tags = ["run-0", "run-1", index, "sha256-notahexdigest"]
    assert matching_tags("*", tags) == ["run-0", "run-1", "sha256-notahexdigest"]
    assert matching_tags("*-*", tags) == ["run-0", "run-1", "sha256-notahexdigest"]
    assert matching_tags("sha256-*", tags) == [index, "sha256-notahexdigest"]


@pytest.mark.parametrize("one, other, common", [
    ("run-*", "run-*", "run-"),
    ("a*", "*b", "ab"),
    ("run-?", "run-1*", "run-1"),
    ("run-*", "run-*-failed", None),  # one takes only the failed steps' tags, the other never
    ("*-failed", "run-*-failed", "run--failed"),
    ("*d", "*-faile?", None),  # every common one ends in -failed, which neither pattern takes
    ("x-*", "y-*", None),
    ("run-?", "run-??", None),
    ("*-x", "?x", None),  # only "-x": not a tag (a tag starts with [A-Za-z0-9_])
    ("r" * 100 + "*", "*" + "s" * 100, None),  # 200 characters at least: longer than a tag may be
])
def test_two_patterns_share_a_tag_when_some_valid_tag_matches_both(one, other, common):
    assert common_tag(one, other) == common and common_tag(other, one) == common


def test_a_tag_listing_is_checked_before_anything_is_pulled():
    listed = ["run-1", "run-0", "run-0", "latest"]
    assert select_matches("results/pi", "run-*", listed) == ["run-0", "run-1"]
    assert select_matches("results/pi", "run-??", listed) == []  # none yet: shortfall says what is missing
    with pytest.raises(MatchError, match=r"the registry listed '\.\./x' among the tags of results/pi, which is not "
                                         r"a valid tag"):
        select_matches("results/pi", "nothing-*", [*listed, "../x"])  # a lying registry is refused, match or not
    many = [f"run-{i}" for i in range(MAX_MATCHES + 1)]
    assert len(select_matches("results/pi", "run-*", many[:MAX_MATCHES])) == MAX_MATCHES
    with pytest.raises(MatchError) as e:
        select_matches("results/pi", "run-*", many)
    assert str(e.value) == (f"results/pi:run-* matches {MAX_MATCHES + 1} tags, more than the {MAX_MATCHES} one "
                            "pattern may pull; narrow the pattern")


def test_a_pattern_without_a_count_waits_for_one_match_and_with_one_for_exactly_that_many():
    assert shortfall("results/pi", "run-??", [], None) == "no tag of results/pi matches run-??"
    assert shortfall("results/pi", "run-*", ["run-0"], None) is None
    assert surplus("results/pi", "run-*", ["run-0"] * 300, None) is None  # without a count, any number
    assert shortfall("results/pi", "run-*", ["run-0", "run-1"], 3) == (
        "results/pi:run-* matches 2 of the 3 tags expected: run-0, run-1")
    assert shortfall("results/pi", "run-*", [], 3) == "results/pi:run-* matches 0 of the 3 tags expected"
    assert shortfall("results/pi", "run-*", ["run-0", "run-1", "run-2"], 3) is None
    assert surplus("results/pi", "run-*", ["run-0", "run-1", "run-2"], 3) is None
    many = [f"run-{i}" for i in range(12)]
    said = surplus("results/pi", "run-*", many, 3)
    assert said is not None and said.startswith(
        "results/pi:run-* matches 12 tags, more than the 3 expected (run-0, run-1, run-2, run-3, run-4, run-5, run-6, "
        "run-7, run-8, run-9, … (2 more)): nothing was pulled")


def test_the_first_directory_two_inputs_would_both_place_is_found():
    assert first_clash({0: ["run-0", "run-1"], 2: ["run-2"]}, {1: ["run-0"], 3: ["pi.txt"]}) == ("run-0", 0, 1)
    assert first_clash({0: ["run-0", "run-1"], 2: ["run-1"]}) == ("run-1", 0, 2)
    assert first_clash({0: ["run-0"]}, {1: ["pi.txt", "sim"], 2: ["pi.txt"]}) is None  # plain ones: the later wins


# -- the annotations: accepted as templates, refused naming the key -----------------------------------


def test_variables_and_input_patterns_are_accepted_as_written():
    settings = parse_settings({**ours(FAN_OUT), "input-uri": "results/pi:run-*",
                               "input-uri_3": "data/$(POD_NAME):v1"})
    assert settings.output == ArtifactName("results/pi", "run-$(JOB_COMPLETION_INDEX)")
    assert settings.inputs == (ArtifactName("results/pi", "run-*"), ArtifactName("data/$(POD_NAME)", "v1"))
    assert [i.key for i in settings.inputs] == ["input-uri", "input-uri_3"]
    assert settings.inputs[0].is_pattern and not settings.inputs[1].is_pattern


def test_two_pattern_inputs_that_can_match_one_tag_are_denied_naming_both():
    with pytest.raises(InvalidAnnotations) as e:
        parse_settings({"input-uri": "a/pi:run-*", "input-uri_1": "data/x:v1", "input-uri_2": "b/pi:run-*"})
    assert str(e.value) == (
        f"annotations {PREFIX}input-uri (a/pi:run-*) and {PREFIX}input-uri_2 (b/pi:run-*) are patterns that can both "
        "match one tag (run-, for one), and would both pull it into the same directory of input-path; make them "
        "match different tags, or pull them in different steps")
    with pytest.raises(InvalidAnnotations, match=rf"{PREFIX}input-uri \(r:run-\$\(JOB_COMPLETION_INDEX\)\*\) and "):
        parse_settings({"input-uri": "r:run-$(JOB_COMPLETION_INDEX)*", "input-uri_1": "r:run-1*"})  # index 1 would
    parse_settings({"input-uri": "a/pi:run-a-*", "input-uri_1": "b/pi:run-b-*"})
    parse_settings({"input-uri": "a/pi:run-*", "input-uri_1": "a/pi:run-*-failed"})  # the failed ones apart
    parse_settings({"input-uri": "a/pi:run-?", "input-uri_1": "a/pi:run-??", "input-uri_2": "a/pi:run-0"})
    intricate = {"input-uri": "a:" + "*a" * 60, "input-uri_1": "b:" + "*b" * 60}  # apart, but slow to tell
    with pytest.raises(InvalidAnnotations, match=rf"annotations {PREFIX}input-uri, {PREFIX}input-uri_1: these tag "
                                                 "patterns are too intricate"):
        parse_settings(intricate)


def test_the_webhook_denies_two_pattern_inputs_naming_both():
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
              "request": {"uid": "u", "operation": "CREATE", "kind": {"kind": "Pod"}, "namespace": "lab",
                          "object": pod({PREFIX + "input-uri": "a/pi:run-*", PREFIX + "input-uri_1": "b/pi:run-*"})}}
    response = review_pod(parse_review(review), owner_annotations=None, agent_image="img")["response"]
    assert response["allowed"] is False
    assert f"annotations {PREFIX}input-uri (a/pi:run-*) and {PREFIX}input-uri_1 (b/pi:run-*)" in \
        response["status"]["message"]


@pytest.mark.parametrize("values, key, said", [
    ({"input-uri": "results/pi:run-$(FOO)"}, "input-uri", "$(FOO) is not a variable kubectl-oras expands"),
    ({"output-uri": "results/$(HOSTNAME):v1", "output-path": "x"}, "output-uri", "$(HOSTNAME) is not a variable"),
    ({"output-uri": "results/pi:run-*", "output-path": "x"}, "output-uri", "can only be pulled"),
    ({"input-uri_2": "results/*:v1"}, "input-uri_2", "a pattern (* or ?) may only be in the tag"),
    ({"input-uri": "results/pi:run-*@sha256:" + "a" * 64}, "input-uri", "a tag pattern cannot go with a digest"),
    ({"input-uri": "results/pi:-*"}, "input-uri", "invalid reference 'results/pi:-*'"),
    ({"input-uri": "results/pi:run-" + "*" * 130}, "input-uri", "invalid reference"),
])
def test_what_cannot_be_honoured_is_refused_naming_the_key(values, key, said):
    with pytest.raises(InvalidAnnotations) as e:
        parse_settings(values)
    assert f"annotation {PREFIX}{key}" in str(e.value) and said in str(e.value)


# -- per pod, at admission --------------------------------------------------------------------------


def test_a_pod_of_an_indexed_job_pushes_its_own_tag():
    new = inject(pod({**FAN_OUT, INDEX: "2"}, name=None, generate_name="pi-"))
    step = step_of(new)
    assert step.output == "results/pi:run-2"
    # nothing left for the kubelet to expand; the Job's uid for what the sidecar pushes (retention's runs)
    assert [e["name"] for e in agent_env(new)] == [STEP_ENV, JOB_UID_ENV, *POD_ENV]
    assert agent_env(new)[1]["valueFrom"]["fieldRef"]["fieldPath"] == \
        "metadata.labels['batch.kubernetes.io/controller-uid']"


def test_the_completion_index_label_serves_when_the_annotation_is_absent():
    new = inject(pod(FAN_OUT, labels={INDEX: "0"}))
    assert step_of(new).output == "results/pi:run-0"


@pytest.mark.parametrize("annotations, pod_fields, said", [
    (FAN_OUT, {}, f"$(JOB_COMPLETION_INDEX) cannot be expanded: the pod has no {INDEX} annotation"),
    ({**FAN_OUT, INDEX: "two"}, {}, f"its {INDEX} annotation is 'two', not a completion index"),
    ({PREFIX + "input-uri": "r:$(POD_NAME)"}, {"name": None}, "neither metadata.name nor metadata.generateName"),
])
def test_a_variable_the_pod_cannot_give_is_denied_naming_the_key(annotations, pod_fields, said):
    message = denial(annotations, **pod_fields)
    key = "output-uri" if PREFIX + "output-uri" in annotations else "input-uri"
    assert message.startswith(f"annotation {PREFIX}{key}: ") and said in message


def test_an_expanded_reference_that_is_not_valid_is_denied_naming_the_key():
    long_tag = {PREFIX + "output-uri": "results/pi:" + "r" * 127 + "$(JOB_COMPLETION_INDEX)",
                PREFIX + "output-path": "x", INDEX: "12"}
    message = denial(long_tag)
    assert message.startswith(f"annotation {PREFIX}output-uri: invalid reference") and "expanded from" in message
    assert len(step_of(inject(pod({**long_tag, INDEX: "1"}))).output.partition(":")[2]) == 128  # the longest valid tag


def test_a_named_pod_has_its_name_expanded_at_admission():
    new = inject(pod({PREFIX + "input-uri": "results/pi:$(POD_NAME)", PREFIX + "input-uri_1": "results/pi:run-*"},
                     name="consumer-1"))
    step = step_of(new)
    assert step.inputs == ("results/pi:consumer-1", "results/pi:run-*")
    assert step.input_keys == (PREFIX + "input-uri", PREFIX + "input-uri_1")


def test_a_generated_name_is_left_for_the_kubelet_defined_before_the_step():
    new = inject(pod({**FAN_OUT, INDEX: "1", PREFIX + "output-uri": "results/$(POD_NAME):run-$(JOB_COMPLETION_INDEX)"},
                     name=None, generate_name="pi-"))
    env = agent_env(new)
    assert env[0] == {"name": "POD_NAME", "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": "metadata.name"}}}
    assert env[1]["name"] == STEP_ENV and '"output":"results/$(POD_NAME):run-1"' in env[1]["value"]
    # What the kubelet does with it: $(POD_NAME) from the variable defined before.
    expanded = StepDescription.from_json(expand(env[1]["value"], {"POD_NAME": "pi-7xk2q"}))
    assert expanded.output == "results/pi-7xk2q:run-1"


def test_a_generated_name_is_checked_at_its_longest():
    values = {PREFIX + "output-uri": "results/pi:" + "t" * 70 + "-$(POD_NAME)", PREFIX + "output-path": "x"}
    inject(pod(values, name=None, generate_name="g" * 40 + "-"))  # 70 + 1 + 41 + 5 = 117 characters
    message = denial(values, name=None, generate_name="g" * 90)  # 70 + 1 + 58 + 5 = 134: over 128
    assert message.startswith(f"annotation {PREFIX}output-uri: ") and "<generated name>" in message
    assert "from generateName" in message and "xxxxx" not in message


def test_the_webhook_denies_naming_the_key():
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
              "request": {"uid": "u", "operation": "CREATE", "kind": {"kind": "Pod"}, "namespace": "lab",
                          "object": pod(FAN_OUT, name=None, generate_name="pi-")}}
    response = review_pod(parse_review(review), owner_annotations=None, agent_image="img")["response"]
    assert response["allowed"] is False and f"annotation {PREFIX}output-uri: $(JOB_COMPLETION_INDEX)" in \
        response["status"]["message"]


# -- templates: `kubectl oras annotate` and `inject` ---------------------------------------------------


def indexed_job(annotations):
    return {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "pi", "annotations": annotations},
            "spec": {"completionMode": "Indexed", "completions": 3, "parallelism": 3, "template": {
                "spec": {"restartPolicy": "Never",
                         "containers": [{"name": "main", "image": "busybox", "command": ["sh", "-c", "true"]}]}}}}


def test_annotate_accepts_a_fan_out_job_and_a_fan_in_consumer():
    new, warnings = annotate_object(indexed_job({}), Request(output="results/pi:run-$(JOB_COMPLETION_INDEX)",
                                                              output_path="pi.txt").values())
    assert new["metadata"]["annotations"][PREFIX + "output-uri"] == "results/pi:run-$(JOB_COMPLETION_INDEX)"
    new, _ = annotate_object(indexed_job({}), Request(inputs=("results/pi:run-*",)).values())
    assert new["metadata"]["annotations"][PREFIX + "input-uri"] == "results/pi:run-*"
    with pytest.raises(InvalidAnnotations, match=rf"annotation {PREFIX}output-uri: .*can only be pulled"):
        annotate_object(indexed_job({}), Request(output="results/pi:run-*", output_path="pi.txt").values())
    with pytest.raises(InvalidAnnotations, match=rf"annotation {PREFIX}input-uri: \$\(INDEX\) is not a variable"):
        annotate_object(indexed_job({}), Request(inputs=("results/pi:run-$(INDEX)",)).values())


def test_an_injected_template_leaves_every_variable_for_the_kubelet():
    new, _ = inject_manifest(indexed_job(FAN_OUT), CONFIG)
    push = new["spec"]["template"]["spec"]["initContainers"][0]
    names = [e["name"] for e in push["env"]]
    assert names == ["JOB_COMPLETION_INDEX", STEP_ENV, JOB_UID_ENV, *POD_ENV]
    assert push["env"][0]["valueFrom"]["fieldRef"]["fieldPath"] == f"metadata.annotations['{INDEX}']"
    assert json.loads(push["env"][1]["value"])["output"] == "results/pi:run-$(JOB_COMPLETION_INDEX)"


def test_a_variable_the_kubelet_left_unexpanded_is_refused_by_the_agent_naming_the_reference():
    from kubectl_oras.agent.connection import reference
    from kubectl_oras.pods.step import InvalidStep

    step = StepDescription(registry="oras.lab.svc:5000", plain_http=True, inputs=("results/pi:$(POD_NAME)",),
                           output=None, unpack=True, push_on_failure="never", debug=False, share="/oras")
    with pytest.raises(InvalidStep, match=r"results/pi:\$\(POD_NAME\): a \$\(VARIABLE\) in it was not expanded"):
        reference(step, step.inputs[0])
    assert str(reference(step, "results/pi:pi-7xk2q")) == "oras.lab.svc:5000/results/pi:pi-7xk2q"


FAN_OUT_VALUES = Request(output="results/pi:run-$(JOB_COMPLETION_INDEX)", output_path="pi.txt").values()
TEMPLATE = {"metadata": {"labels": {"app": "pi"}}, "spec": {"restartPolicy": "Never", "containers": [
    {"name": "main", "image": "busybox", "command": ["sh", "-c", "true"]}]}}


def not_indexed_job(mode):
    job = indexed_job({})
    if mode is None:
        del job["spec"]["completionMode"]
    else:
        job["spec"]["completionMode"] = mode
    return job


@pytest.mark.parametrize("mode", [None, "NonIndexed"], ids=["no-completionMode", "NonIndexed"])
@pytest.mark.parametrize("values", [FAN_OUT_VALUES, Request(inputs=("data/x:v1", "results/pi:run-$(JOB_COMPLETION_INDEX)"),
                                                            ).values()], ids=["output-uri", "input-uri_1"])
def test_annotate_refuses_the_completion_index_on_a_job_that_is_not_indexed(mode, values):
    key = next(k for k, v in values.items() if "$(JOB_COMPLETION_INDEX)" in v)
    with pytest.raises(InvalidAnnotations) as e:
        annotate_object(not_indexed_job(mode), values)
    assert str(e.value) == (
        f"Job/pi (spec.template): annotation {PREFIX}{key}: $(JOB_COMPLETION_INDEX) would never be known: only the "
        "pods of an Indexed Job have a completion index; the Job must have spec.completionMode: Indexed")
    with pytest.raises(InvalidAnnotations, match=rf"annotation {PREFIX}{key}: .*spec.completionMode: Indexed"):
        inject_manifest(not_indexed_job(mode) | {"metadata": {"name": "pi", "annotations": {
            PREFIX + k: v for k, v in values.items()}}}, CONFIG)


@pytest.mark.parametrize("kind, spec, said", [
    ("Deployment", {"template": TEMPLATE}, "the pods of a Deployment have none"),
    ("StatefulSet", {"template": TEMPLATE}, "the pods of a StatefulSet have none"),
    ("CronJob", {"jobTemplate": {"spec": {"template": TEMPLATE}}},
     "the Job must have spec.jobTemplate.spec.completionMode: Indexed"),
    ("JobSet", {"replicatedJobs": [{"name": "w", "template": {"spec": {"completionMode": "NonIndexed",
                                                                         "template": TEMPLATE}}}]},
     "the Job must have spec.replicatedJobs[0].template.spec.completionMode: Indexed"),
])
def test_annotate_refuses_the_completion_index_where_no_pod_will_have_one(kind, spec, said):
    with pytest.raises(InvalidAnnotations) as e:
        annotate_object({"kind": kind, "metadata": {"name": "w"}, "spec": spec}, FAN_OUT_VALUES)
    assert f"annotation {PREFIX}output-uri: $(JOB_COMPLETION_INDEX) would never be known" in str(e.value)
    assert str(e.value).endswith(said)


@pytest.mark.parametrize("kind, spec, template_at", [
    ("CronJob", {"jobTemplate": {"spec": {"completionMode": "Indexed", "template": TEMPLATE}}},
     ("jobTemplate", "spec", "template")),
    ("JobSet", {"replicatedJobs": [{"name": "w", "template": {"spec": {"template": TEMPLATE}}}]},  # Indexed by default
     ("replicatedJobs", 0, "template", "spec", "template")),
    ("Workflow", {"template": TEMPLATE}, ("template",)),  # a kind we do not know: its pods may have one
])
def test_annotate_accepts_the_completion_index_where_pods_have_one_or_may(kind, spec, template_at):
    new, warnings = annotate_object({"kind": kind, "metadata": {"name": "w"}, "spec": spec}, FAN_OUT_VALUES)
    template = new["spec"]
    for step in template_at:
        template = template[step]
    assert warnings == [] and ours(template["metadata"]["annotations"]) == FAN_OUT_VALUES  # on the pods, unexpanded
    assert template["spec"] == TEMPLATE["spec"]  # the agent is the webhook's to inject, pod by pod
    made = {**template, "metadata": {**template["metadata"],
                                     "annotations": {**template["metadata"]["annotations"], INDEX: "2"}}}
    (sidecar,) = inject(made)["spec"]["initContainers"]  # restartPolicy Never: the sidecar pulls and pushes
    step = StepDescription.from_json(next(e["value"] for e in sidecar["env"] if e["name"] == STEP_ENV))
    assert step.output == "results/pi:run-2"  # each pod is told its own index at admission


def test_a_bare_pod_with_the_completion_index_is_refused_as_the_webhook_would():
    with pytest.raises(InvalidAnnotations, match=rf"annotation {PREFIX}output-uri: \$\(JOB_COMPLETION_INDEX\) cannot "
                                                 rf"be expanded: the pod has no {INDEX} annotation"):
        annotate_object(pod({}), FAN_OUT_VALUES)
