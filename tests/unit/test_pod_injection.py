import copy
import json
from pathlib import Path

import pytest
import yaml

from kubectl_oras.pods.annotations import PREFIX, InvalidAnnotations, ours
from kubectl_oras.pods.injection import (
    PUSH_CONTAINER,
    SHARE_VOLUME,
    STEP_LABEL,
    STEP_LABEL_VALUE,
    InjectionConfig,
    mutate_pod,
    pod_patch,
)

# Copies of the predecessor operator's examples (tests/fixtures/predecessor/): they must keep working.
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "predecessor"
CONFIG = InjectionConfig(agent_image="kubectl-oras:test", namespace="ns1")


def pod(annotations=None, containers=None, **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": annotations or {}},
            "spec": {"containers": containers or [{"name": "main", "image": "busybox", "command": ["echo", "hi"]}], **spec}}


def inject(p):
    return mutate_pod(p, ours(p["metadata"]["annotations"]), CONFIG)


MARK = {PREFIX + "output-uri": "dinosaur/hello:v1", PREFIX + "output-path": "out.txt"}


def test_layout_matches_the_design():
    new, _ = inject(pod(MARK))
    spec = new["spec"]
    assert [c["name"] for c in spec["initContainers"]] == [PUSH_CONTAINER]
    assert spec["initContainers"][0]["restartPolicy"] == "Always"
    assert {"name": SHARE_VOLUME, "emptyDir": {}} in spec["volumes"]
    main = spec["containers"][0]
    assert main["command"] == ["/oras/bin/busybox", "sh", "/oras/bin/oras-wrap"]
    assert main["args"] == ["echo", "hi"]
    step = json.loads(spec["initContainers"][0]["env"][0]["value"])
    assert step["registry"] == "oras.ns1.svc:5000" and step["plainHttp"] is True
    assert step["output"] == "dinosaur/hello:v1"


def test_a_launcher_that_runs_once_is_prepared_by_the_sidecars_hook_and_the_sidecar_pulls():
    new, _ = inject(pod({**MARK, PREFIX + "input-uri": "dinosaur/seed:v1"}, restartPolicy="Never",
                        initContainers=[{"name": "setup", "image": "x"}]))
    spec = new["spec"]
    assert [c["name"] for c in spec["initContainers"]] == [PUSH_CONTAINER, "setup"]
    sidecar = spec["initContainers"][0]
    assert sidecar["restartPolicy"] == "Always"
    assert sidecar["command"] == ["python3", "-m", "kubectl_oras.agent", "push"]
    assert sidecar["lifecycle"] == {"postStart": {"exec": {"command": ["python3", "-m", "kubectl_oras.agent",
                                                                        "prepare"]}}}
    step = json.loads(next(e["value"] for e in sidecar["env"] if e["name"] == "KUBECTL_ORAS_STEP"))
    assert step["pullInSidecar"] is step["singleRun"] is True and step["inputs"] == ["dinosaur/seed:v1"]
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    assert (env["KUBECTL_ORAS_PULL_VERDICT"], env["KUBECTL_ORAS_PULL_WAKE"]) == ("/oras/pull/verdict", "/oras/pull/wake")
    again, _ = inject(new)
    assert again == new  # injected once: the sidecar alone marks it


def test_beside_another_container_the_sidecar_pulls_but_stays():
    two = [{"name": "a", "image": "x", "command": ["a"]}, {"name": "b", "image": "x", "command": ["b"]}]
    new, _ = inject(pod({**MARK, PREFIX + "container": "a"}, two, restartPolicy="Never"))
    sidecar = new["spec"]["initContainers"][0]
    assert [c["name"] for c in new["spec"]["initContainers"]] == [PUSH_CONTAINER] and "lifecycle" in sidecar
    step = json.loads(sidecar["env"][0]["value"])
    assert step["pullInSidecar"] is True and step["singleRun"] is False  # b may still run: an ended sidecar restarts


def step_json(new):
    return json.loads(next(e["value"] for e in new["spec"]["initContainers"][0]["env"] if e["name"] == "KUBECTL_ORAS_STEP"))


