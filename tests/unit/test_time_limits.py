"""Time limits as data: durations users write, and defaults that give up on a silent registry
within about a minute (they waited 10 minutes: 120 s read timeout x 5 tries, no deadline)."""

from __future__ import annotations

import signal
import subprocess
import sys

import pytest

from controller.core.admission import review_pod
from kubectl_oras.durations import MAX_SECONDS, parse_duration
from kubectl_oras.oci.signals import ALARM_MAX, arm_alarm, disarm_alarm
from kubectl_oras.oci.transport import RetryPolicy, Timeouts, worst_case_seconds
from kubectl_oras.pods.annotations import PREFIX, InvalidAnnotations, parse_settings, render
from kubectl_oras.pods.injection import InjectionConfig, step_description
from kubectl_oras.pods.step import InvalidStep, StepDescription


@pytest.mark.parametrize("text, seconds", [("90", 90), ("90s", 90), ("5m", 300), ("1h30m", 5400), ("250ms", 0.25),
                                           ("1.5s", 1.5)])
def test_durations_in_the_forms_users_write(text, seconds):
    assert parse_duration(text) == seconds


@pytest.mark.parametrize("text", ["", "soon", "5 m", "-1s", "1h 30m", "m", "10x"])
def test_what_is_not_a_duration_is_refused_with_the_forms_that_are(text):
    with pytest.raises(ValueError, match="is not a duration.*90s, 5m"):
        parse_duration(text)


def test_by_default_a_silent_registry_is_given_up_on_within_about_a_minute():
    assert worst_case_seconds(RetryPolicy(), Timeouts()) <= 70


def test_a_total_timeout_bounds_the_worst_case():
    assert worst_case_seconds(RetryPolicy(), Timeouts(read=30, total=5)) == 5
    assert worst_case_seconds(RetryPolicy(deadline=None), Timeouts(read=1)) == pytest.approx(5 + 0.2 + 0.4 + 0.8 + 1.6)


def test_the_timeout_annotation_reaches_the_agent_as_seconds():
    settings = parse_settings({"output-uri": "a/b:c", "output-path": "out", "timeout": "10m"})
    assert settings.timeout == 600
    step = step_description(settings, InjectionConfig(agent_image="img", namespace="ns"))
    assert StepDescription.from_json(step.to_json()).timeout == 600
    assert render(settings)[PREFIX + "timeout"] == "600s"


@pytest.mark.parametrize("value, why", [("soon", "'soon' is not a duration (write e.g. 90, 90s, 5m, 1h30m)"),
                                        ("0", "must be more than zero, not '0'"),
                                        ("0s", "must be more than zero, not '0s'"),
                                        ("0h0m", "must be more than zero, not '0h0m'")])
def test_a_bad_timeout_annotation_is_denied_naming_it(value, why):
    with pytest.raises(InvalidAnnotations) as e:
        parse_settings({"timeout": value})
    assert str(e.value) == f"annotation {PREFIX}timeout: {why}"


# -- one bound for every duration: a longer one is refused where it is read, naming it -------------

TOO_LONG = "3000000h"  # 342 years: a process timer cannot hold it (OverflowError once armed)


@pytest.mark.parametrize("text", [TOO_LONG, "315360001", "9" * 400, "87599h60m1s"])
def test_a_duration_longer_than_the_bound_is_refused_saying_the_bound(text):
    with pytest.raises(ValueError, match=r"is longer than 87600h \(10 years\)"):
        parse_duration(text)


def test_the_bound_itself_is_a_duration():
    assert parse_duration("87600h") == MAX_SECONDS == parse_duration("315360000")


def test_a_timeout_annotation_past_the_bound_is_denied_at_admission_naming_it():
    from tests.unit.test_admission_review import MARK, pod, review

    response = review_pod(review(pod({**MARK, PREFIX + "timeout": TOO_LONG})), owner_annotations=None,
                          agent_image="img")["response"]
    assert response["allowed"] is False
    assert response["status"]["message"] == (f"annotation {PREFIX}timeout: '{TOO_LONG}' is longer than 87600h "
                                              "(10 years), the longest duration taken")


def test_a_step_description_whose_timeout_is_past_the_bound_is_refused_naming_the_field():
    good = StepDescription(registry="r:5000", plain_http=True, inputs=(), output=None, unpack=True,
                           push_on_failure="never", debug=False, share="/oras", timeout=1e12)
    with pytest.raises(InvalidStep, match="field 'timeout': 1000000000000.0 is longer than 87600h"):
        StepDescription.from_json(good.to_json())


def test_an_alarm_past_what_a_process_timer_holds_is_set_to_the_longest_it_holds():
    previous = arm_alarm(1e10, what="a very long wait")  # raised OverflowError before
    try:
        assert 0 < signal.getitimer(signal.ITIMER_REAL)[0] <= ALARM_MAX
    finally:
        disarm_alarm(previous)
    assert signal.getitimer(signal.ITIMER_REAL)[0] == 0


def test_a_controller_flag_past_the_bound_is_one_usage_line_naming_it():
    done = subprocess.run([sys.executable, "-m", "controller", "--lease-seconds", "1e12"], capture_output=True,
                          text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.splitlines()[-1] == ("python -m controller: error: argument --lease-seconds: '1e12' is longer "
                                            "than 87600h (10 years), the longest duration taken")
    assert "Traceback" not in done.stderr
