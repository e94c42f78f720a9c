"""The retry policy as data, and the one loop that applies it (no network: a fake clock)."""

from __future__ import annotations

import pytest
import requests

from kubectl_oras.oci.errors import RegistryError, RegistryUnreachable
from kubectl_oras.oci.transport import RetryPolicy, _retry_after, retrying


class Clock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def failing(*errors: BaseException):
    queue = list(errors)

    def operation() -> str:
        if queue:
            raise queue.pop(0)
        return "done"

    return operation


def test_transient_errors_are_tried_again_with_growing_pauses():
    clock = Clock()
    busy = RegistryError("busy", status=503, transient=True)
    assert retrying(RetryPolicy(attempts=4), failing(busy, busy, busy), sleep=clock.sleep, clock=clock) == "done"
    assert clock.sleeps == [0.2, 0.4, 0.8]


def test_a_permanent_error_is_raised_at_once():
    clock = Clock()
    with pytest.raises(RegistryError, match="no"):
        retrying(RetryPolicy(), failing(RegistryError("no", status=400)), sleep=clock.sleep, clock=clock)
    assert clock.sleeps == []


def test_the_error_that_ends_it_says_how_many_tries():
    clock = Clock()
    busy = [RegistryError("busy", status=503, transient=True) for _ in range(5)]
    with pytest.raises(RegistryError, match=r"busy \(gave up after 3 tries"):
        retrying(RetryPolicy(attempts=3), failing(*busy), sleep=clock.sleep, clock=clock)


def test_no_try_starts_after_the_deadline():
    clock = Clock()
    slow = [RegistryUnreachable("silent") for _ in range(10)]

    def operation() -> str:
        clock.now += 30  # each try waits out a 30 s read timeout
        return failing(slow.pop(0))()

    with pytest.raises(RegistryUnreachable, match="gave up after 2 tries"):
        retrying(RetryPolicy(attempts=10, deadline=60), operation, sleep=clock.sleep, clock=clock)


def test_progress_gives_a_download_its_tries_back():
    clock = Clock()
    moved = RegistryUnreachable("reset")
    moved.progressed = True  # type: ignore[attr-defined]
    busy = RegistryError("busy", status=503, transient=True)
    # Two tries fail, the third moves bytes before it breaks: three more tries are allowed after it.
    operation = failing(busy, busy, moved, busy, busy)
    assert retrying(RetryPolicy(attempts=3), operation, sleep=clock.sleep, clock=clock) == "done"
    with pytest.raises(RegistryError, match="busy"):
        retrying(RetryPolicy(attempts=3), failing(busy, busy, moved, busy, busy, busy), sleep=clock.sleep, clock=clock)


@pytest.mark.parametrize("header, seconds", [("2", 2.0), ("nan", None), ("inf", None), ("-1", -1.0), ("soon", None)])
def test_retry_after_is_a_finite_number_or_nothing(header, seconds):
    response = requests.Response()
    response.headers["Retry-After"] = header
    assert _retry_after(response) == seconds
    if seconds is not None:
        assert RetryPolicy().delay(1, seconds) == min(max(seconds, 0), 30)


def test_a_refused_port_is_tried_again_for_refused_for_seconds_whatever_the_attempts():
    """A cache's registry stops for its garbage collector (seconds, a minute on a big store): the
    agent's policy waits through it; the default (a command at a terminal) does not."""
    refused = RegistryUnreachable("push: cannot reach registry r:5000: [Errno 111] Connection refused", refused=True)
    clock = Clock()
    agent = RetryPolicy(refused_for=120.0)
    assert retrying(agent, failing(*[refused] * 20), sleep=clock.sleep, clock=clock) == "done"
    assert 40 < clock.now <= 120 and max(clock.sleeps) == 5.0  # backoff capped, 20 tries
    clock = Clock()
    with pytest.raises(RegistryUnreachable, match="gave up after"):
        retrying(agent, failing(*[refused] * 100), sleep=clock.sleep, clock=clock)
    assert clock.now <= 120
    clock = Clock()
    with pytest.raises(RegistryUnreachable):
        retrying(RetryPolicy(), failing(*[refused] * 6), sleep=clock.sleep, clock=clock)
    assert clock.now == pytest.approx(3.0)  # 5 tries: 0.2 + 0.4 + 0.8 + 1.6
    silent = RegistryUnreachable("did not answer within 30 s")  # not refused: the usual limits
    clock = Clock()
    with pytest.raises(RegistryUnreachable):
        retrying(agent, failing(*[silent] * 6), sleep=clock.sleep, clock=clock)
    assert len(clock.sleeps) == 4