@pytest.mark.parametrize("own, ends_after_success", [
    ({"restartPolicy": "OnFailure"}, True),
    ({"restartPolicy": "Always"}, False),
    ({"restartPolicyRules": [{"action": "Restart", "exitCodes": {"operator": "In", "values": [0]}}]}, False)])
def test_a_launcher_that_restarts_by_its_own_policy_under_a_pods_never_gets_a_sidecar_that_serves_each_run(
        own, ends_after_success):
    new, _ = inject(pod(MARK, [{"name": "main", "image": "x", "command": ["a"], **own}], restartPolicy="Never"))
    assert [c["name"] for c in new["spec"]["initContainers"]] == [PUSH_CONTAINER]
    step = step_json(new)
    assert step["pullInSidecar"] is True and step["singleRun"] is False
    assert step["endsAfterSuccess"] is ends_after_success  # a rule may restart it after exit 0 too


def test_the_launchers_termination_message_path_is_where_the_wrapper_says_why():
    new, _ = inject(pod(MARK, [{"name": "main", "image": "x", "command": ["a"], "terminationMessagePath": "/tmp/why"}]))
    env = {e["name"]: e["value"] for e in new["spec"]["containers"][0]["env"]}
    assert env["KUBECTL_ORAS_TERMINATION_LOG"] == "/tmp/why"
    new, _ = inject(pod(MARK))
    assert {e["name"]: e["value"] for e in new["spec"]["containers"][0]["env"]}["KUBECTL_ORAS_TERMINATION_LOG"] == \
        "/dev/termination-log"


@pytest.mark.parametrize("policy, ends_after_success", [(None, False), ("OnFailure", True), ("Always", False)])
def test_a_launcher_that_may_run_again_gets_the_sidecar_that_pulls_and_asks_for_a_pull_again_on_each_start(
        policy, ends_after_success):
    """No oras-pull init container under any restart policy: its exit cost the kubelet's next look."""
    new, _ = inject(pod({**MARK, PREFIX + "input-uri": "dinosaur/seed:v1"}, **({"restartPolicy": policy} if policy else {})))
    spec = new["spec"]
    assert [c["name"] for c in spec["initContainers"]] == [PUSH_CONTAINER]
    assert spec["initContainers"][0]["lifecycle"]["postStart"]["exec"]["command"][-1] == "prepare"
    step = step_json(new)
    assert step["pullInSidecar"] is True and step["singleRun"] is False
    assert step["endsAfterSuccess"] is ends_after_success  # OnFailure: no run after one that succeeded
    env = {e["name"]: e["value"] for e in spec["containers"][0]["env"]}
    assert (env["KUBECTL_ORAS_PULL_VERDICT"], env["KUBECTL_ORAS_RUN_PULL_AGAIN"]) == ("/oras/pull/verdict", "pull-again")


def test_beside_another_container_an_on_failure_sidecar_stays():
    two = [{"name": "a", "image": "x", "command": ["a"]}, {"name": "b", "image": "x", "command": ["b"]}]
    new, _ = inject(pod({**MARK, PREFIX + "container": "a"}, two, restartPolicy="OnFailure"))
    assert step_json(new)["endsAfterSuccess"] is False  # b may still run: an ended sidecar restarts


@pytest.mark.parametrize("argv", [
    ["sh", "-c", "echo \"$HOME\" 'quoted' && ls *.txt"],
    ["python3", "-c", "print(1)\nprint(2)", "two words", "$(VAR)", "*"],
])
def test_original_argv_is_kept_exactly(argv):
    new, _ = inject(pod(MARK, [{"name": "main", "image": "x", "command": argv[:1], "args": argv[1:]}]))
    assert new["spec"]["containers"][0]["args"] == argv


def test_a_container_without_command_is_denied_with_the_fix():
    with pytest.raises(InvalidAnnotations, match="has no command.*set command"):
        inject(pod(MARK, [{"name": "main", "image": "x", "args": ["a"]}]))


