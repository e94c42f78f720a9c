"""Tier 0: nothing of the step may be placed in the share, and nothing of the pod may clash with
what the injection adds; each refusal names the annotation or the field the user wrote."""

import pytest

from kubectl_oras.pods.annotations import PREFIX, InvalidAnnotations, ours, parse_settings
from kubectl_oras.pods.injection import InjectionConfig, InvalidPod, mutate_pod

CONFIG = InjectionConfig(agent_image="kubectl-oras:test", namespace="ns1")
OUT = {"output-uri": "lab/out:v1", "output-path": "out.txt"}


def pod(annotations, containers=None, **spec):
    return {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "annotations": {PREFIX + k: v for k, v in
                                                                                          annotations.items()}},
            "spec": {"containers": containers or [{"name": "main", "image": "busybox", "command": ["run"]}], **spec}}


def inject(p):
    return mutate_pod(p, ours(p["metadata"]["annotations"]), CONFIG)


def test_two_numbered_inputs_with_one_number_are_denied_naming_both():
    with pytest.raises(InvalidAnnotations) as e:
        parse_settings({"input-uri_1": "lab/a:v1", "input-uri_01": "lab/b:v1"})
    assert str(e.value).startswith(f"annotations {PREFIX}input-uri_01 and {PREFIX}input-uri_1 both number input 1")


def test_numbered_inputs_with_their_own_numbers_are_accepted_in_numeric_order():
    s = parse_settings({"input-uri_02": "lab/b:v1", "input-uri_1": "lab/a:v1"})
    assert [str(i) for i in s.inputs] == ["lab/a:v1", "lab/b:v1"]


@pytest.mark.parametrize("key", ["input-path", "output-path", "output-pipe"])
@pytest.mark.parametrize("path", ["/oras", "/oras/", "/oras/runs", "/oras/runs/1/verdict", "//oras/runs",
                                  "/data/../oras/pull", "/oras/./bin"])
def test_a_path_in_the_share_is_denied_naming_its_annotation(key, path):
    values = {**OUT, key: path} if key != "output-path" else {**OUT, "output-path": path}
    if key == "output-pipe":
        values["output-path"] = "other.txt"
    with pytest.raises(InvalidAnnotations) as e:
        parse_settings(values)
    assert str(e.value).startswith(f"annotation {PREFIX}{key}: {path} is in /oras, the volume the cache's agent")


@pytest.mark.parametrize("path", ["/", "/orasx", "/data/oras", "oras/runs", "work"])
def test_paths_outside_the_share_or_relative_to_a_directory_not_known_are_accepted(path):
    assert parse_settings({**OUT, "input-path": path}).input_path == path
    new, _ = inject(pod({**OUT, "input-path": path, "input-uri": "lab/in:v1"}))
    assert new["spec"]["initContainers"][0]["name"] == "oras-push"


@pytest.mark.parametrize("key", ["input-path", "output-path"])
def test_a_relative_path_that_the_launchers_working_dir_puts_in_the_share_is_denied(key):
    values = {**OUT, key: "oras/runs"}
    with pytest.raises(InvalidAnnotations) as e:
        inject(pod(values, [{"name": "main", "image": "busybox", "command": ["run"], "workingDir": "/"}]))
    assert str(e.value).startswith(f"annotation {PREFIX}{key}: oras/runs (from workingDir /) is in /oras")


def test_inputs_copied_into_a_working_dir_in_the_share_are_denied():
    values = {**OUT, "output-path": "/results/out.txt", "input-uri": "lab/in:v1"}
    with pytest.raises(InvalidAnnotations) as e:
        inject(pod(values, [{"name": "main", "image": "busybox", "command": ["run"], "workingDir": "/oras/work"}]))
    assert "workingDir /oras/work is in /oras" in str(e.value) and f"{PREFIX}input-path" in str(e.value)
    new, _ = inject(pod({**values, "input-path": "/data"},
                        [{"name": "main", "image": "busybox", "command": ["run"], "workingDir": "/oras/work"}]))
    assert new["spec"]["containers"][0]["workingDir"] == "/oras/work"


@pytest.mark.parametrize("field, name", [("containers", "oras-push"), ("containers", "oras-pull"),
                                         ("initContainers", "oras-push"), ("initContainers", "oras-pull")])
def test_a_container_named_as_the_agents_is_denied_naming_it(field, name):
    main = {"name": "main", "image": "busybox", "command": ["run"]}
    own = {"name": name, "image": "busybox", "command": ["sleep", "1"]}
    p = (pod({**OUT, "container": "main"}, [main, own]) if field == "containers"
         else pod(OUT, [main], initContainers=[{"name": "setup", "image": "x"}, own]))
    with pytest.raises(InvalidPod) as e:
        inject(p)
    index = 1
    assert str(e.value).startswith(f"spec.{field}[{index}] is named {name!r}, a name the cache's agent takes")


@pytest.mark.parametrize("restart", ["Never", "OnFailure"])
def test_a_users_init_container_named_oras_push_is_not_taken_for_the_agent(restart):
    """Taken for an injected pod, it would run the step without the agent: nothing pushed."""
    p = pod(OUT, restartPolicy=restart, initContainers=[{"name": "oras-push", "image": "x", "command": ["true"]}],
            volumes=[{"name": "data", "emptyDir": {}}])
    with pytest.raises(InvalidPod, match=r"spec.initContainers\[0\] is named 'oras-push'"):
        inject(p)


@pytest.mark.parametrize("path", ["/oras", "/oras/", "/oras/bin", "//oras"])
def test_a_mount_of_the_users_at_the_share_is_denied_naming_it(path):
    main = {"name": "main", "image": "busybox", "command": ["run"],
            "volumeMounts": [{"name": "data", "mountPath": "/data"}, {"name": "cache", "mountPath": path}]}
    with pytest.raises(InvalidPod) as e:
        inject(pod(OUT, [main], volumes=[{"name": "data", "emptyDir": {}}, {"name": "cache", "emptyDir": {}}]))
    assert str(e.value).startswith(f"spec.containers[0].volumeMounts[1] (volume 'cache') is mounted at {path}, "
                                   "where the cache mounts its share (/oras)")


def test_a_mount_beside_the_share_is_kept():
    main = {"name": "main", "image": "busybox", "command": ["run"], "volumeMounts": [{"name": "d", "mountPath": "/orasx"}]}
    new, _ = inject(pod(OUT, [main], volumes=[{"name": "d", "emptyDir": {}}]))
    assert [m["mountPath"] for m in new["spec"]["containers"][0]["volumeMounts"]] == ["/orasx", "/oras"]


def test_an_injected_pod_is_still_recognised_and_left_as_it_is():
    new, _ = inject(pod(OUT, restartPolicy="Never"))
    again, _ = mutate_pod(new, ours(new["metadata"]["annotations"]), CONFIG)
    assert again is new
