"""``$(JOB_COMPLETION_INDEX)`` and ``$(POD_NAME)`` in artifact annotations: found, checked, expanded.

Pure string work: the annotation schema (annotations.py) checks a value's variables and the
pod mutation (injection.py) expands them from the pod's own metadata (docs/annotations.md).
What cannot be known when a pod is admitted (a name the apiserver has yet to generate) is left
for the kubelet, which expands ``$(NAME)`` in an env value from the variables defined before it
in the same container: ``downward_env`` is what the agent containers define first.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

JOB_COMPLETION_INDEX = "JOB_COMPLETION_INDEX"
POD_NAME = "POD_NAME"
VARIABLES = (JOB_COMPLETION_INDEX, POD_NAME)
# The Job controller sets it on each pod of an Indexed Job before creating it (and, since
# Kubernetes 1.28, a label of the same key), so admission sees it.
COMPLETION_INDEX_KEY = "batch.kubernetes.io/job-completion-index"
# A generated name is generateName cut to 58 characters and 5 random [a-z0-9] (the apiserver's
# SimpleNameGenerator); it is set after admission, so admission only knows its shape.
GENERATED_PREFIX_MAX = 58
GENERATED_SUFFIX = "x" * 5  # any of [a-z0-9] is valid wherever the others are: one stands for all
# What a value is checked with when the pod is not known yet (a workload's template): a
# completion index and a name that are valid in a repository and in a tag.
SAMPLES = {JOB_COMPLETION_INDEX: "0", POD_NAME: "pod"}
_REFERENCE = re.compile(r"\$\(([^()]*)\)")
_INDEX = re.compile(r"0|[1-9][0-9]{0,8}")
DOWNWARD_FIELDS = {
    POD_NAME: "metadata.name",
    JOB_COMPLETION_INDEX: f"metadata.annotations['{COMPLETION_INDEX_KEY}']",
}


class VariableError(ValueError):
    """A ``$(NAME)`` that cannot be used; the message says which (the caller names the annotation)."""


def variables_in(text: str) -> tuple[str, ...]:
    """The variables ``text`` refers to, in order, each once; VariableError for an unknown one."""
    found: list[str] = []
    for match in _REFERENCE.finditer(text):
        name = match.group(1)
        if name not in VARIABLES:
            raise VariableError(f"$({name}) is not a variable kubectl-oras expands; use "
                                f"{' or '.join(f'$({v})' for v in VARIABLES)}")
        if name not in found:
            found.append(name)
    return tuple(found)


def expand(text: str, values: Mapping[str, str]) -> str:
    """``text`` with each ``$(NAME)`` that ``values`` has replaced; the others left as they are."""
    return _REFERENCE.sub(lambda m: values.get(m.group(1), m.group(0)), text)


def sample(text: str) -> str:
    """``text`` with every variable replaced by a value of the kind it will have (SAMPLES)."""
    return expand(text, SAMPLES)


def generated_name_sample(generate_name: str) -> str:
    """A name the apiserver may generate from ``generate_name``: as long as any, and as valid."""
    return generate_name[:GENERATED_PREFIX_MAX] + GENERATED_SUFFIX


def completion_index(metadata: Mapping[str, Any]) -> str | None:
    """The pod's completion index (its annotation, else its label), or None when it has none."""
    for field in ("annotations", "labels"):
        values = metadata.get(field)
        if isinstance(values, Mapping) and isinstance(values.get(COMPLETION_INDEX_KEY), str):
            return values[COMPLETION_INDEX_KEY]
    return None


def is_completion_index(value: str) -> bool:
    return _INDEX.fullmatch(value) is not None


def downward_env(names: tuple[str, ...] | list[str]) -> list[dict[str, Any]]:
    """Env entries defining ``names`` from the pod's own metadata (the downward API), to come before
    any value that refers to them."""
    return [{"name": name, "valueFrom": {"fieldRef": {"apiVersion": "v1", "fieldPath": DOWNWARD_FIELDS[name]}}}
            for name in VARIABLES if name in names]
