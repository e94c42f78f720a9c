"""Why a pod is not running, in the words of the kubelet and the scheduler: pure, one answer for
`kubectl oras install` (the controller's pods) and the controller (a cache's registry pod).

The kubelet says what holds a container in ``state.waiting`` (``ImagePullBackOff``,
``CrashLoopBackOff``, ...) and how its last run ended in ``lastState.terminated`` (``OOMKilled``,
an exit code); the scheduler says why a pod has no node in its ``PodScheduled`` condition.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from ..times import parse_rfc3339

# What the kubelet keeps saying, and retrying in vain, until someone changes the pod's spec or what it
# names (an image that does not exist, a Secret that is missing, a container that keeps dying).
STUCK_WAITING = frozenset({"ImagePullBackOff", "ErrImagePull", "InvalidImageName", "ErrImageNeverPull",
                           "CreateContainerConfigError", "CreateContainerError", "RunContainerError",
                           "CrashLoopBackOff"})


@dataclass(frozen=True)
class PodTrouble:
    """Why a pod is not running: a CamelCase ``reason``, the words for people, and whether it is
    ``stuck`` (it cannot get further as it is, rather than on its way)."""

    reason: str
    message: str
    stuck: bool

    @property
    def words(self) -> str:
        return f"{self.reason}: {self.message}" if self.message else self.reason


def _dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def _list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else []


def _last_end(container: dict[str, Any]) -> str:
    """How a container's last run ended: ``OOMKilled, exit code 137``; empty when unknown."""
    ended = _dict(_dict(container.get("lastState")).get("terminated"))
    parts = [str(ended["reason"])] if ended.get("reason") else []
    if isinstance(ended.get("exitCode"), int):
        parts.append(f"exit code {ended['exitCode']}")
    return ", ".join(parts)


RESTARTS_STUCK = 3  # a container that ended this many times and is not ready yet is dying, between back-offs
BACKOFF_RESET = 600  # s: the kubelet forgets a container's back-off once a run lasted this long


def _ran_long(container: dict[str, Any]) -> bool:
    """Whether the container's last run lasted BACKOFF_RESET or more: then it is not crash-looping
    (it served, and died once more), whatever its restart count; unknown times count as short."""
    ended = _dict(_dict(container.get("lastState")).get("terminated"))
    began, finished = parse_rfc3339(ended.get("startedAt")), parse_rfc3339(ended.get("finishedAt"))
    if began is None or finished is None:
        return False
    return (finished - began).total_seconds() >= BACKOFF_RESET


def _container_trouble(container: dict[str, Any]) -> PodTrouble | None:
    name = container.get("name")
    where = f"container {name}: " if isinstance(name, str) and name else ""
    state = _dict(container.get("state"))
    restarts = container.get("restartCount")
    ended = _last_end(container)
    if "running" in state and not container.get("ready") and isinstance(restarts, int) and restarts >= RESTARTS_STUCK \
            and ended and not _ran_long(container):
        # Between two back-offs a crash-looping container runs for a moment: still stuck, not "on its way".
        return PodTrouble("CrashLoopBackOff", f"{where}restarted {restarts} times, its last run ended {ended}", True)
    waiting = _dict(state.get("waiting"))
    reason = waiting.get("reason")
    if not isinstance(reason, str) or not reason or reason in ("ContainerCreating", "PodInitializing"):
        return None
    message = " ".join(str(waiting.get("message") or "").split())
    if reason == "CrashLoopBackOff" and ended:
        message = f"its last run ended {ended}" + (f" ({message})" if message else "")
    stuck = reason in STUCK_WAITING and not (reason == "CrashLoopBackOff" and _ran_long(container))
    return PodTrouble(reason, where + message if message else where.rstrip(": "), stuck)


def pod_trouble(pod: dict[str, Any] | None) -> PodTrouble | None:
    """Why ``pod`` is not running; None when nothing is said against it (running, or nothing
    reported yet). A container's waiting reason first (the most precise), then the scheduler's
    refusal, then a pod on no node yet."""
    if not isinstance(pod, dict):
        return None
    status = _dict(pod.get("status"))
    for key in ("initContainerStatuses", "containerStatuses"):
        for container in _list(status.get(key)):
            found = _container_trouble(_dict(container))
            if found is not None:
                return found
    for condition in _list(status.get("conditions")):
        condition = _dict(condition)
        if condition.get("type") == "PodScheduled" and condition.get("status") == "False":
            reason = str(condition.get("reason") or "Unschedulable")
            message = " ".join(str(condition.get("message") or "").split())
            return PodTrouble(reason, message or "not scheduled", reason == "Unschedulable")
    phase = status.get("phase") or "Pending"
    if phase == "Pending" and not _dict(pod.get("spec")).get("nodeName"):
        return PodTrouble("Pending", "on no node yet", False)
    return None
