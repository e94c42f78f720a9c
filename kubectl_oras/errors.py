"""The root of the project's errors. ``str(error)`` is the one line a user is shown.

Every folder defines its own errors under ``OrasError`` (``oci/errors.py``, ``pods/``'s
``InvalidAnnotations``, ``kube/errors.py``), so a command, the agent or the webhook catches one
type and prints one line, never a traceback. This module imports nothing: every folder may use it.
"""

from __future__ import annotations


class OrasError(Exception):
    """Base of every failure reported to the user without a traceback."""
