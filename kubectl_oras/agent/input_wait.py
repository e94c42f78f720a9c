"""Waiting, bounded and saying so, for inputs not pushed yet (annotation ``input-wait``).

A whole workflow applied at once (``kubectl apply -f``) starts a step beside the steps that make
its inputs. With ``input-wait`` the pull looks until every input is there (a plain input's tag; a
pattern's matches, exactly ``input-count`` of them when it has one), logs what it waits for once,
then about every 15 s, and at the bound fails naming every input still missing. Without it, one
look decides, as before.

``wait_for_inputs`` is the loop, with the look, the clock, the sleep and the log passed in.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from typing import TypeVar

from ..backoff import Backoff
from ..durations import format_duration
from ..errors import OrasError
from ..oci.errors import RegistryError
from .registry_wait import LOG_EVERY

BETWEEN_LOOKS = Backoff(base=0.5, cap=5.0)  # 0.5, 1, 2, 4, 5, 5, ... seconds; no jitter: a step is not a crowd
Found = TypeVar("Found")


class InputsMissing(OrasError):
    """Inputs that were not there, at once (no ``input-wait``) or at the wait's bound."""


def waiting_message(missing: list[str], bound: float) -> str:
    return f"kubectl-oras: waiting for inputs: {'; '.join(missing)}; giving up in {format_duration(round(bound))}"


def still_waiting_message(missing: list[str], waited: float, left: float) -> str:
    return (f"kubectl-oras: still waiting for inputs after {format_duration(round(waited))}: {'; '.join(missing)}; "
            f"giving up in {format_duration(round(left))}")


def gave_up_message(missing: list[str], waited: float, *, by_timeout: bool) -> str:
    bound = "the step's timeout" if by_timeout else "input-wait"
    return (f"inputs still missing after {format_duration(round(waited, 1))} ({bound}): {'; '.join(missing)}")


def wait_for_inputs(look: Callable[[], tuple[Found, list[str]]], *, bound: float | None, by_timeout: bool = False,
                    clock: Callable[[], float] = time.monotonic, sleep: Callable[[float], None] = time.sleep,
                    log: Callable[[str], None] | None = None) -> Found:
    """What ``look()`` found once it says nothing is missing (one phrase per missing input).

    ``bound`` None: the first look decides, and what it misses fails at once (InputsMissing with
    its phrases). Else looks ``BETWEEN_LOOKS`` apart until ``bound`` seconds have gone, then
    InputsMissing naming what is still missing. A transient registry error while waiting (a 5xx,
    a registry restarting: what the client itself tries again) is one more look that found
    nothing new, and the message at the bound says it; anything else ``look`` raises ends the wait.
    """
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    start = clock()
    found, missing = look()
    if not missing:
        return found
    if bound is None:
        raise InputsMissing("; ".join(missing))
    say(waiting_message(missing, bound))
    logged = clock()
    trouble = ""
    for _ in BETWEEN_LOOKS.sleeps(bound, start=start, clock=clock, sleep=sleep):
        try:
            found, missing = look()
            trouble = ""
        except RegistryError as e:
            if not e.transient:
                raise
            trouble = f" (the registry's last answer: {e})"
        now = clock()
        if not missing:
            say(f"kubectl-oras: every input is there after {format_duration(round(now - start, 1))}")
            return found
        if now - start >= bound:
            break
        if now - logged >= LOG_EVERY:
            say(still_waiting_message(missing, now - start, bound - (now - start)))
            logged = now
    raise InputsMissing(gave_up_message(missing, clock() - start, by_timeout=by_timeout) + trouble)
