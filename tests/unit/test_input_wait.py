"""The pull's wait for inputs not pushed yet (annotation input-wait): the schedule, the bound, what it says."""

from __future__ import annotations

import itertools

import pytest

from kubectl_oras.agent.input_wait import BETWEEN_LOOKS, InputsMissing, wait_for_inputs
from tests.unit.test_registry_wait import FakeTime


def looks(*answers: list[str]):
    """A look that gives each answer in turn (what is missing), then the last one for ever."""
    given = iter(answers)
    last: list[list[str]] = [[]]

    def look() -> tuple[str, list[str]]:
        last[0] = next(given, last[0])
        return "found", last[0]

    return look


def test_the_schedule_grows_from_half_a_second_to_five():
    assert list(itertools.islice(BETWEEN_LOOKS.delays(), 6)) == [0.5, 1.0, 2.0, 4.0, 5.0, 5.0]


def test_inputs_there_at_once_are_taken_without_a_word_or_a_sleep():
    t, said = FakeTime(), []
    assert wait_for_inputs(looks([]), bound=60, clock=t.clock, sleep=t.sleep, log=said.append) == "found"
    assert said == [] and t.now == 100.0


def test_without_a_bound_the_first_look_decides():
    t = FakeTime()
    with pytest.raises(InputsMissing, match=r"^a: no tag of r matches run-\*; b: gone$"):
        wait_for_inputs(looks(["a: no tag of r matches run-*", "b: gone"]), bound=None, clock=t.clock, sleep=t.sleep)
    assert t.now == 100.0


def test_it_waits_saying_what_for_once_then_every_15_s_until_all_are_there():
    t, said = FakeTime(), []
    missing = [["a: 1 of 3"]] * 12  # 12 looks miss one; the 13th, 47.5 s in (0.5 + 1 + 2 + 4 + 8 × 5), finds all
    assert wait_for_inputs(looks(*missing, []), bound=600, clock=t.clock, sleep=t.sleep, log=said.append) == "found"
    assert said[0] == "kubectl-oras: waiting for inputs: a: 1 of 3; giving up in 10 min"
    assert [line.split(" after ")[1].split(":")[0] for line in said[1:-1]] == ["18 s", "32 s"]
    assert said[1] == "kubectl-oras: still waiting for inputs after 18 s: a: 1 of 3; giving up in 9.7 min"
    assert said[-1] == "kubectl-oras: every input is there after 47.5 s"


@pytest.mark.parametrize("by_timeout, bound_said", [(False, "input-wait"), (True, "the step's timeout")])
def test_at_the_bound_it_fails_naming_what_is_still_missing(by_timeout, bound_said):
    t = FakeTime()
    with pytest.raises(InputsMissing) as e:
        wait_for_inputs(looks(["a: 0 of 3", "b: not there"], ["a: 2 of 3"]), bound=20, by_timeout=by_timeout,
                        clock=t.clock, sleep=t.sleep, log=lambda line: None)
    assert str(e.value) == f"inputs still missing after 20 s ({bound_said}): a: 2 of 3"
    assert t.now == 120.0  # the last sleep is cut to the bound


def test_a_registry_that_fails_for_a_while_during_the_wait_is_waited_through():
    """A 500 or a restart during an hour's wait ended it at once with a failed pull (211), which
    the documented podFailurePolicy fails the Job on: transient errors are looks that found
    nothing new; at the bound the message says the registry's last answer."""
    from kubectl_oras.oci.errors import AuthenticationFailed, RegistryError, RegistryUnreachable

    def flaky(*outcomes):
        given = iter(outcomes)

        def look():
            outcome = next(given)
            if isinstance(outcome, Exception):
                raise outcome
            return "found", outcome
        return look

    t = FakeTime()
    down = RegistryUnreachable("cannot reach registry oras.lab.svc:5000: connection refused", refused=True)
    busy = RegistryError("list tags of r: registry answered 503", status=503, transient=True)
    assert wait_for_inputs(flaky(["a: 0 of 3"], down, busy, []), bound=60, clock=t.clock, sleep=t.sleep,
                           log=lambda line: None) == "found"
    t = FakeTime()
    with pytest.raises(InputsMissing, match=r"a: 0 of 3 \(the registry's last answer: list tags of r: registry answered 503\)$"):
        wait_for_inputs(flaky(["a: 0 of 3"], *[busy] * 20), bound=20, clock=t.clock, sleep=t.sleep, log=lambda line: None)
    with pytest.raises(AuthenticationFailed):  # not transient: said at once
        wait_for_inputs(flaky(["a: 0 of 3"], AuthenticationFailed("denied", status=401)), bound=20,
                        clock=FakeTime().clock, sleep=FakeTime().sleep, log=lambda line: None)
