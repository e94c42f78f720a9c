"""`kubectl oras logs`' pure part: which pods a workload has, and which of their containers' logs
to show, in the order they ran, each under a header naming it (docs/cli.md).

A step pod's containers run in this order (docs/pod-protocol.md): the agent's pull (the
``oras-pull`` init container, when the pod has one: one injected before the sidecar pulled under
every restart policy), the pod's own init containers, the step (the launcher, beside the pod's
other containers), and the sidecar, ``oras-push``, whose log holds the push (and the pull before
it, in a pod without ``oras-pull``). A pod without the agent shows its init containers, then its containers.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..errors import OrasError
from .injection import PULL_CONTAINER, PUSH_CONTAINER
from .step_reports import launcher_name, step_of

JOBSET_LABEL = "jobset.sigs.k8s.io/jobset-name"  # the JobSet controller's label on every pod it makes


@dataclass(frozen=True)
class ContainerLog:
    """One container's log to show: ``waiting`` says why there is none yet (empty: there is one)."""

    pod: str
    container: str
    role: str
    waiting: str = ""

    @property
    def header(self) -> str:
        return f"==> pod/{self.pod} container {self.container} ({self.role}) <=="


def pod_selector(kind: str, obj: dict[str, Any]) -> str:
    """The label selector of the pods ``obj`` (a workload of ``kind``, read from the cluster) makes."""
    metadata = obj.get("metadata") or {}
    if kind == "JobSet":
        return f"{JOBSET_LABEL}={metadata.get('name')}"
    selector = (obj.get("spec") or {}).get("selector") or {}
    labels = selector.get("matchLabels") if isinstance(selector, dict) else None
    if not isinstance(labels, dict) or not labels or selector.get("matchExpressions"):
        raise OrasError(f"{kind.lower()}/{metadata.get('name')}: its spec.selector is not labels alone "
                        "(matchLabels), so its pods cannot be listed by it; give pod/NAME instead")
    return ",".join(f"{key}={value}" for key, value in sorted(labels.items()))


def owned_by(objects: list[dict[str, Any]], kind: str, name: str) -> list[dict[str, Any]]:
    """The objects whose ownerReferences name ``kind``/``name`` (a CronJob's Jobs)."""
    return [o for o in objects
            if any(ref.get("kind") == kind and ref.get("name") == name
                   for ref in (o.get("metadata") or {}).get("ownerReferences") or [] if isinstance(ref, dict))]


def in_order(pods: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Pods as they were made: by creationTimestamp (RFC 3339 in UTC sorts as text), then name."""
    def made(pod: dict[str, Any]) -> tuple[str, str]:
        metadata = pod.get("metadata") or {}
        return str(metadata.get("creationTimestamp") or ""), str(metadata.get("name") or "")
    return sorted(pods, key=made)


def _waiting(status: dict[str, Any] | None, phase: str) -> str:
    """Why a container has no log yet; empty when it has one (it runs, or ran)."""
    if status is None:
        return f"it has not started (the pod is {phase or 'Pending'})"
    state = status.get("state") or {}
    if "running" in state or "terminated" in state or "terminated" in (status.get("lastState") or {}):
        return ""
    waiting = state.get("waiting") or {}
    why = ": ".join(str(w) for w in (waiting.get("reason"), waiting.get("message")) if w)
    return "it has not started" + (f" ({why})" if why else "")


def container_logs(pod: dict[str, Any], *, container: str | None = None) -> list[ContainerLog]:
    """The containers of ``pod`` whose logs to show, in the order they ran (only ``container``
    when given: an error naming those the pod has when it has none of that name)."""
    spec, status = pod.get("spec") or {}, pod.get("status") or {}
    name = str((pod.get("metadata") or {}).get("name"))
    step = step_of(pod)
    launcher = launcher_name(pod)
    inits = [str(c.get("name")) for c in spec.get("initContainers") or [] if isinstance(c, dict)]
    mains = [str(c.get("name")) for c in spec.get("containers") or [] if isinstance(c, dict)]
    roles: dict[str, str] = {}
    if step is not None:
        if PULL_CONTAINER in inits:
            roles[PULL_CONTAINER] = "the agent: pulls the inputs"
        roles.update({c: "init container" for c in inits if c not in (PULL_CONTAINER, PUSH_CONTAINER)})
        roles.update({c: "the step" if c == launcher else "container" for c in mains})
        roles[PUSH_CONTAINER] = ("the agent: pulls the inputs, then pushes the outputs" if step.pull_in_sidecar
                                 else "the agent: pushes the outputs")
    else:
        roles.update({c: "init container" for c in inits})
        roles.update({c: "container" for c in mains})
    if container is not None:
        if container not in roles:
            raise OrasError(f"pod/{name} has no container {container!r} (it has {', '.join(roles)})")
        roles = {container: roles[container]}
    statuses = {str(s.get("name")): s for field in ("initContainerStatuses", "containerStatuses")
                for s in status.get(field) or [] if isinstance(s, dict)}
    phase = str(status.get("phase") or "")
    return [ContainerLog(name, c, role, _waiting(statuses.get(c), phase)) for c, role in roles.items()]
