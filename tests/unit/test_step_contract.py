"""The step contract between the injection and the agent: what one writes the other reads, and
anything else is refused naming the field (a container that cannot know its step must not guess)."""

from __future__ import annotations

import json

import pytest

from kubectl_oras.pods.share import Share
from kubectl_oras.pods.step import InvalidStep, StepDescription, WrapperSettings, wrapper_environment

STEP = StepDescription(registry="oras.lab.svc:5000", plain_http=True, inputs=("a/b:c", "d/e@sha256:" + "1" * 64),
                       output="o/p:t", unpack=False, push_on_failure="failed-tag", debug=True, share="/oras", timeout=90,
                       input_keys=("x/input-uri", "x/input-uri_2"), pull_in_sidecar=True, single_run=True)


def test_what_the_injection_writes_the_agent_reads():
    assert StepDescription.from_json(STEP.to_json()) == STEP


def with_fields(**changes) -> str:
    d = json.loads(STEP.to_json())
    for key, value in changes.items():
        if value is ...:
            d.pop(key)
        else:
            d[key] = value
    return json.dumps(d)


@pytest.mark.parametrize("raw, message", [
    ("not json", "is not JSON"),
    ("null", "is not a JSON object"),
    ("[]", "is not a JSON object"),
    ("[" * 100_000, "is not JSON"),
    (with_fields(share=...), "missing field 'share'"),
    (with_fields(registry=""), "must not be empty"),
    (with_fields(plainHttp="false"), "field 'plainHttp' has the wrong type (str)"),
    (with_fields(unpack="no"), "field 'unpack' has the wrong type"),
    (with_fields(pushOnFailure="bogus"), "'bogus', not one of never, failed-tag"),
    (with_fields(inputs=["a/b:c", 5]), "must list strings"),
    (with_fields(inputs="a/b:c"), "field 'inputs' has the wrong type"),
    (with_fields(timeout=True), "field 'timeout' has the wrong type"),
    (with_fields(singleRun="yes"), "field 'singleRun' has the wrong type (str)"),
    (with_fields(pullInSidecar=1), "field 'pullInSidecar' has the wrong type (int)"),
    (with_fields(timeout=-1), "field 'timeout': must be more than zero, not -1"),
    (with_fields(inputKeys=["x/input-uri"]), "field 'inputKeys' must list one string per input"),
    (with_fields(inputKeys=["x/input-uri", 2]), "field 'inputKeys' must list one string per input"),
])
def test_anything_else_is_refused_naming_the_field(raw, message):
    with pytest.raises(InvalidStep, match="KUBECTL_ORAS_STEP") as e:
        StepDescription.from_json(raw)
    assert message in str(e.value)


def test_optional_fields_take_their_defaults():
    step = StepDescription.from_json(with_fields(output=None, unpack=..., debug=..., pushOnFailure=..., timeout=...,
                                                 inputKeys=..., singleRun=..., pullInSidecar=...))
    assert (step.output, step.unpack, step.debug, step.push_on_failure, step.timeout) == (None, True, False, "never", None)
    assert step.single_run is step.pull_in_sidecar is False  # written before the fields: the sidecar as it was
    assert step.input_keys == () and step.input_key(1) == "input " + STEP.inputs[1]


def test_the_wrapper_is_told_every_path_of_the_share():
    share = Share("/x")
    env = wrapper_environment(WrapperSettings(input_path=None, output_path="out", output_pipe=None, push=True,
                                              debug=False), share)
    assert env["KUBECTL_ORAS_SHARE_BUSYBOX"] == share.busybox == "/x/bin/busybox"
    assert env["KUBECTL_ORAS_SHARE_RUNS"] == share.runs and env["KUBECTL_ORAS_SHARE_INPUTS"] == share.inputs
    run = share.run(3)
    for name in ("DONE", "VERDICT", "WAKE", "OUTPUTS", "SEEN"):
        assert f"{run.path}/{env['KUBECTL_ORAS_RUN_' + name]}" == getattr(run, name.lower())
    assert env["KUBECTL_ORAS_PULL_VERDICT"] == env["KUBECTL_ORAS_PULL_WAKE"] == ""  # an init container pulled
    hooked = wrapper_environment(WrapperSettings(input_path=None, output_path="out", output_pipe=None, push=True,
                                                 debug=False, pulled_by_sidecar=True), share)
    assert hooked["KUBECTL_ORAS_PULL_VERDICT"] == share.pull_verdict == "/x/pull/verdict"
    assert hooked["KUBECTL_ORAS_PULL_WAKE"] == share.pull_wake == "/x/pull/wake"
    assert (env["KUBECTL_ORAS_OUTPUT_PATH"], env["KUBECTL_ORAS_PUSH"], env["KUBECTL_ORAS_INPUT_PATH"]) == ("out", "1", "")
