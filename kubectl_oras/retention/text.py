"""Text a registry supplies, made safe to show in a report, a status, an Event or a log."""

from __future__ import annotations

MAX_TEXT = 300  # characters


def clean(text: object, limit: int = MAX_TEXT) -> str:
    """``text`` with control characters escaped, and at most ``limit`` characters long."""
    out = "".join(c if c.isprintable() else repr(c)[1:-1] for c in str(text))
    return out if len(out) <= limit else out[: limit - 1] + "…"
