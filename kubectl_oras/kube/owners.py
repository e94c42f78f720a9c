"""Read a pod's controlling owner's annotations (the webhook's one API call per pod)."""

from __future__ import annotations

from typing import Any

from .api import DAEMON_SETS, JOBS, REPLICA_SETS, STATEFUL_SETS, Kube, Resource

OWNER_RESOURCES: dict[str, Resource] = {r.kind: r for r in (JOBS, REPLICA_SETS, STATEFUL_SETS, DAEMON_SETS)}


async def read_owner_annotations(kube: Kube, namespace: str, owner: dict[str, Any]) -> dict[str, str] | None:
    """The owner's annotations, or None for an owner kind whose annotations do not count."""
    resource = OWNER_RESOURCES.get(str(owner.get("kind")))
    if resource is None or not isinstance(owner.get("name"), str):
        return None
    obj = await kube.get(resource, owner["name"], namespace=namespace)
    return dict((obj.get("metadata") or {}).get("annotations") or {})
