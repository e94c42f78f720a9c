"""Waiting, bounded and saying so, for a registry that does not answer yet.

A workflow submitted right after its OrasCache is created finds the cache's registry pod not
ready: its name may not resolve yet, its port may refuse connections, a gateway may answer 503.
Before their first registry request the agent's pull and push wait until ``GET /v2/`` gets an
answer (any status but 502/503/504: ``oci.transport.judge_status``), for at most
``KUBECTL_ORAS_REGISTRY_WAIT`` (default 300 s) and never longer than the step's own timeout.

The decisions (how long, how often to look, what to say) are plain functions; ``wait_for_registry``
is the loop, with the probe, the clock, the sleep and the log passed in.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

from ..backoff import Backoff
from ..durations import format_duration, parse_duration
from ..errors import OrasError
from ..oci.errors import RegistryUnreachable

if TYPE_CHECKING:
    from ..oci.transport import Probe  # the HTTP stack: only the caller's probe brings it in

WAIT_ENV = "KUBECTL_ORAS_REGISTRY_WAIT"
DEFAULT_WAIT = 300.0
BETWEEN_LOOKS = Backoff(base=0.2, cap=2.0)  # 0.2, 0.4, 0.8, 1.6, 2, 2, ... seconds; no jitter
LOG_EVERY = 15.0  # seconds between "still waiting" lines
PROBE_LIMIT = 5.0  # seconds one look may take: a registry this slow to answer /v2/ is not ready


class InvalidWait(OrasError):
    """KUBECTL_ORAS_REGISTRY_WAIT is not a duration."""


def wait_bound(environ: Mapping[str, str], timeout: float | None) -> tuple[float, bool]:
    """How long to wait, and whether the step's timeout is what bounds it."""
    raw = environ.get(WAIT_ENV)
    wait = DEFAULT_WAIT
    if raw is not None and raw.strip():
        try:
            wait = parse_duration(raw)
        except ValueError as e:
            raise InvalidWait(f"{WAIT_ENV}: {e}") from None
    if timeout is not None and timeout < wait:
        return timeout, True
    return wait, False


def waiting_message(host: str, reason: str, bound: float) -> str:
    return f"kubectl-oras: waiting for registry {host} to answer ({reason}); giving up in {format_duration(bound)}"


def still_waiting_message(host: str, reason: str, waited: float, left: float) -> str:
    return (f"kubectl-oras: still waiting for registry {host} ({reason}) after {format_duration(round(waited))}; "
            f"giving up in {format_duration(round(left))}")


def answered_message(host: str, waited: float) -> str:
    return f"kubectl-oras: registry {host} answered after {format_duration(round(waited, 1))}"


def gave_up_message(host: str, waited: float, reason: str, *, by_timeout: bool, what: str | None = None) -> str:
    bound = "the step's timeout" if by_timeout else f"set {WAIT_ENV} to wait longer"
    doing = f"{what}: " if what else ""
    return f"{doing}registry {host} did not answer for {format_duration(round(waited, 1))} ({reason}); gave up ({bound})"


def wait_for_registry(host: str, probe: Callable[[float], Probe], *, bound: float, by_timeout: bool = False,
                      what: str | None = None, clock: Callable[[], float] = time.monotonic,
                      sleep: Callable[[float], None] = time.sleep, log: Callable[[str], None] | None = None) -> float:
    """Return once ``probe(limit)`` finds the registry up (silently when it is up at once);
    RegistryUnreachable (its message starting with ``what``, when given) once ``bound`` seconds
    have gone without. Returns the seconds waited."""
    say = log or (lambda line: print(line, file=sys.stderr, flush=True))
    if bound <= 0:
        return 0.0
    start = clock()
    answer = probe(min(PROBE_LIMIT, bound))
    if answer.up:
        return 0.0
    say(waiting_message(host, answer.reason, bound))
    logged = clock()
    for waited in BETWEEN_LOOKS.sleeps(bound, start=start, clock=clock, sleep=sleep):
        answer = probe(min(PROBE_LIMIT, bound - waited))
        now = clock()
        if answer.up:
            say(answered_message(host, now - start))
            return now - start
        if now - start >= bound:  # a look can outlast its limit (a name slow to resolve): no "giving up in -2 s"
            break
        if now - logged >= LOG_EVERY:
            say(still_waiting_message(host, answer.reason, now - start, bound - (now - start)))
            logged = now
    raise RegistryUnreachable(gave_up_message(host, clock() - start, answer.reason, by_timeout=by_timeout, what=what),
                              transient=False)
