"""What a producer of an artifact was, as plain data, and the manifest annotations that say it.

A ``Produced`` is built by the sidecar from its step description, the downward API and the
share (never from its environment's other values: a credential never reaches it), or by
`kubectl oras push` from the user's context. ``manifest_annotations`` writes it on the output manifest;
``read_annotations`` reads a manifest's back (any registry's: anything may be there).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from ..pods.step import EXIT_CODE_ANNOTATION
from ..release import __version__

AGENT_BUILDER = f"kubectl-oras agent {__version__}"  # the sidecar injected into a step's pod
CLI_BUILDER = f"kubectl-oras {__version__}"  # `kubectl oras push`

PREFIX = "dev.kubectl-oras."
NAMESPACE = PREFIX + "namespace"
WORKLOAD = PREFIX + "workload"  # Kind/name of the pod's controller (its Job), as ownerReferences say
POD = PREFIX + "pod"
IMAGE = PREFIX + "image"  # the step container's image as its spec names it (by digest when pinned)
NODE = PREFIX + "node"
EXIT_CODE = EXIT_CODE_ANNOTATION  # the one key the sidecar always wrote
STARTED = PREFIX + "started"
FINISHED = PREFIX + "finished"
INPUTS = PREFIX + "inputs"  # each input pulled, NAME@DIGEST, comma-separated
PUSHED_BY = PREFIX + "pushed-by"  # `kubectl oras push`: the kube context, or LOCAL_USER
LOCAL_USER = "local user"
KEYS = (NAMESPACE, WORKLOAD, POD, IMAGE, NODE, EXIT_CODE, STARTED, FINISHED, INPUTS, PUSHED_BY)


@dataclass(frozen=True)
class Input:
    """An artifact a step pulled: the name it asked for (``repo:tag``, under the step's registry) and
    the manifest digest it got."""

    name: str
    digest: str

    def __str__(self) -> str:
        return f"{self.name}@{self.digest}"


@dataclass(frozen=True)
class Produced:
    """Who made an artifact. A step's fields are empty for a push by hand, and ``pushed_by`` for a step."""

    builder: str  # what wrote it: `kubectl-oras agent 0.2.0`, `kubectl-oras 0.2.0`
    namespace: str = ""
    workload: str = ""
    pod: str = ""
    node: str = ""
    image: str = ""
    exit_code: int | None = None
    started: str = ""
    finished: str = ""
    inputs: tuple[Input, ...] = ()
    argv: tuple[str, ...] = ()  # the step's command and args as its spec writes them ($(VAR) not expanded)
    shaped_by: Mapping[str, str] = field(default_factory=dict)  # the kubectl-oras annotations of the step
    pushed_by: str = ""
    paths: tuple[str, ...] = ()  # a push by hand: the paths given


def manifest_annotations(produced: Produced) -> dict[str, str]:
    """The manifest annotations that say who made it; an empty field is left out."""
    values = {
        NAMESPACE: produced.namespace, WORKLOAD: produced.workload, POD: produced.pod, IMAGE: produced.image,
        NODE: produced.node, EXIT_CODE: "" if produced.exit_code is None else str(produced.exit_code),
        STARTED: produced.started, FINISHED: produced.finished,
        INPUTS: ",".join(str(i) for i in produced.inputs), PUSHED_BY: produced.pushed_by,
    }
    return {key: value for key, value in values.items() if value}


def read_annotations(found: object) -> dict[str, str]:
    """The provenance annotations a manifest holds (strings only; anything else is not ours)."""
    if not isinstance(found, dict):
        return {}
    return {k: v for k, v in found.items() if k in KEYS and isinstance(v, str)}


def producer_said(found: object) -> str:
    """Who made it, in a few words: ``Job/run-7 pod run-7-x2k``, ``pushed by context lab``, or ""."""
    said = read_annotations(found)
    if PUSHED_BY in said:
        return f"pushed by {said[PUSHED_BY]}"
    return " ".join(f"{what} {said[key]}" if what else said[key]
                    for what, key in (("", WORKLOAD), ("pod", POD)) if said.get(key))


def inputs_in(value: str) -> list[Input]:
    """The ``INPUTS`` annotation read back: entries without a digest are skipped."""
    found = []
    for entry in value.split(","):
        name, at, digest = entry.strip().rpartition("@")
        if at and name and digest.startswith(("sha256:", "sha512:")):
            found.append(Input(name, digest))
    return found
