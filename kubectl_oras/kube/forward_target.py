"""Which pod and port a port-forward to a Service goes to, as ``kubectl port-forward svc/NAME PORT``
chooses: pure functions of the Service and its pods (plain dicts).

The Service's port (by number or name) gives the targetPort, a number or the name of a container
port; the selector gives the pods; among them, one that is Running, Ready and not being deleted,
the newest first (after a pod is replaced, the new one), then by name.
"""

from __future__ import annotations

from typing import Any

from .errors import NoReadyPod, PortForwardError


def service_port(service: dict[str, Any], port: int | str) -> int | str:
    """The targetPort behind the Service's ``port`` (its number or its name): a number, or the name
    of a container port. A port without targetPort goes to the same number."""
    spec = service.get("spec") or {}
    ports = spec.get("ports") or []
    for entry in ports:
        if entry.get("port") == port or (isinstance(port, str) and entry.get("name") == port):
            target = entry.get("targetPort", entry.get("port"))
            if isinstance(target, str) and target.isdigit():
                return int(target)
            return target if isinstance(target, (int, str)) and target != "" else int(entry["port"])
    have = ", ".join(f"{p.get('port')}" + (f" ({p['name']})" if p.get("name") else "") for p in ports) or "none"
    raise PortForwardError(f"service {_name(service)} has no port {port} (its ports: {have})")


def selector(service: dict[str, Any]) -> str:
    """The Service's pod selector as a label selector string."""
    labels = (service.get("spec") or {}).get("selector") or {}
    if not labels:
        raise PortForwardError(f"service {_name(service)} has no selector: no pods to forward to")
    return ",".join(f"{k}={v}" for k, v in sorted(labels.items()))


def container_port(pod: dict[str, Any], target: int | str) -> int | None:
    """The port number ``target`` means in this pod (a named port is looked up in its containers)."""
    if isinstance(target, int):
        return target
    for container in (pod.get("spec") or {}).get("containers") or []:
        for p in container.get("ports") or []:
            if p.get("name") == target and isinstance(p.get("containerPort"), int):
                return int(p["containerPort"])
    return None


def is_ready(pod: dict[str, Any]) -> bool:
    status = pod.get("status") or {}
    return (status.get("phase") == "Running" and not (pod.get("metadata") or {}).get("deletionTimestamp")
            and any(c.get("type") == "Ready" and c.get("status") == "True" for c in status.get("conditions") or []))


def pod_state(pod: dict[str, Any]) -> str:
    """How a pod that is not chosen stands, in a few words: "oras-0 Pending (ContainerCreating)"."""
    name = (pod.get("metadata") or {}).get("name", "?")
    status = pod.get("status") or {}
    words = [status.get("phase") or "Unknown"]
    reasons = [state.get("reason") for c in status.get("containerStatuses") or []
               for state in ((c.get("state") or {}).get("waiting"), (c.get("state") or {}).get("terminated")) if state]
    if reasons and reasons[0]:
        words.append(f"({reasons[0]})")
    if (pod.get("metadata") or {}).get("deletionTimestamp"):
        words.append("terminating")
    elif words[0] == "Running" and not is_ready(pod):
        words.append("not ready")
    return f"{name} {' '.join(words)}"


def choose_pod(pods: list[dict[str, Any]], target: int | str, *, where: str) -> tuple[str, int]:
    """(pod name, port number) of the pod to forward to; ``NoReadyPod`` saying each pod's state
    when none will do. ``where`` names the Service ("service lab/oras")."""
    candidates = []
    for pod in pods:
        port = container_port(pod, target)
        if is_ready(pod) and port is not None:
            meta = pod.get("metadata") or {}
            candidates.append((meta.get("creationTimestamp") or "", meta.get("name") or "", port))
    if candidates:
        newest = max(c[0] for c in candidates)
        _, name, port = min(c for c in candidates if c[0] == newest)
        return name, port
    if not pods:
        raise NoReadyPod(f"no pod behind {where}: its selector matches none")
    named = f" with a port named {target!r}" if any(map(is_ready, pods)) else ""  # ready, but not that port
    states = ", ".join(pod_state(p) for p in sorted(pods, key=lambda p: (p.get("metadata") or {}).get("name", ""))[:5])
    more = f" and {len(pods) - 5} more" if len(pods) > 5 else ""
    raise NoReadyPod(f"no ready pod{named} behind {where}: {states}{more}")


def _name(service: dict[str, Any]) -> str:
    meta = service.get("metadata") or {}
    return f"{meta.get('namespace', '?')}/{meta.get('name', '?')}"
