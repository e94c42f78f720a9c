"""Times as RFC 3339 text: the one reader and the one writer of them.

They are read from a manifest's ``created`` annotation (a registry's, so anything), from the
apiserver's Time and MicroTime fields (a Lease's renewTime, a container's startedAt) and from the
controller's own status; they are written in manifests, in an OrasCache's status and Events, and
in a Lease. A leaf module (it imports nothing of the project), so every folder reads and writes
them the same way.
"""

from __future__ import annotations

import datetime as _dt
import re

# The longest text read as a time: an RFC 3339 time with nine fraction digits and an offset is 35
# characters; a longer one is none, and is refused before a pattern reads it.
MAX_TEXT = 64
_LONG_FRACTION = re.compile(r"(\.\d{6})\d+")


def parse_rfc3339(value: object, *, zone_required: bool = False) -> _dt.datetime | None:
    """``value`` as an aware time in UTC; None when it is not a string holding a time.

    Any number of fraction digits is read (past six, to the microsecond), ``Z`` or ``z`` as UTC.
    RFC 3339 requires an offset: a time without one is None with ``zone_required`` (it cannot say
    when it was) and read as UTC otherwise. A time past what a datetime holds in UTC
    (``9999-12-31T23:59:59-23:59``) is None.
    """
    if not isinstance(value, str) or not value or len(value) > MAX_TEXT:
        return None
    text = value.strip()
    if text.endswith(("Z", "z")):
        text = text[:-1] + "+00:00"
    # fromisoformat (3.11) reads fractions of any length only up to microseconds: trim the rest.
    text = _LONG_FRACTION.sub(r"\1", text)
    try:
        moment = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        if zone_required:
            return None
        moment = moment.replace(tzinfo=_dt.UTC)
    try:
        return moment.astimezone(_dt.UTC)
    except OverflowError:
        return None


def format_rfc3339(moment: _dt.datetime, *, microseconds: bool = False) -> str:
    """``moment`` in UTC as ``2026-03-01T12:00:00Z``; with ``microseconds``, always six fraction
    digits (``2026-03-01T12:00:00.000000Z``), as the apiserver writes a MicroTime."""
    pattern = "%Y-%m-%dT%H:%M:%S.%fZ" if microseconds else "%Y-%m-%dT%H:%M:%SZ"
    return moment.astimezone(_dt.UTC).strftime(pattern)


def now_rfc3339() -> str:
    """The time now, as ``format_rfc3339`` writes it."""
    return format_rfc3339(_dt.datetime.now(_dt.UTC))
