"""Time limits as data: durations users write, and defaults that give up on a silent registry
within about a minute (they waited 10 minutes: 120 s read timeout x 5 tries, no deadline)."""

from __future__ import annotations

import pytest

from kubectl_oras.durations import parse_duration
from kubectl_oras.oci.transport import RetryPolicy, Timeouts, worst_case_seconds
from kubectl_oras.pods.annotations import PREFIX, InvalidAnnotations, parse_settings, render
from kubectl_oras.pods.injection import InjectionConfig, step_description
from kubectl_oras.pods.step import StepDescription


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


@pytest.mark.parametrize("value", ["soon", "0", "0s"])
def test_a_bad_timeout_annotation_is_denied_naming_it(value):
    with pytest.raises(InvalidAnnotations, match=PREFIX + "timeout"):
        parse_settings({"timeout": value})