def test_several_containers_need_the_container_annotation():
    two = [{"name": "a", "image": "x", "command": ["a"]}, {"name": "b", "image": "x", "command": ["b"]}]
    with pytest.raises(InvalidAnnotations, match=PREFIX + "container"):
        inject(pod(MARK, two))
    new, _ = inject(pod({**MARK, PREFIX + "container": "b"}, copy.deepcopy(two)))
    assert new["spec"]["containers"][0] == two[0]
    assert new["spec"]["containers"][1]["args"] == ["b"]
    with pytest.raises(InvalidAnnotations, match="no container named 'c'"):
        inject(pod({**MARK, PREFIX + "container": "c"}, two))


def test_existing_init_containers_and_volumes_are_kept_after_ours():
    p = pod(MARK, initContainers=[{"name": "setup", "image": "x"}], volumes=[{"name": "data", "emptyDir": {}}])
    new, _ = inject(p)
    assert [c["name"] for c in new["spec"]["initContainers"]] == [PUSH_CONTAINER, "setup"]
    assert [v["name"] for v in new["spec"]["volumes"]] == ["data", SHARE_VOLUME]


def applied(doc, patch):
    """``doc`` after the JSONPatch's add and replace operations (all pod_patch makes), on objects only."""
    doc = copy.deepcopy(doc)
    for op in patch:
        assert op["op"] in ("add", "replace")
        *parents, last = [p.replace("~1", "/").replace("~0", "~") for p in op["path"].split("/")[1:]]
        target = doc
        for key in parents:
            target = target[key]
        target[last] = op["value"]
    return doc


def test_injection_is_idempotent_and_the_patch_applies():
    original = pod(MARK)
    new, _ = inject(original)
    again, _ = inject(new)
    assert again == new
    patch = pod_patch(original, new)
    assert {op["path"] for op in patch} == {"/metadata/labels", "/spec/initContainers", "/spec/containers",
                                            "/spec/volumes"}
    assert pod_patch(new, again) == []
    assert applied(original, patch) == new


def test_an_injected_pod_is_labelled_for_the_controller_keeping_its_own_labels():
    new, _ = inject(pod(MARK))
    assert new["metadata"]["labels"] == {STEP_LABEL: STEP_LABEL_VALUE}
    own = pod(MARK)
    own["metadata"]["labels"] = {"app": "x", "a/b~c": "d"}
    new, _ = inject(own)
    assert new["metadata"]["labels"] == {"app": "x", "a/b~c": "d", STEP_LABEL: STEP_LABEL_VALUE}
    assert own["metadata"]["labels"] == {"app": "x", "a/b~c": "d"}  # the pod given is not changed
    patch = pod_patch(own, new)
    assert {"op": "add", "path": "/metadata/labels/" + STEP_LABEL.replace("/", "~1"), "value": STEP_LABEL_VALUE} in patch
    assert applied(own, patch) == new


def test_a_pod_injected_before_it_was_applied_is_labelled_at_admission_and_a_template_is_not():
    injected, _ = inject(pod(MARK))
    del injected["metadata"]["labels"]
    again, _ = inject(injected)
    assert again["metadata"]["labels"] == {STEP_LABEL: STEP_LABEL_VALUE}
    assert pod_patch(injected, again) == [{"op": "add", "path": "/metadata/labels",
                                           "value": {STEP_LABEL: STEP_LABEL_VALUE}}]
    template = pod(MARK)
    new, _ = mutate_pod(template, ours(template["metadata"]["annotations"]), CONFIG, template=True)
    assert "labels" not in new["metadata"]  # its pods are labelled when they are admitted


def test_credentials_come_from_the_secret_as_env_never_args():
    new, _ = inject(pod({**MARK, PREFIX + "oras-env": "registry-creds", PREFIX + "registry": "ghcr.io"}))
    for c in new["spec"]["initContainers"][:2]:
        assert c["envFrom"] == [{"secretRef": {"name": "registry-creds"}}]
        assert "registry-creds" not in json.dumps(c["command"])
    step = json.loads(new["spec"]["initContainers"][0]["env"][0]["value"])
    assert step["registry"] == "ghcr.io" and step["plainHttp"] is False


