"""An OrasCache's status from what the controller sees: pure, so every case is a unit test.

Conditions follow the Kubernetes conventions: Ready, Progressing and Degraded, each with a
CamelCase reason, a message for people, the generation it speaks of, and a lastTransitionTime
that moves only when the condition's status does.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from kubectl_oras.orascache import REGISTRY_CANNOT_START
from kubectl_oras.pods.pod_state import pod_trouble

from .cache_objects import running_storage
from .cache_spec import BLOCKING, CacheSpec


@dataclass(frozen=True)
class Note:
    """A reason and a message: a problem (Degraded) or what is under way (Progressing)."""

    reason: str
    message: str


def _condition(kind: str, status: bool, reason: str, message: str, *, generation: int,
               previous: list[dict[str, Any]], now: str) -> dict[str, Any]:
    value = "True" if status else "False"
    before = next((c for c in previous if isinstance(c, dict) and c.get("type") == kind), None)
    since = before.get("lastTransitionTime") if before and before.get("status") == value else None
    return {"type": kind, "status": value, "reason": reason, "message": message, "observedGeneration": generation,
            "lastTransitionTime": since or now}


def registry_state(spec: CacheSpec, statefulset: dict[str, Any] | None, service: dict[str, Any] | None) -> tuple[bool, Note]:
    """(ready, why) for a cache that deploys a registry."""
    if statefulset is None or service is None:
        missing = " and ".join(k for k, v in (("StatefulSet", statefulset), ("Service", service)) if v is None)
        return False, Note("Creating", f"creating the registry's {missing}")
    status = statefulset.get("status") or {}
    generation = (statefulset.get("metadata") or {}).get("generation") or 0
    pod = f"{spec.name}-0"
    # A StatefulSet just made has no status yet: waiting for its pod, not rolling.
    seen = status.get("observedGeneration")
    if (seen is not None and seen < generation) or \
            (status.get("updateRevision") and status.get("currentRevision") != status.get("updateRevision")):
        return False, Note("Rolling", f"the registry pod {pod} is being replaced with the new spec")
    if (status.get("readyReplicas") or 0) >= 1:
        return True, Note("RegistryReady", f"the registry answers at {spec.endpoint}")
    return False, Note("RegistryNotReady", f"waiting for the registry pod {pod} to be ready")


def claim_name(spec: CacheSpec) -> str:
    """The registry pod's PersistentVolumeClaim: the StatefulSet's claim template ``data``, pod 0."""
    return f"data-{spec.name}-0"


CLAIM_STUCK = ("FailedBinding",)  # a claim's Normal events that still mean it cannot be bound as it is


def _when(event: dict[str, Any]) -> str:
    series = event.get("series")
    seen = series.get("lastObservedTime") if isinstance(series, dict) else None
    return str(event.get("lastTimestamp") or seen or event.get("eventTime")
               or (event.get("metadata") or {}).get("creationTimestamp") or "")


def registry_trouble(spec: CacheSpec, *, pod: dict[str, Any] | None, claim: dict[str, Any] | None = None,
                     claim_events: Sequence[dict[str, Any]] = ()) -> Note | None:
    """Why the registry pod cannot start, when it is stuck (None while it is on its way): its
    claim's, when the claim is Pending and the volume controller said why (the claim itself holds
    no reason: only its Events do), else the pod's own (pods/pod_state.py). ``claim_events`` are
    the claim's events: its Warnings count (ProvisioningFailed: a StorageClass that does not exist,
    a provisioner's error), and FailedBinding, which the volume controller sends as a Normal event
    ("no persistent volumes available for this claim and no storage class is set"); not
    WaitForFirstConsumer or ExternalProvisioning, which it says on the way too."""
    said = [e for e in claim_events if isinstance(e, dict) and (e.get("type") == "Warning" or e.get("reason") in CLAIM_STUCK)]
    if isinstance(claim, dict) and (claim.get("status") or {}).get("phase", "Pending") == "Pending" and said:
        last = max(said, key=_when)
        words = " ".join(str(last.get("message") or "").split())
        return Note(REGISTRY_CANNOT_START, f"its PersistentVolumeClaim {claim_name(spec)} is Pending: "
                                           f"{last.get('reason') or 'Warning'}" + (f": {words}" if words else ""))
    trouble = pod_trouble(pod)
    metadata = pod.get("metadata") if isinstance(pod, dict) else None
    going = isinstance(metadata, dict) and metadata.get("deletionTimestamp")
    if trouble is None or not trouble.stuck or going:  # a pod being deleted speaks of the spec before
        return None
    return Note(REGISTRY_CANNOT_START, f"the registry pod {spec.name}-0 cannot start: {trouble.words}")


ARTIFACTS_LOST = "ArtifactsLost"  # the condition, and the Warning event sent when it turns True
REGISTRY_POD_REPLACED = "RegistryPodReplaced"  # its reason
POD_UID = "registryPodUID"  # the status key: the registry pod the controller saw last


def _pod_uid(pod: dict[str, Any] | None) -> str:
    metadata = pod.get("metadata") if isinstance(pod, dict) else None
    uid = metadata.get("uid") if isinstance(metadata, dict) else None
    return uid if isinstance(uid, str) else ""


def artifacts_lost(spec: CacheSpec | None, *, previous: dict[str, Any], pod: dict[str, Any] | None, generation: int,
                   now: str, holds_artifacts: bool = False) -> tuple[str, dict[str, Any] | None]:
    """(the registry pod uid to remember, the ArtifactsLost condition or None).

    An emptyDir lives and dies with its pod: a registry pod of another uid than the one seen last
    started empty, so the artifacts pushed before are gone. The uid is remembered in the status,
    so a controller that restarts sees no loss, and the first pod of a cache is none (nothing was
    seen before it). A claim keeps its data across pods: a PVC cache never says it. The condition
    stays until the cache holds artifacts again (``holds_artifacts``: its registry lists a
    repository), and goes then; no pod (deleted, not made again yet) changes nothing."""
    found = previous.get("conditions")
    before = next((c for c in found if isinstance(c, dict) and c.get("type") == ARTIFACTS_LOST and
                   c.get("status") == "True"), None) if isinstance(found, list) else None
    seen = previous.get(POD_UID)
    seen = seen if isinstance(seen, str) else ""
    current = _pod_uid(pod)
    if spec is None or spec.storage.kind != "emptyDir" or not spec.deploy:
        return current or seen, None if spec is not None else before
    if seen and current and current != seen:
        message = (f"the registry pod {spec.name}-0 was replaced (pod uid {seen}, now {current}); its storage is an "
                   f"emptyDir, so every artifact pushed to this cache before is lost; this stays until the cache "
                   f"holds artifacts again (spec.storage.pvc keeps them across registry pods)")
        return current, {"type": ARTIFACTS_LOST, "status": "True", "reason": REGISTRY_POD_REPLACED, "message": message,
                         "observedGeneration": generation, "lastTransitionTime": now}
    if before is not None and not holds_artifacts:
        return current or seen, {**before, "observedGeneration": generation}
    return current or seen, None


def cache_status(spec: CacheSpec | None, *, generation: int, previous: dict[str, Any] | None, now: str,
                 statefulset: dict[str, Any] | None = None, service: dict[str, Any] | None = None,
                 problem: Note | None = None, progress: Note | None = None, pod: dict[str, Any] | None = None,
                 claim: dict[str, Any] | None = None, claim_events: Sequence[dict[str, Any]] = (),
                 holds_artifacts: bool = False) -> dict[str, Any]:
    """The whole status subresource. ``spec`` None: the spec could not be read (``problem`` says why).

    ``problem`` is what went wrong this time (Degraded); ``progress`` what the controller is doing
    that the objects do not show yet (for example a restart it just announced). ``pod``, ``claim``
    and ``claim_events`` (the claim's events) are the registry pod's, as the informers hold them:
    a registry that cannot start is Degraded, naming their reason (``registry_trouble``); a
    registry pod that replaced the one seen before, on an emptyDir, is ArtifactsLost
    (``artifacts_lost``; ``holds_artifacts``: its registry lists a repository again).
    """
    previous = previous or {}
    found = previous.get("conditions")
    conditions: list[dict[str, Any]] = found if isinstance(found, list) else []
    status: dict[str, Any] = {"observedGeneration": generation}
    if spec is None:
        note = problem or Note("InvalidSpec", "the spec cannot be read")
        ready, why, moving = False, note, Note("InvalidSpec", "nothing is done until the spec is fixed")
        moving_now = False
    elif not spec.deploy:
        ready, why = True, Note("NotDeployed", "deploy is false: no registry runs; pods name theirs with the registry annotation")
        moving, moving_now = Note("NotDeployed", "nothing to deploy"), False
        status["storage"] = "none"
    else:
        ready, why = registry_state(spec, statefulset, service)
        status["endpoint"] = spec.endpoint
        status["storage"] = spec.storage.describe()
        if spec.auth_secret:
            status["authSecret"] = spec.auth_secret
        stuck = None if ready or statefulset is None else \
            registry_trouble(spec, pod=pod, claim=claim, claim_events=claim_events)
        if stuck is not None:
            why = Note("RegistryNotReady", stuck.message)
            problem = problem or stuck
        if problem is not None and problem.reason == "StorageImmutable" and statefulset is not None:
            # What runs, not what was asked for: the registry keeps the storage it was made with,
            # and while it answers the cache stays Ready, so its artifacts can be pulled out.
            status["storage"] = running = running_storage(statefulset)
            if ready:
                why = Note("RegistryReady", f"the registry answers at {spec.endpoint}, with the storage it was made "
                                            f"with ({running}), not spec.storage's: see Degraded")
        if problem is not None and problem.reason in (*BLOCKING, "StorageImmutable"):
            # Nothing moves until someone fixes what Degraded says (not "Creating" for ever).
            moving_now, moving = False, Note(problem.reason, "nothing more is done until what Degraded says is fixed")
        else:
            moving_now = progress is not None or (not ready and why.reason in ("Creating", "Rolling", "RegistryNotReady"))
            moving = progress or (why if moving_now else Note("Settled", "the registry runs the current spec"))
    made = [
        _condition("Ready", ready, why.reason, why.message, generation=generation, previous=conditions, now=now),
        _condition("Progressing", moving_now, moving.reason, moving.message, generation=generation, previous=conditions,
                   now=now),
        _condition("Degraded", problem is not None, problem.reason if problem else "AsExpected",
                   problem.message if problem else "no problem seen", generation=generation, previous=conditions, now=now),
    ]
    pod_uid, lost = artifacts_lost(spec, previous=previous, pod=pod, generation=generation, now=now,
                                   holds_artifacts=holds_artifacts)
    if lost is not None:
        made.append(lost)
    if pod_uid:
        status[POD_UID] = pod_uid
    status["conditions"] = made
    for key in ("lastRetention",):  # kept: written by retention, not by this reconcile
        if key in previous:
            status[key] = previous[key]
    return status


def same_status(a: dict[str, Any] | None, b: dict[str, Any] | None) -> bool:
    """Whether writing ``b`` over ``a`` would change anything (so an unchanged status is not written)."""
    return (a or {}) == (b or {})
