"""The label that marks a namespace holding an OrasCache, and which namespaces should carry it.

The webhook configuration (webhook_configuration.py) fails closed for the pods a Job, ReplicaSet,
StatefulSet or DaemonSet makes in such a namespace: their owner's annotations are invisible to
the apiserver's matchConditions, so only our webhook can tell whether such a pod is a marked step,
and while it is unreachable the pod must wait rather than run without its agent. The leader keeps
the label on exactly the namespaces that hold a cache (runtime/namespace_labels.py), so a webhook
outage never holds up a namespace that has none.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from .cache_objects import DOMAIN

LABEL = f"{DOMAIN}/cache-namespace"
VALUE = "true"
OWNER_KINDS = ("Job", "ReplicaSet", "StatefulSet", "DaemonSet")  # whose annotations the webhook reads


def label_changes(*, holding: Iterable[str], labelled: Iterable[str]) -> dict[str, bool]:
    """Namespace -> True to put the label on, False to take it off, for the namespaces that
    ``holding`` (those with at least one OrasCache) and ``labelled`` (those carrying it) disagree on."""
    want, have = set(holding), set(labelled)
    return {ns: ns in want for ns in sorted(want ^ have)}


def label_patch(on: bool) -> dict[str, Any]:
    """The merge patch that puts the label on a namespace (``on``) or takes it off."""
    return {"metadata": {"labels": {LABEL: VALUE if on else None}}}


def refusal_notice(namespace: str) -> str:
    """What a cache's event says when its namespace starts waiting for the webhook."""
    kinds = ", ".join(OWNER_KINDS[:-1]) + " or " + OWNER_KINDS[-1]
    return (f"namespace {namespace} holds an OrasCache, so it is labelled {LABEL}: while the kubectl-oras webhook "
            f"is unreachable, pods a {kinds} makes here are refused (FailedCreate on their owner) and made once "
            f"it is back, so that a step annotated on its Job never runs without its agent")
