"""One ``Backoff`` for every retry loop (kubectl_oras/backoff.py): the delays it gives, its cap,
and its jitter drawn from a random source the caller passes in."""

from __future__ import annotations

import itertools

import pytest

from kubectl_oras.backoff import Backoff


def test_delays_grow_by_the_factor_from_the_base_to_the_cap():
    assert [Backoff(base=0.2, cap=5.0).delay(n) for n in range(1, 8)] == [0.2, 0.4, 0.8, 1.6, 3.2, 5.0, 5.0]
    assert [Backoff(base=1, cap=100, factor=3).delay(n) for n in range(1, 6)] == [1, 3, 9, 27, 81]
    assert Backoff(base=2, cap=2).delay(1) == 2


def test_no_failure_yet_counts_as_the_first_and_endless_failures_stay_at_the_cap():
    backoff = Backoff(base=0.5, cap=30)
    assert backoff.delay(0) == backoff.delay(-3) == 0.5
    assert backoff.delay(10_000) == backoff.delay(10**9) == 30  # no OverflowError from the power


def test_delays_is_the_same_schedule_without_end():
    backoff = Backoff(base=0.2, cap=2.0)
    assert list(itertools.islice(backoff.delays(), 7)) == [0.2, 0.4, 0.8, 1.6, 2.0, 2.0, 2.0]
    assert list(itertools.islice(backoff.delays(), 40)) == [backoff.delay(n) for n in range(1, 41)]


def test_without_jitter_the_random_source_is_never_asked():
    def no_random() -> float:
        raise AssertionError("asked for a random number")

    assert Backoff(base=1, cap=8).delay(3, rand=no_random) == 4


def test_jitter_multiplies_each_delay_by_a_number_drawn_between_its_bounds():
    backoff = Backoff(base=1, cap=100, jitter=(0.5, 1.5))
    assert [backoff.delay(3, rand=lambda r=r: r) for r in (0.0, 0.5, 0.75)] == [2.0, 4.0, 5.0]
    drawn = iter([0.0, 0.5, 0.25])
    assert list(itertools.islice(backoff.delays(rand=lambda: next(drawn)), 3)) == [0.5, 2.0, 3.0]


def test_the_cap_holds_after_the_jitter_unless_the_jitter_may_pass_it():
    within = Backoff(base=10, cap=30, jitter=(1.0, 2.0))
    assert within.delay(2, rand=lambda: 0.25) == 25.0
    assert within.delay(2, rand=lambda: 0.8) == 30  # 20 stretched to 36: held at the cap
    assert within.delay(5, rand=lambda: 0.5) == 30  # 160 capped to 30, stretched, held again
    past = Backoff(base=10, cap=30, jitter=(0.8, 1.2), jitter_past_cap=True)
    assert past.delay(5, rand=lambda: 0.5) == pytest.approx(30)
    assert past.delay(5, rand=lambda: 0.999) == pytest.approx(35.99, abs=0.01)


def test_by_default_the_jitter_is_random():
    backoff = Backoff(base=1, cap=10, jitter=(1.0, 2.0))
    drawn = {backoff.delay(1) for _ in range(50)}
    assert len(drawn) > 1 and all(1 <= d < 2 for d in drawn)


@pytest.mark.parametrize("fields", [
    {"base": 0, "cap": 1}, {"base": 1, "cap": 0}, {"base": 1, "cap": 1, "factor": 0.5},
    {"base": 1, "cap": 1, "jitter": (1.2, 0.8)}, {"base": 1, "cap": 1, "jitter": (-0.1, 1.0)},
])
def test_a_backoff_that_would_not_wait_or_would_shrink_is_refused(fields):
    with pytest.raises(ValueError, match="not a backoff"):
        Backoff(**fields)


def test_a_backoff_is_plain_immutable_data():
    backoff = Backoff(base=0.5, cap=30, jitter=(1.0, 1.5))
    assert backoff == Backoff(base=0.5, cap=30.0, jitter=(1.0, 1.5)) and hash(backoff) == hash(Backoff(0.5, 30, 2, (1.0, 1.5)))
    with pytest.raises(AttributeError):
        backoff.cap = 60  # type: ignore[misc]


def test_sleeps_end_at_the_bound_cutting_the_last_one_short():
    now, slept = [10.0], []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        now[0] += seconds

    gone = list(Backoff(base=1, cap=4).sleeps(10, start=10.0, clock=lambda: now[0], sleep=sleep))
    assert slept == [1, 2, 4, 3] and gone == [1, 3, 7]  # the last sleep reaches the bound: nothing is looked at then
    assert list(Backoff(base=1, cap=4).sleeps(5, start=0.0, clock=lambda: now[0], sleep=sleep)) == []  # gone already
