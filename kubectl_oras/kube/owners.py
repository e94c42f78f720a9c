"""Read a pod's controlling owner's annotations (the webhook's one API call per pod).

The owner reference comes from the pod, which its author writes: its name is checked before it
goes into a URL, and the call is short, well inside the webhook's own deadline (a slow lookup must
leave time to answer with the pod's own annotations).
"""

from __future__ import annotations

import re
from typing import Any

from .api import DAEMON_SETS, JOBS, REPLICA_SETS, STATEFUL_SETS, Kube, Resource

OWNER_RESOURCES: dict[str, Resource] = {r.kind: r for r in (JOBS, REPLICA_SETS, STATEFUL_SETS, DAEMON_SETS)}
LOOKUP_TIMEOUT = 2.0  # seconds; the webhook configuration gives the whole review 5
_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")  # a DNS subdomain, as these kinds' names are


async def read_owner_annotations(kube: Kube, namespace: str, owner: dict[str, Any]) -> dict[str, str] | None:
    """The owner's annotations, or None for an owner kind whose annotations do not count."""
    resource = OWNER_RESOURCES.get(str(owner.get("kind")))
    name = owner.get("name")
    if resource is None or not isinstance(name, str) or not _OBJECT_NAME.fullmatch(name):
        return None
    obj = await kube.get(resource, name, namespace=namespace, timeout=LOOKUP_TIMEOUT)
    return dict((obj.get("metadata") or {}).get("annotations") or {})
