"""How long to wait before trying again: one ``Backoff``, kept as data.

Every retry loop of the project (the registry transport, the informer's watches, the reconciler's
work queue, the namespace labels, the agent's waits for a registry and for inputs) names its own ``Backoff`` beside
the loop that uses it, and asks it for the n-th delay. A delay grows by ``factor`` from ``base``
up to ``cap``; a jittered one is then multiplied by a number drawn from the ``jitter`` range, so
that many clients failing together do not retry together. The random source is passed in
(``rand``), so a test can hold it.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class Backoff:
    """Delays between tries: ``base``, ``base·factor``, ``base·factor²``… up to ``cap``.

    With ``jitter=(low, high)`` each delay is multiplied by a number drawn uniformly between the
    two; the cap still holds after it unless ``jitter_past_cap`` (then a capped delay may be
    stretched past the cap, to at most ``cap·high``).
    """

    base: float
    cap: float
    factor: float = 2.0
    jitter: tuple[float, float] = (1.0, 1.0)
    jitter_past_cap: bool = False

    def __post_init__(self) -> None:
        low, high = self.jitter
        if not (0 < self.base and 0 < self.cap and self.factor >= 1 and 0 <= low <= high):
            raise ValueError(f"not a backoff: {self}")

    def delay(self, failures: int, *, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait after the ``failures``-th failure in a row (1 for the first; less counts as 1).

        ``rand`` returns a number in [0, 1); it is called only when there is jitter.
        """
        try:
            step = min(self.cap, self.base * self.factor ** (max(failures, 1) - 1))
        except OverflowError:  # so many failures that the power leaves the floats: long past the cap
            step = self.cap
        low, high = self.jitter
        if (low, high) == (1.0, 1.0):
            return step
        stretched = step * (low + (high - low) * rand())
        return stretched if self.jitter_past_cap else min(self.cap, stretched)

    def delays(self, *, rand: Callable[[], float] = random.random) -> Iterator[float]:
        """The delays after the first, second, third... failure, without end."""
        failures = 1
        while True:
            yield self.delay(failures, rand=rand)
            failures += 1

    def sleeps(self, bound: float, *, start: float, clock: Callable[[], float],
               sleep: Callable[[float], None]) -> Iterator[float]:
        """For a loop that looks again until ``bound`` seconds after ``start`` (a ``clock()``
        reading): sleeps each delay in turn, the last cut short at the bound, and after each yields
        the seconds gone since ``start``, as long as some are left."""
        for delay in self.delays():
            left = bound - (clock() - start)
            if left <= 0:
                return
            sleep(min(delay, left))
            gone = clock() - start
            if gone >= bound:
                return
            yield gone
