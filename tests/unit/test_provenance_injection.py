"""What the injection tells the sidecar for the provenance of a step's outputs."""

from __future__ import annotations

from kubectl_oras.pods.annotations import PREFIX
from kubectl_oras.pods.injection import InjectionConfig, mutate_pod
from kubectl_oras.pods.step import POD_ENV, STEP_ENV, StepDescription
from kubectl_oras.pods.variables import variables_in

IMAGE = "reg.example/lmp@sha256:" + "c" * 64
CONFIG = InjectionConfig(agent_image="kubectl-oras:test", namespace="lab")
OUTPUT = {"output-uri": "m/x:1", "output-path": "/out"}


def job_pod(args: list[str]) -> dict:
    return {"metadata": {"name": "lmp-x2k", "namespace": "lab",
                         "ownerReferences": [{"kind": "Job", "name": "lmp", "controller": True, "uid": "u"},
                                             {"kind": "Other", "name": "not-it"}]},
            "spec": {"restartPolicy": "Never",
                     "containers": [{"name": "step", "image": IMAGE, "command": ["lmp"], "args": args}]}}


def sidecar(pod: dict) -> dict:
    return next(c for c in pod["spec"]["initContainers"] if c["name"] == "oras-push")


def test_the_step_names_its_image_command_workload_and_our_annotations():
    values = {"output-uri": "metric/lmp:iter-1", "output-path": "/out"}
    new, _ = mutate_pod(job_pod(["-in", "in.lj"]), values, CONFIG)
    env = {e["name"]: e for e in sidecar(new)["env"]}
    step = StepDescription.from_json(env[STEP_ENV]["value"])
    assert (step.image, step.argv, step.workload) == (IMAGE, ("lmp", "-in", "in.lj"), "Job/lmp")
    assert dict(step.shaped_by) == {PREFIX + "output-uri": "metric/lmp:iter-1", PREFIX + "output-path": "/out"}
    assert {name: env[name]["valueFrom"]["fieldRef"]["fieldPath"] for name in POD_ENV} == POD_ENV


def test_a_variable_in_the_command_is_said_as_written_never_expanded_by_the_kubelet():
    # The kubelet expands $(NAME) in an env value from the container's variables, and the sidecar's
    # include ORAS_PASS (envFrom): the step's command reaches it escaped, and reads back as written.
    new, _ = mutate_pod(job_pod(["--token", "$(ORAS_PASS)", "$(POD_NAME)"]), OUTPUT, CONFIG)
    raw = next(e["value"] for e in sidecar(new)["env"] if e["name"] == STEP_ENV)
    assert "$(" not in raw and variables_in(raw) == ()
    assert StepDescription.from_json(raw).argv == ("lmp", "--token", "$(ORAS_PASS)", "$(POD_NAME)")


def test_a_pod_without_a_controller_names_no_workload():
    pod = job_pod([])
    del pod["metadata"]["ownerReferences"]
    new, _ = mutate_pod(pod, OUTPUT, CONFIG)
    raw = next(e["value"] for e in sidecar(new)["env"] if e["name"] == STEP_ENV)
    assert StepDescription.from_json(raw).workload == ""
