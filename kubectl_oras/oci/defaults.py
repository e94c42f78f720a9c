"""The engine's defaults as plain data: the command line shows them in its help without loading
the engine (``transport.py`` applies the timeouts, ``manifest.py`` writes the artifact type)."""

from __future__ import annotations

from dataclasses import dataclass

DEFAULT_ARTIFACT_TYPE = "application/vnd.unknown.artifact.v1"


@dataclass(frozen=True)
class Timeouts:
    """Seconds to wait. ``total`` bounds a whole command (every request and every retry of it)."""

    connect: float = 10.0
    read: float = 30.0  # between bytes, not for the whole transfer
    total: float | None = None  # none by default: a big artifact may take as long as it takes
