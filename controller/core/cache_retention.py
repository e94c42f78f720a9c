"""An OrasCache's retention: its plan, when it is due, and what its status records (docs/retention.md).

Plain functions over plain data. The choice of tags is ``kubectl_oras.retention.choice`` (the
CLI's ``gc`` runs the same); the run against the registry is controller/runtime/retention.py.

``status.lastRetention`` holds the last run (time, what it deleted, errors) and the times the
controller first saw tags whose manifests carry no ``created`` time, so a restarted controller
(or a new leader) ages them from when they were first seen, not from its own start.
"""

from __future__ import annotations

import datetime as _dt
import hashlib
import json
from typing import Any

from kubectl_oras.orascache import GROUP, registry_host
from kubectl_oras.pods.annotations import InvalidAnnotations, expand_for_pod, ours, parse_artifact, parse_settings
from kubectl_oras.pods.step import STEP_ENV, InvalidStep, StepDescription
from kubectl_oras.pods.variables import JOB_COMPLETION_INDEX, POD_NAME, VARIABLES, completion_index, expand
from kubectl_oras.retention.choice import InputInUse, Tag, first_seen_times
from kubectl_oras.retention.text import clean
from kubectl_oras.times import format_rfc3339, parse_rfc3339

from .cache_spec import RetentionPlan

__all__ = ["RetentionPlan"]

MAX_FIRST_SEEN = 2000  # tags without a created time remembered; past that, the oldest are kept
MAX_LISTED = 50  # deleted tags named in the status; the Event and the count say the rest
MAX_ERRORS = 10
MAX_ERROR_TEXT = 300
MAX_REQUEST = 64
MAX_FIRST_SEEN_BYTES = 128 << 10  # of the status; an OrasCache must stay far below etcd's 1.5 MiB
# A user asks for a run now by setting this annotation on the cache to a new value (any text,
# e.g. a date): `kubectl annotate orascache/NAME cache.converged-computing.github.io/run-retention="$(date +%s)" --overwrite`.
RUN_ANNOTATION = f"{GROUP}/run-retention"


def requested_run(cache: dict[str, Any]) -> str:
    """The run-retention annotation's value, as the status records it (a long one by its hash:
    annotations may hold 256 KiB, the status should not)."""
    annotations = (cache.get("metadata") or {}).get("annotations") or {}
    value = annotations.get(RUN_ANNOTATION)
    if not isinstance(value, str):
        return ""
    if len(value) > MAX_REQUEST or not value.isprintable():
        return "sha256:" + hashlib.sha256(value.encode()).hexdigest()
    return value


FINISHED = ("Succeeded", "Failed")  # a pod in either phase runs nothing more, and pulls nothing more


def inputs_in_use(pods: list[dict[str, Any]], cache: str, namespace: str) -> list[InputInUse]:
    """The inputs that the pods of the cache's namespace which have not finished pull from it:
    what their agents were given (the step description in their containers' environment, the
    webhook's expansion of the annotations) and what their own annotations name. A pod whose
    annotations cannot be read was refused by the webhook, and pulls nothing: it spares nothing."""
    out: list[InputInUse] = []
    host = registry_host(cache, namespace)
    for pod in pods:
        status, metadata = pod.get("status"), pod.get("metadata")
        metadata = metadata if isinstance(metadata, dict) else {}
        phase = str(status.get("phase") or "Pending") if isinstance(status, dict) else "Pending"
        if phase in FINISHED:
            continue
        who = f"{metadata.get('namespace', namespace)}/{metadata.get('name', '?')} ({phase})"
        names = [str(i) for i in _annotated_inputs(metadata, cache)] + _step_inputs(pod, host)
        for text in dict.fromkeys(names):
            try:
                name = parse_artifact(text, key="input-uri")
            except InvalidAnnotations:
                continue
            out.append(InputInUse(name.repository, name.tag, name.digest, who))
    return out


def _annotated_inputs(metadata: dict[str, Any], cache: str) -> tuple[Any, ...]:
    try:
        values = ours(metadata.get("annotations"))
        if not values:
            return ()
        settings = expand_for_pod(parse_settings(values), metadata)
    except InvalidAnnotations:
        return ()
    return settings.inputs if settings.cache == cache and not settings.registry else ()


def _step_inputs(pod: dict[str, Any], host: str) -> list[str]:
    spec = pod.get("spec")
    spec = spec if isinstance(spec, dict) else {}
    metadata = pod.get("metadata")
    metadata = metadata if isinstance(metadata, dict) else {}
    name = str(metadata.get("name") or "")
    index = completion_index(metadata)
    out: list[str] = []
    for container in [*(spec.get("initContainers") or []), *(spec.get("containers") or [])]:
        env = container.get("env") if isinstance(container, dict) else None
        for entry in env if isinstance(env, list) else []:
            if not (isinstance(entry, dict) and entry.get("name") == STEP_ENV and isinstance(entry.get("value"), str)):
                continue
            try:
                step = StepDescription.from_env({STEP_ENV: entry["value"]})
            except InvalidStep:
                continue
            if step.registry == host:
                # $(POD_NAME) is left for the kubelet when the name is generated, and so is
                # $(JOB_COMPLETION_INDEX) in a Job injected before it was applied: the pod says
                # both. A variable it does not say spares every tag it could become.
                known = {POD_NAME: name, **({JOB_COMPLETION_INDEX: index} if index is not None else {})}
                out += [expand(expand(i, known), {v: "*" for v in VARIABLES}) for i in step.inputs]
    return out


