"""Durations as users write them: ``90``, ``90s``, ``5m``, ``1h30m``, ``250ms``.

A leaf module (it imports nothing of the project), so flags, environment variables, annotations
and the controller's specs all read durations the same way, and within one bound: a longer one
(``3000000h``) is refused naming what gave it, instead of overflowing a timer once it is used.
"""

from __future__ import annotations

import re

_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
# The form of a retention duration (an OrasCache's spec.retention.maxAge and .interval, and the
# flags that set or apply one), matched whole: a whole number of seconds, or parts such as 1h30m.
# The CRD (manifests/crd-orascache.yaml) carries the same pattern, anchored, and refuses zero
# with a rule asking for a digit 1-9: tests/unit/test_durations.py holds the two equal.
RETENTION_DURATION = re.compile(r"([0-9]+(\.[0-9]+)?(ms|s|m|h))+|[0-9]+")
_UNIT_SECONDS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}
# Ten years: longer than any wait or age anyone means, and far inside what the clocks that use a
# duration can hold (a process timer, a socket's timeout: about 292 years of nanoseconds).
MAX_SECONDS = 87600 * 3600.0
MAX_TEXT = "87600h (10 years)"


def parse_duration(text: str) -> float:
    """Seconds in ``text``; ValueError with the accepted forms when it is not a duration, or
    saying the bound when it is longer than ``MAX_SECONDS``."""
    value = text.strip()
    if re.fullmatch(r"\d+(?:\.\d+)?", value):
        return within_bound(float(value), text)
    parts = _PART.findall(value)
    if not value or "".join(n + u for n, u in parts) != value:
        raise ValueError(f"{text!r} is not a duration (write e.g. 90, 90s, 5m, 1h30m)")
    return within_bound(sum(float(n) * _UNIT_SECONDS[u] for n, u in parts), text)


def within_bound(seconds: float, text: object) -> float:
    """``seconds`` if at most ``MAX_SECONDS``; ValueError naming ``text`` (what was written) otherwise.
    For durations that arrive as numbers (the step description's seconds, a controller flag)."""
    if not seconds <= MAX_SECONDS:  # also refuses nan
        raise ValueError(f"{text!r} is longer than {MAX_TEXT}, the longest duration taken")
    return seconds


def positive_seconds(seconds: float, text: object) -> float:
    """``seconds`` of a limit, which must be more than zero and within ``MAX_SECONDS``; ValueError
    naming ``text`` (what was written) otherwise. For limits that arrive as numbers (the step
    description's timeout, a controller flag); ``positive_duration`` reads one that is text."""
    if seconds <= 0:
        raise ValueError(f"must be more than zero, not {text!r}")
    return within_bound(seconds, text)  # nan too


def positive_duration(text: str) -> float:
    """``parse_duration`` of a limit, which must be more than zero; ValueError saying which it is not."""
    return positive_seconds(parse_duration(text), text)


def retention_duration(text: str) -> float:
    """Seconds in a retention duration: the CRD's form and more than zero, or ValueError saying
    which it is not. Zero is refused everywhere: ``maxAge: 0`` would put every tag over it, so each
    run would delete them all (``keepLast: 0`` says that on purpose), and an ``interval`` of 0 asks
    for nothing a real interval does not."""
    if not RETENTION_DURATION.fullmatch(text):
        raise ValueError(f"{text!r} is not a retention duration (a number of seconds, or e.g. 90s, 10m, 720h, 1h30m)")
    return positive_duration(text)


def min_age_duration(text: str) -> float:
    """Seconds in a retention ``minAge``: the form of ``retention_duration``, where zero is allowed
    (no minimum: the limits alone decide), or ValueError saying which it is not."""
    if not RETENTION_DURATION.fullmatch(text):
        raise ValueError(f"{text!r} is not a retention duration (a number of seconds, or e.g. 90s, 10m, 720h, 1h30m)")
    return within_bound(parse_duration(text), text)


def format_duration(seconds: float) -> str:
    """A short human form: ``45 s``, ``2.5 s``, ``3 min``."""
    if seconds >= 120:
        return f"{seconds / 60:g} min"
    return f"{seconds:g} s"
