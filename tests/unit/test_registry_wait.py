"""The agent's wait for a registry that does not answer yet: the bound, the schedule, what it says."""

from __future__ import annotations

import itertools
import re

import pytest
import requests
import urllib3

from kubectl_oras.agent.registry_wait import (
    BETWEEN_LOOKS,
    DEFAULT_WAIT,
    InvalidWait,
    wait_bound,
    wait_for_registry,
)
from kubectl_oras.oci.errors import RegistryUnreachable
from kubectl_oras.oci.transport import Probe, judge_error, judge_status


class FakeTime:
    def __init__(self) -> None:
        self.now = 100.0

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        assert seconds > 0
        self.now += seconds


def test_the_schedule_grows_from_a_fifth_of_a_second_to_two():
    assert list(itertools.islice(BETWEEN_LOOKS.delays(), 7)) == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]


@pytest.mark.parametrize("env, timeout, expected", [
    ({}, None, (DEFAULT_WAIT, False)),
    ({}, 60.0, (60.0, True)),
    ({"KUBECTL_ORAS_REGISTRY_WAIT": "3s"}, None, (3.0, False)),
    ({"KUBECTL_ORAS_REGISTRY_WAIT": "10m"}, 900.0, (600.0, False)),
    ({"KUBECTL_ORAS_REGISTRY_WAIT": "10m"}, 30.0, (30.0, True)),
    ({"KUBECTL_ORAS_REGISTRY_WAIT": "0"}, None, (0.0, False)),
    ({"KUBECTL_ORAS_REGISTRY_WAIT": ""}, None, (DEFAULT_WAIT, False)),
])
def test_the_bound(env, timeout, expected):
    assert wait_bound(env, timeout) == expected


@pytest.mark.parametrize("value, said", [("soon", "'soon' is not a duration"),
                                         ("3000000h", "'3000000h' is longer than 87600h (10 years)")])
def test_a_bad_wait_names_the_variable(value, said):
    with pytest.raises(InvalidWait, match=r"^KUBECTL_ORAS_REGISTRY_WAIT: " + re.escape(said)):
        wait_bound({"KUBECTL_ORAS_REGISTRY_WAIT": value}, None)


@pytest.mark.parametrize("status, up", [(200, True), (401, True), (404, True), (500, True), (429, True),
                                        (502, False), (503, False), (504, False)])
def test_any_answer_but_a_gateways_or_unavailable_means_up(status, up):
    assert judge_status(status).up is up


def test_errors_without_an_answer_mean_not_yet_with_a_short_reason():
    refused = requests.ConnectionError(urllib3.exceptions.MaxRetryError(
        None, "/v2/", urllib3.exceptions.NewConnectionError(None, "[Errno 111] Connection refused")))
    refused.args[0].reason.__cause__ = ConnectionRefusedError(111, "Connection refused")
    assert judge_error(refused, connect=2, read=5) == Probe(False, "connection refused")
    dns = requests.ConnectionError(urllib3.exceptions.MaxRetryError(
        None, "/v2/", urllib3.exceptions.NameResolutionError("cache.ns.svc", None, OSError("Name or service not known"))))
    assert judge_error(dns, connect=2, read=5) == Probe(False, "its name does not resolve")
    assert judge_error(requests.exceptions.ConnectTimeout("x"), connect=2, read=5) == Probe(False, "no connection within 2 s")
    assert judge_error(requests.exceptions.ReadTimeout("x"), connect=2, read=5) == Probe(False, "no answer within 5 s")
    assert judge_error(requests.exceptions.SSLError("wrong version number"), connect=2, read=5).up


def test_up_at_once_is_silent_and_takes_one_look():
    t, said, looks = FakeTime(), [], []
    waited = wait_for_registry("cache:5000", lambda limit: looks.append(limit) or Probe(True), bound=300,
                               clock=t.clock, sleep=t.sleep, log=said.append)
    assert (waited, said, len(looks)) == (0.0, [], 1)


def test_a_wait_of_zero_looks_at_nothing():
    assert wait_for_registry("cache:5000", lambda limit: pytest.fail("looked"), bound=0, log=pytest.fail) == 0.0


def test_it_waits_saying_so_once_and_again_only_every_15_seconds():
    t, said = FakeTime(), []
    answers = iter([Probe(False, "connection refused")] * 20 + [Probe(True)])
    waited = wait_for_registry("cache:5000", lambda limit: next(answers), bound=300, clock=t.clock, sleep=t.sleep,
                               log=said.append)
    assert said[0] == "kubectl-oras: waiting for registry cache:5000 to answer (connection refused); giving up in 5 min"
    assert said[-1].startswith("kubectl-oras: registry cache:5000 answered after ")
    middle = said[1:-1]
    assert 1 <= len(middle) <= waited / 15 + 1
    assert all(line.startswith("kubectl-oras: still waiting for registry cache:5000 (connection refused)") for line in middle)
    assert 30 < waited < 40  # 0.2 + 0.4 + 0.8 + 1.6 + 16 * 2


def test_at_the_bound_one_line_names_the_registry_and_the_wait():
    t, said, limits = FakeTime(), [], []
    with pytest.raises(RegistryUnreachable) as e:
        wait_for_registry("cache:5000", lambda limit: limits.append(limit) or Probe(False, "it answers 503"), bound=3,
                          clock=t.clock, sleep=t.sleep, log=said.append)
    message = str(e.value)
    assert "\n" not in message
    assert message == ("registry cache:5000 did not answer for 3 s (it answers 503); gave up "
                       "(set KUBECTL_ORAS_REGISTRY_WAIT to wait longer)")
    assert t.now - 100 == pytest.approx(3)
    assert all(0 < limit <= 3 for limit in limits)


def test_when_the_steps_timeout_is_the_bound_it_says_so():
    t = FakeTime()
    says = r"did not answer for 2 s \(connection refused\); gave up \(the step's timeout\)"
    with pytest.raises(RegistryUnreachable, match=says):
        wait_for_registry("cache:5000", lambda limit: Probe(False, "connection refused"), bound=2, by_timeout=True,
                          clock=t.clock, sleep=t.sleep, log=lambda line: None)


def test_a_look_that_outlasts_the_deadline_gives_up_without_a_negative_wait():
    """A look may take longer than its limit (a name slow to resolve, a connect and a read timeout
    one after the other): once it ends past the deadline, the wait gives up, and no line says it
    gives up in a negative time (it said "giving up in -2 s")."""
    t, said = FakeTime(), []

    def slow_probe(limit):
        t.now += limit + 3
        return Probe(False, "no answer within 5 s")

    with pytest.raises(RegistryUnreachable, match=r"did not answer for 2[0-9.]+ s"):
        wait_for_registry("cache:5000", slow_probe, bound=20, clock=t.clock, sleep=t.sleep, log=said.append)
    assert said and not [line for line in said if "giving up in -" in line or "giving up in 0 s" in line], said
