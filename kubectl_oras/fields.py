"""The fields of a Kubernetes object as a user wrote it (a pod, an OrasCache), read where the code
needs them: a field of the wrong kind is refused with the caller's error, naming the field and
quoting what was there, and an absent one (null) reads as empty.

The apiserver's schemas refuse most such objects first; these readers are for the ones that get
past a schema (a CRD applied from an older manifest, a pod read from a file) and for the messages
they owe the user. A leaf module (it imports nothing of the project), so the pod mutation and the
controller read fields the same way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any


def shown(value: object) -> str:
    """A value as a message quotes it: strings as Python does, the rest as JSON (true, null, [...]), cut short."""
    text = repr(value) if isinstance(value, str) else json.dumps(value, default=str)
    return text if len(text) <= 60 else text[:57] + "..."


@dataclass(frozen=True)
class FieldReader:
    """Reads fields, raising ``error`` (the caller's class, e.g. InvalidPod) with a message that
    names the field, as the caller spells it (``spec.storage.pvc``, ``spec.containers[0].env``)."""

    error: type[Exception]

    def map(self, value: Any, field: str) -> dict[str, Any]:
        """``value`` when it is a map; {} when absent (null)."""
        if value is None:
            return {}
        if not isinstance(value, dict):
            raise self.error(f"{field} must be a map, not {shown(value)}")
        return value

    def maps(self, value: Any, field: str) -> list[dict[str, Any]]:
        """``value`` when it is a list of maps; [] when absent (null)."""
        if value is None:
            return []
        if not isinstance(value, list):
            raise self.error(f"{field} must be a list, not {shown(value)}")
        for i, item in enumerate(value):
            if not isinstance(item, dict):
                raise self.error(f"{field}[{i}] must be a map, not {shown(item)}")
        return value

    def string(self, value: Any, field: str) -> str | None:
        """``value`` when it is a string, not empty; None when absent (null)."""
        if value is None:
            return None
        if not isinstance(value, str) or not value:
            raise self.error(f"{field} must be a non-empty string")
        return value

    def flag(self, value: Any, field: str, *, default: bool) -> bool:
        """``value`` when it is true or false; ``default`` when absent (null)."""
        if value is None:
            return default
        if not isinstance(value, bool):
            raise self.error(f"{field} must be true or false, not {shown(value)}")
        return value
