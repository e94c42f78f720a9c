"""The step contract between the injection and the agent: what one writes the other reads, and
anything else is refused naming the field (a container that cannot know its step must not guess)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from kubectl_oras.pods import share as share_layout
from kubectl_oras.pods.share import Run, Share
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
    for name in ("DONE", "VERDICT", "WAKE", "OUTPUTS", "SEEN", "STARTED"):
        assert f"{run.path}/{env['KUBECTL_ORAS_RUN_' + name]}" == getattr(run, name.lower())
    assert env["KUBECTL_ORAS_PULL_VERDICT"] == env["KUBECTL_ORAS_PULL_WAKE"] == ""  # an init container pulled
    hooked = wrapper_environment(WrapperSettings(input_path=None, output_path="out", output_pipe=None, push=True,
                                                 debug=False, pulled_by_sidecar=True), share)
    assert hooked["KUBECTL_ORAS_PULL_VERDICT"] == share.pull_verdict == "/x/pull/verdict"
    assert hooked["KUBECTL_ORAS_PULL_WAKE"] == share.pull_wake == "/x/pull/wake"
    assert (env["KUBECTL_ORAS_OUTPUT_PATH"], env["KUBECTL_ORAS_PUSH"], env["KUBECTL_ORAS_INPUT_PATH"]) == ("out", "1", "")


def test_the_wrapper_is_told_every_word_the_sidecars_answers_begin_with():
    env = wrapper_environment(WrapperSettings(input_path=None, output_path=None, output_pipe=None, push=False,
                                              debug=False), Share("/x"))
    told = {name: env[f"KUBECTL_ORAS_VERDICT_{name}"] for name in share_layout.VERDICT_WORDS}
    assert told == {"PULLED": share_layout.PULLED, "PULL_FAILED": share_layout.PULL_FAILED,
                    "PUSHED": share_layout.PUSHED, "NOT_PUSHED": share_layout.NOT_PUSHED,
                    "PUSH_FAILED": share_layout.PUSH_FAILED}
    assert len(set(told.values())) == len(told)  # the wrapper tells each answer apart by its word
    codes = {name: env[f"KUBECTL_ORAS_EXIT_{name}"] for name in share_layout.EXIT_CODES}
    assert codes == {"PULL_FAILED": "211", "PUSH_FAILED": "212"}  # docs/pod-protocol.md, Exit codes


WRAPPER = Path(share_layout.__file__).parents[1] / "agent" / "oras-wrap.sh"
SHARE_NAMES = ("bin", "busybox", "oras-wrap", "inputs", "pull", "runs", "started", Run.DONE, Run.VERDICT, Run.WAKE,
               Run.OUTPUTS, Run.STDOUT, Run.SEEN, Run.PUSHING)
# A pod spec from before KUBECTL_ORAS_RUN_SEEN still runs: the one name the script spells, as a fallback.
OLD_SPEC_FALLBACKS = ("${KUBECTL_ORAS_RUN_SEEN:-seen}",)


def spelled_in_wrapper(script: str) -> list[str]:
    """The share's paths, the sidecar's verdict words and the exit codes that ``script`` spells itself, in its code
    (comments aside). A word that is also English (pulled, pushed) may be in a sentence the wrapper
    prints (a quoted string with a space), never where it is matched or written on its own."""
    code = "\n".join(re.sub(r"(^|\s)#.*$", "", line) for line in script.splitlines())
    for fallback in OLD_SPEC_FALLBACKS:
        code = code.replace(fallback, "")
    found = [f"path {name}" for name in SHARE_NAMES
             if re.search(rf"(/|:-){re.escape(name)}(?![\w.-])", code.replace(share_layout.SHARE_MOUNT, "/"))]
    found += [f"path {share_layout.SHARE_MOUNT}" for _ in re.findall(rf"{share_layout.SHARE_MOUNT}(?![\w.-])", code)]
    # Sentences out (quoted strings, taken in order, that hold a space): their English words are not verdicts.
    words = re.sub(r'"[^"\n]*"', lambda quoted: '""' if " " in quoted[0] else quoted[0], code)
    for word in share_layout.VERDICT_WORDS.values():
        where = code if "-" in word else words  # a hyphened word is a verdict wherever it is
        if re.search(rf"(?<![\w$-]){re.escape(word)}(?![\w-])", where):
            found.append(f"verdict word {word}")
    found += [f"exit code {number}" for number in share_layout.EXIT_CODES.values()
              if re.search(rf"(?<!\d){number}(?!\d)", code)]
    return found


def test_the_wrapper_spells_no_path_of_the_share_and_no_verdict_word():
    assert spelled_in_wrapper(WRAPPER.read_text()) == []


@pytest.mark.parametrize("line, culprit", [
    ('    pulled) note "inputs pulled" ;;', "verdict word pulled"),
    ('    pushed*|"$w_not_pushed"*) ;;', "verdict word pushed"),
    ('  verdict="push-failed: no verdict came"', "verdict word push-failed"),
    ('  case "$line" in pull-failed:*) answer="$line" ;; esac', "verdict word pull-failed"),
    ('verdict_file="$run/verdict"', "path verdict"),
    ('seen="$run/${KUBECTL_ORAS_RUN_SEEN:-done}"', "path done"),
    ('bb=/oras/bin/busybox', "path /oras"),
    ('      exit 211 ;;', "exit code 211"),
    ('  [ "$code" = 0 ] && code=212', "exit code 212"),
])
def test_the_check_sees_a_spelled_path_or_word(line, culprit):
    assert culprit in spelled_in_wrapper(f"# {line}\n{line}\n")
    assert spelled_in_wrapper(f"# {line}\n") == []  # a comment may name them