def seconds_until_due(cache: dict[str, Any], plan: RetentionPlan, now: _dt.datetime) -> float:
    """0 when a run is due: never run, a new run-retention request, or ``interval`` since the last."""
    last = ((cache.get("status") or {}).get("lastRetention")) or {}
    if not isinstance(last, dict):
        return 0.0
    request = requested_run(cache)
    if request and request != last.get("request", ""):
        return 0.0
    when = parse_rfc3339(last.get("time"))
    if when is None or (when - now).total_seconds() > 60:  # unreadable, or written by a clock far ahead
        return 0.0
    return max(0.0, plan.interval - (now - when).total_seconds())


def first_seen_of(cache: dict[str, Any]) -> dict[str, tuple[str, _dt.datetime]]:
    """What ``status.lastRetention.firstSeen`` remembers; entries that cannot be read are dropped."""
    last = ((cache.get("status") or {}).get("lastRetention")) or {}
    stored = last.get("firstSeen") if isinstance(last, dict) else None
    out: dict[str, tuple[str, _dt.datetime]] = {}
    if isinstance(stored, dict):
        for key, entry in stored.items():
            if isinstance(entry, dict) and isinstance(entry.get("digest"), str):
                moment = parse_rfc3339(entry.get("time"))
                if moment is not None:
                    out[str(key)] = (entry["digest"], moment)
    return out


def _bounded(seen: dict[str, tuple[str, _dt.datetime]]) -> dict[str, dict[str, str]]:
    """The firstSeen map for the status, oldest first (they expire first), within its limits."""
    out: dict[str, dict[str, str]] = {}
    size = 0
    for key, (digest, moment) in sorted(seen.items(), key=lambda item: (item[1][1], item[0]))[:MAX_FIRST_SEEN]:
        entry = {"digest": digest, "time": format_rfc3339(moment)}
        size += len(json.dumps({key: entry}))
        if size > MAX_FIRST_SEEN_BYTES:
            break
        out[key] = entry
    return dict(sorted(out.items()))


def retention_record(*, now: _dt.datetime, plan: RetentionPlan, request: str, tags: list[Tag], ranked: list[str],
                     deleted: list[str], failed: list[str], errors: list[str],
                     bytes_freed: int, deleted_by: str, previous_first_seen: dict[str, tuple[str, _dt.datetime]],
                     seconds: float, warnings: list[str] | None = None) -> dict[str, Any]:
    """``status.lastRetention`` for a run. ``ranked``: the repositories read in full; first-seen
    times of the others (left alone this time) are kept as they were. Deleted tags are forgotten:
    the same content pushed again is new."""
    gone = set(deleted) if not plan.dry_run else set()
    present = [t for t in tags if f"{t.repository}:{t.tag}" not in gone]
    seen = first_seen_times(previous_first_seen, present, now)
    read = set(ranked)
    for key, entry in previous_first_seen.items():
        if key.rpartition(":")[0] not in read:
            seen.setdefault(key, entry)
    record: dict[str, Any] = {
        "time": format_rfc3339(now),
        "dryRun": plan.dry_run,
        "tagsSeen": len(tags),
        "tagsDeleted": 0 if plan.dry_run else len(deleted),
        "tags": [clean(t, MAX_ERROR_TEXT) for t in sorted(deleted)[:MAX_LISTED]],
        "bytesFreed": bytes_freed,
        "deletedBy": deleted_by,
        "durationSeconds": round(seconds, 3),
        "errors": [clean(e, MAX_ERROR_TEXT) for e in [*errors, *(f"delete {ref} failed" for ref in failed)][:MAX_ERRORS]],
        "request": request,
        "firstSeen": _bounded(seen),
    }
    if plan.dry_run:
        record["tagsWouldDelete"] = len(deleted)
    if warnings:  # e.g. choice.runs_cut_by_keep_last: `kubectl oras status` shows them
        record["warnings"] = [clean(w, MAX_ERROR_TEXT) for w in warnings[:MAX_ERRORS]]
    return record


def failed_record(*, now: _dt.datetime, plan: RetentionPlan, request: str, error: str,
                  previous: dict[str, Any] | None) -> dict[str, Any]:
    """``status.lastRetention`` for a run that could not read the registry: the first-seen times stay."""
    record: dict[str, Any] = {"time": format_rfc3339(now), "dryRun": plan.dry_run, "tagsSeen": 0, "tagsDeleted": 0,
                              "tags": [], "errors": [clean(error, MAX_ERROR_TEXT)], "request": request}
    if isinstance(previous, dict) and isinstance(previous.get("firstSeen"), dict):
        record["firstSeen"] = previous["firstSeen"]
    return record