def test_the_input_mount_does_not_disturb_existing_mounts_or_env():
    c = {"name": "main", "image": "x", "command": ["run"], "env": [{"name": "A", "value": "1"}],
         "volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    new, _ = inject(pod(MARK, [c], volumes=[{"name": "data", "emptyDir": {}}]))
    main = new["spec"]["containers"][0]
    assert main["env"][0] == {"name": "A", "value": "1"}
    assert main["volumeMounts"][0] == {"name": "data", "mountPath": "/data"}


@pytest.mark.parametrize("annotations, expected", [({}, "0"), ({PREFIX + "input-overwrite": "true"}, "1")])
def test_the_wrapper_is_told_whether_inputs_may_replace_files(annotations, expected):
    new, _ = inject(pod({**MARK, **annotations}))
    env = {e["name"]: e["value"] for e in new["spec"]["containers"][0]["env"]}
    assert env["KUBECTL_ORAS_INPUT_OVERWRITE"] == expected


@pytest.mark.parametrize("annotations, expected", [
    ({}, str(6 * 3600)),  # no timeout: a push may take as long as its bytes do, within a documented default
    ({PREFIX + "timeout": "10m"}, str(600 + 1 + 600)),  # the push ends by its timeout; the margin: a sidecar restarted
])
def test_the_wrapper_is_told_how_long_it_may_wait_for_the_verdict(annotations, expected):
    new, _ = inject(pod({**MARK, **annotations}))
    env = {e["name"]: e["value"] for e in new["spec"]["containers"][0]["env"]}
    assert env["KUBECTL_ORAS_VERDICT_WAIT"] == expected


@pytest.mark.parametrize("annotations, expected", [
    ({}, str(6 * 3600)),  # no timeout: a pull may take as long as its bytes do, within the same default
    ({PREFIX + "input-wait": "10m"}, str(6 * 3600 + 600)),  # the wait for inputs comes before the pull's bytes
    ({PREFIX + "timeout": "10m", PREFIX + "input-wait": "5m"}, str(600 + 1 + 600)),  # the timeout covers both
])
def test_the_wrapper_is_told_how_long_it_may_wait_for_the_pulls_answer(annotations, expected):
    new, _ = inject(pod({**MARK, **annotations}))
    env = {e["name"]: e["value"] for e in new["spec"]["containers"][0]["env"]}
    assert env["KUBECTL_ORAS_PULL_WAIT"] == expected


def load(name):
    return list(yaml.safe_load_all((FIXTURES / name).read_text()))


@pytest.mark.parametrize("name", ["tests_hello-world_pod-with-storage.yaml"])
def test_predecessor_pod_examples_inject(name):
    (p,) = load(name)
    new, settings = inject(p)
    assert settings.cache == "orascache-sample" and settings.debug is True
    assert new["spec"]["containers"][0]["args"] == ["touch", "hello-world.txt"]


def test_predecessor_job_example_injects_into_the_pod_its_template_makes():
    (job,) = load("tests_hello-world_job.yaml")
    # The Job controller copies the template; the annotations sit on the Job (its owner).
    made = {"apiVersion": "v1", "kind": "Pod", "metadata": {"generateName": "breakfast-", "annotations": {}},
            "spec": copy.deepcopy(job["spec"]["template"]["spec"])}
    from kubectl_oras.pods.annotations import merge_owner

    new, settings = mutate_pod(made, merge_owner({}, job["metadata"]["annotations"]), CONFIG)
    assert settings.output_pipe == "pancakes.txt" and settings.output_path == "pancakes.txt"
    assert new["spec"]["containers"][0]["args"] == ["echo", "blueberry"]


def test_an_unannotated_predecessor_pod_is_not_marked():
    (p,) = load("tests_hello-world_pod.yaml")
    assert ours(p["metadata"].get("annotations")) == {}


def test_the_input_pod_is_never_modified():
    c = {"name": "main", "image": "x", "command": ["run"], "env": [{"name": "A", "value": "1"}],
         "volumeMounts": [{"name": "data", "mountPath": "/data"}]}
    original = pod(MARK, [c], volumes=[{"name": "data", "emptyDir": {}}], initContainers=[{"name": "i", "image": "x"}])
    before = copy.deepcopy(original)
    inject(original)
    assert original == before
