"""Retention durations: one rule for spec.retention.maxAge and .interval, gc's and create-cache's
--max-age, and the CRD (kubectl_oras/durations.py: retention_duration)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

from kubectl_oras.durations import MAX_SECONDS, positive_duration, positive_seconds, retention_duration

CRD = Path(__file__).resolve().parents[2] / "manifests" / "crd-orascache.yaml"
TAKEN = {"90": 90.0, "90s": 90.0, "10m": 600.0, "720h": 720 * 3600.0, "1h30m": 5400.0, "1.5h": 5400.0,
         "500ms": 0.5, "0.5s": 0.5, "0h1m": 60.0, "007s": 7.0}
ZERO = ["0", "0s", "00", "0.0s", "0ms", "0h0m0s", "0.000h"]
NOT_DURATIONS = ["", "soon", "1d", " 10m", "10m\n", "-5m", "1.5", "+5s", "5 s", "1e3", "10M"]


@pytest.mark.parametrize("text, seconds", TAKEN.items())
def test_a_retention_duration_is_read_in_seconds(text, seconds):
    assert retention_duration(text) == seconds


@pytest.mark.parametrize("text", ZERO)
def test_zero_is_refused_however_it_is_written(text):
    with pytest.raises(ValueError, match=f"must be more than zero, not {re.escape(repr(text))}"):
        retention_duration(text)


@pytest.mark.parametrize("text", ZERO)
def test_every_limit_refuses_zero_with_the_same_words(text):
    with pytest.raises(ValueError, match=f"^must be more than zero, not {re.escape(repr(text))}$"):
        positive_duration(text)


@pytest.mark.parametrize("seconds", [0, 0.0, -1, -0.5, float("-inf")])
def test_a_limit_given_as_a_number_refuses_zero_and_less_naming_what_was_written(seconds):
    with pytest.raises(ValueError, match=f"^must be more than zero, not {re.escape(repr(seconds))}$"):
        positive_seconds(seconds, seconds)
    with pytest.raises(ValueError, match="^must be more than zero, not '-0'$"):
        positive_seconds(-0.0, "-0")


@pytest.mark.parametrize("seconds", [MAX_SECONDS + 1, float("inf"), float("nan")])
def test_a_limit_given_as_a_number_is_within_the_bound(seconds):
    with pytest.raises(ValueError, match=r"is longer than 87600h \(10 years\)"):
        positive_seconds(seconds, seconds)


@pytest.mark.parametrize("seconds", [0.001, 1, 90.5, MAX_SECONDS])
def test_a_limit_more_than_zero_is_its_seconds(seconds):
    assert positive_seconds(seconds, "written") == seconds


@pytest.mark.parametrize("text", NOT_DURATIONS)
def test_what_the_crd_would_not_take_is_refused_naming_it(text):
    with pytest.raises(ValueError, match=f"{re.escape(repr(text))} is not a retention duration"):
        retention_duration(text)


@pytest.mark.parametrize("field", ["maxAge", "interval"])
def test_the_crd_takes_exactly_what_the_rule_takes(field):
    """The CRD's pattern and rule, read from the manifest, against the same examples (the real
    apiserver applies them in tests/cluster/test_orascache_crd.py)."""
    version = yaml.safe_load(CRD.read_text())["spec"]["versions"][0]
    schema = version["schema"]["openAPIV3Schema"]["properties"]["spec"]["properties"]["retention"]["properties"][field]
    pattern = re.compile(schema["pattern"].replace("$", r"\Z"))  # Go's $ is the text's end; Python's allows a \n
    rules = [re.fullmatch(r"self\.matches\('(.*)'\)", v["rule"]) for v in schema["x-kubernetes-validations"]]
    assert all(rules), schema["x-kubernetes-validations"]  # only regular-expression rules, read here as such
    for text in [*TAKEN, *ZERO, *NOT_DURATIONS]:
        crd_takes = bool(pattern.search(text)) and all(re.search(r.group(1), text) for r in rules if r)
        try:
            retention_duration(text)
            we_take = True
        except ValueError:
            we_take = False
        assert crd_takes == we_take, text
