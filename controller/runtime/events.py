"""Events on OrasCaches (what `kubectl describe orascache` shows): what the controller did, and
every failure. The same event is not sent again within ``repeat_after`` seconds, so a cache that
keeps failing the same way does not flood the namespace. An event recorded ``once`` has a name
its caller derives from what it says, so the apiserver refuses it a second time, whichever
replica or run of the controller sends it (the step pods' Events, step_events.py)."""

from __future__ import annotations

import logging
import secrets
import time
from typing import Any

from kubectl_oras.kube.api import Kube, Resource
from kubectl_oras.kube.errors import Conflict, KubeError
from kubectl_oras.times import now_rfc3339

log = logging.getLogger("kubectl_oras.controller")
CORE_EVENTS = Resource("v1", "Event", "events")
COMPONENT = "kubectl-oras"


def event_body(obj: dict[str, Any], *, kind: str, reason: str, message: str, now: str, instance: str,
               name: str | None = None) -> dict[str, Any]:
    metadata = obj.get("metadata") or {}
    return {
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": name or f"{metadata.get('name')}.{secrets.token_hex(8)}",
                     "namespace": metadata.get("namespace")},
        "involvedObject": {"apiVersion": obj.get("apiVersion"), "kind": obj.get("kind"), "name": metadata.get("name"),
                           "namespace": metadata.get("namespace"), "uid": metadata.get("uid"),
                           "resourceVersion": metadata.get("resourceVersion")},
        "type": kind, "reason": reason, "message": message[:1024],
        "source": {"component": COMPONENT}, "reportingComponent": COMPONENT, "reportingInstance": instance,
        "firstTimestamp": now, "lastTimestamp": now, "count": 1,
    }


class EventRecorder:
    def __init__(self, kube: Kube, *, instance: str, repeat_after: float = 600.0) -> None:
        self.kube, self.instance, self.repeat_after = kube, instance, repeat_after
        self._sent: dict[tuple[str, str, str], float] = {}

    async def emit(self, obj: dict[str, Any], kind: str, reason: str, message: str) -> None:
        """Send an event; a failure to send is logged, never raised (the event is news, not work)."""
        metadata = obj.get("metadata") or {}
        key = (str(metadata.get("uid")), reason, message)
        last = self._sent.get(key)
        if last is not None and time.monotonic() - last < self.repeat_after:
            return
        log.log(logging.WARNING if kind == "Warning" else logging.INFO, "%s/%s: %s: %s",
                metadata.get("namespace"), metadata.get("name"), reason, message)
        body = event_body(obj, kind=kind, reason=reason, message=message, now=now_rfc3339(), instance=self.instance)
        try:
            await self.kube.create(CORE_EVENTS, body, namespace=metadata.get("namespace"))
        except KubeError as e:
            log.warning("could not record event %s on %s/%s: %s", reason, metadata.get("namespace"), metadata.get("name"), e)
            return
        self._sent[key] = time.monotonic()
        if len(self._sent) > 10_000:  # bounded: forget the oldest
            for old in sorted(self._sent, key=self._sent.__getitem__)[:5_000]:
                del self._sent[old]

    async def once(self, obj: dict[str, Any], kind: str, reason: str, message: str, *, name: str) -> bool:
        """Record an event named ``name`` unless one of that name is there: whether it is now
        (False: the apiserver refused it for another reason, logged; the caller may try again)."""
        metadata = obj.get("metadata") or {}
        body = event_body(obj, kind=kind, reason=reason, message=message, now=now_rfc3339(), instance=self.instance,
                          name=name)
        try:
            await self.kube.create(CORE_EVENTS, body, namespace=metadata.get("namespace"))
        except Conflict:  # recorded before: by this run, another replica or an earlier leader
            return True
        except KubeError as e:
            log.warning("could not record event %s on %s/%s: %s", reason, metadata.get("namespace"), metadata.get("name"), e)
            return False
        log.log(logging.WARNING if kind == "Warning" else logging.INFO, "%s/%s: %s: %s",
                metadata.get("namespace"), metadata.get("name"), reason, message)
        return True
