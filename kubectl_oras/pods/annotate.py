"""`kubectl oras annotate`'s pure part: put our annotations on a workload where the webhook reads
them, refuse what the webhook would refuse, and say what will not change.

Where they go:
- a Job: on the Job itself. The webhook reads a pod's controlling owner's annotations for Jobs
  (docs/annotations.md), and a Job's pod template cannot be changed once it exists.
- a Pod: its own annotations (but the webhook acts when a pod is created: a running pod keeps
  its containers; a warning says so).
- anything with pod templates (Deployment, StatefulSet, DaemonSet, ReplicaSet, CronJob, JobSet,
  …, found by ``workloads.pod_templates``): every template's annotations.
- a List: each item; an item that makes no pods (ConfigMap, Service, …) is left as it is, and
  so is such a document of `annotate -f`'s file. Only nothing to annotate at all is refused.

Validation is the webhook's own: the result is injected the way the webhook would inject it
(``workloads.inject_manifest``), so a bad value is refused naming its annotation key, and a pod
the webhook would deny (several containers and no ``container``, …) naming the field.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import OrasError
from .annotation_schema import FLAGGED, PULLED_ARTIFACTS, numbered
from .annotations import INPUT_N, PREFIX, annotation_key, ours, parse_settings
from .injection import InjectionConfig, InvalidPod, is_injected, metadata_of
from .workloads import describe, inject_manifest, is_list, pod_templates

# kubectl's names for the kinds `annotate TYPE/NAME` takes: singular, plural, short, and
# kind.group, as `kubectl get` accepts them.
KIND_NAMES: dict[str, tuple[str, ...]] = {
    "Pod": ("pod", "pods", "po"),
    "Job": ("job", "jobs"),
    "CronJob": ("cronjob", "cronjobs", "cj"),
    "Deployment": ("deployment", "deployments", "deploy"),
    "StatefulSet": ("statefulset", "statefulsets", "sts"),
    "DaemonSet": ("daemonset", "daemonsets", "ds"),
    "ReplicaSet": ("replicaset", "replicasets", "rs"),
    "JobSet": ("jobset", "jobsets"),
}
ROLLING_KINDS = ("Deployment", "StatefulSet", "DaemonSet")  # their controllers replace pods when the template changes
KIND_GROUPS = {"Pod": "", "Job": "batch", "CronJob": "batch", "Deployment": "apps", "StatefulSet": "apps",
               "DaemonSet": "apps", "ReplicaSet": "apps", "JobSet": "jobset.x-k8s.io"}
_BY_NAME = {alias: kind for kind, aliases in KIND_NAMES.items() for alias in (*aliases, kind.lower())}


def kind_named(text: str) -> str | None:
    """The kind kubectl means by ``text``: a name (``job``, ``deploy``), or with its group, as
    ``TYPE.GROUP`` or ``TYPE.VERSION.GROUP`` (``jobs.batch``, ``deployments.v1.apps``)."""
    base, _, group = text.lower().partition(".")
    kind = _BY_NAME.get(base)
    if kind is None or not group:
        return kind
    version, _, rest = group.partition(".")
    if group == KIND_GROUPS[kind] or (rest == KIND_GROUPS[kind] and version.startswith("v")):
        return kind
    return None
_OBJECT_NAME = re.compile(r"[a-z0-9]([-a-z0-9.]{0,251}[a-z0-9])?")


class AnnotationConflict(OrasError):
    """A different value is there already, and --overwrite was not given."""


class NothingToAnnotate(InvalidPod):
    """Nothing given makes pods: no Job, Pod or pod template anywhere."""


def parse_target(text: str, name: str | None = None, *, command: str = "annotate") -> tuple[str, str]:
    """(Kind, name) from ``TYPE/NAME`` (or ``TYPE`` and ``NAME`` apart), with kubectl's type names;
    ``command`` is the one whose kinds they are, for the message."""
    kind_text, slash, rest = text.partition("/")
    if slash:
        if name is not None:
            raise OrasError(f"give TYPE/NAME or TYPE NAME, not both ({text} {name})")
        name = rest
    if not name:
        raise OrasError(f"{text!r}: say which object, as TYPE/NAME (job/train, deploy/web, jobset/sweep)")
    kind = kind_named(kind_text)
    if kind is None:
        known = ", ".join(aliases[0] for aliases in KIND_NAMES.values())
        raise OrasError(f"{kind_text!r} is not a kind {command} knows; one of: {known}")
    if not _OBJECT_NAME.fullmatch(name):
        raise OrasError(f"{name!r} is not an object name")
    return kind, name


@dataclass(frozen=True)
class Request:
    """What the flags ask for: one field for each key of the schema's table that has a flag
    (``annotation_schema.FLAGGED``), named as its ``field`` (the Python API's keyword arguments)."""

    output: str | None = None
    output_path: str | None = None
    inputs: tuple[str, ...] = ()
    input_path: str | None = None
    output_pipe: str | None = None
    container: str | None = None
    cache: str | None = None
    input_wait: str | None = None  # a duration as written (90s, 10m)

    @classmethod
    def from_flags(cls, flags: Mapping[str, Any]) -> Request:
        """From the command line's options by field (a repeatable one not given is None there)."""
        given: dict[str, Any] = {entry.field: tuple(flags[entry.field] or ()) if entry.kind == PULLED_ARTIFACTS
                                 else flags[entry.field] for entry in FLAGGED}
        return cls(**given)

    def values(self) -> dict[str, str]:
        """Our keys and values, the inputs first: the first --input is input-uri, the next
        input-uri_1, … (docs/annotations.md); then the others in the table's order."""
        out: dict[str, str] = {}
        for entry in sorted(FLAGGED, key=lambda entry: entry.kind != PULLED_ARTIFACTS):
            given = getattr(self, entry.field)
            if entry.kind == PULLED_ARTIFACTS:
                out.update({numbered(entry.key, i): ref for i, ref in enumerate(given)})
            elif given is not None:
                out[entry.key] = given
        if not out:
            raise OrasError("nothing to annotate: give --output/--output-path, --input, … (kubectl oras annotate --help)")
        return out


def _stale_inputs(annotations: dict[str, Any], values: dict[str, str]) -> list[str]:
    """The full keys of numbered inputs (input-uri_N) there already that ``values`` does not set, in
    numeric order: when --input is given it is the whole input list, so these would be pulled too."""
    if "input-uri" not in values:
        return []
    numbered = [(int(m.group(1)), key) for key in annotations
                if isinstance(key, str) and key.startswith(PREFIX) and (m := INPUT_N.fullmatch(key[len(PREFIX):]))
                and key[len(PREFIX):] not in values]
    return [key for _, key in sorted(numbered)]


def _set(annotations: dict[str, Any], values: dict[str, str], *, where: str, overwrite: bool) -> None:
    """Our values into ``annotations`` (in place); AnnotationConflict on a different value unless ``overwrite``.

    --input replaces the whole input list: numbered inputs there already beyond the new ones are a
    conflict too, and removed with ``overwrite``.
    """
    for key, value in values.items():
        full = annotation_key(key)
        old = annotations.get(full)
        if old is not None and old != value and not overwrite:
            raise AnnotationConflict(f"{where}: {full} is {old!r} already, not {value!r}; give --overwrite to replace it")
    stale = _stale_inputs(annotations, values)
    if stale and not overwrite:
        there = ", ".join(f"{key} {annotations[key]!r}" for key in stale)
        count = sum(1 for key in values if key == "input-uri" or INPUT_N.fullmatch(key))
        raise AnnotationConflict(f"{where}: {there} already, beyond the {count} --input given (its pods would pull "
                                 f"{'it' if len(stale) == 1 else 'them'} too); give --overwrite to replace the inputs")
    for key in stale:
        del annotations[key]
    for key, value in values.items():
        annotations[annotation_key(key)] = value


def _writable_metadata(obj: dict[str, Any]) -> dict[str, Any]:
    """``obj``'s metadata, made when absent (null or missing): what is written there must stay."""
    if obj.get("metadata") is None:
        obj["metadata"] = {}
    return metadata_of(obj)


def _annotations_of(metadata: dict[str, Any], where: str) -> dict[str, Any]:
    annotations = metadata.get("annotations")
    if annotations is None:
        annotations = metadata["annotations"] = {}
    if not isinstance(annotations, dict):
        raise InvalidPod(f"{where}: metadata.annotations must be a map")
    return annotations


def _job_warnings(job: dict[str, Any], where: str, live: bool) -> list[str]:
    status = job.get("status") or {}
    made = sum(n for n in (status.get("active"), status.get("succeeded"), status.get("failed")) if isinstance(n, int))
    if made:
        return [f"{where} has made {made} pod(s) already: running pods will not change; the pods it makes from now "
                "on are injected"]
    if live and not (job.get("spec") or {}).get("suspend"):
        return [f"{where} is not suspended: pods it made before this will not change (create it with "
                "spec.suspend: true, annotate, then unsuspend)"]
    return []


def _shadowed(template: dict[str, Any], values: dict[str, str], where: str) -> list[str]:
    """Keys the pod template sets itself: its own value wins over the Job's (merge_owner)."""
    own = ours((template.get("metadata") or {}).get("annotations"))
    shadowed = [f"{where}: the pod template sets {annotation_key(k)} to {own[k]!r} itself, which wins over {values[k]!r}"
                for k in sorted(values) if k in own and own[k] != values[k]]
    stale = _stale_inputs({annotation_key(k): v for k, v in own.items()}, values)
    return shadowed + [f"{where}: the pod template sets {key} to {own[key[len(PREFIX):]]!r} itself, so its pods pull "
                       "it too" for key in stale]


def annotate_object(obj: Any, values: dict[str, str], *, overwrite: bool = False, live: bool = False,
                    namespace: str = "default") -> tuple[dict[str, Any], list[str]]:
    """The object with ``values`` (keys without prefix) where the webhook reads them, and warnings.

    ``live``: the object is in the cluster (a Pod running, a Job not suspended: warnings say what
    will not change). In a List, an item that makes no pods (a ConfigMap, a Service, …) is left
    as it is; NothingToAnnotate when nothing at all could be annotated. Raises AnnotationConflict,
    InvalidAnnotations naming the key, InvalidPod naming the field.
    """
    new, warnings, annotated = _annotate(obj, values, overwrite=overwrite, live=live, namespace=namespace)
    if not annotated:
        raise NothingToAnnotate(f"{describe(new)} holds no pod template (spec.template) to annotate")
    return new, warnings


def annotate_documents(documents: list[Any], values: dict[str, str], *, overwrite: bool = False,
                       namespace: str = "default") -> tuple[list[Any], list[str]]:
    """Every document of a file annotated (`annotate -f`): those that make no pods (a ConfigMap,
    a Service, …) pass through as they are, as `inject -f` passes them; NothingToAnnotate when no
    document could be annotated."""
    out: list[Any] = []
    warnings: list[str] = []
    annotated = 0
    for doc in documents:
        new, more, count = _annotate(doc, values, overwrite=overwrite, live=False, namespace=namespace)
        out.append(new)
        warnings += more
        annotated += count
    if not annotated:
        names = ", ".join(describe(d, document=i) if isinstance(d, dict) else f"document {i}"
                          for i, d in enumerate(documents, 1)) or "no object"
        raise NothingToAnnotate(f"nothing to annotate: {names}: no pod template (spec.template) in any of them")
    return out, warnings


def _annotate(obj: Any, values: dict[str, str], *, overwrite: bool, live: bool,
              namespace: str) -> tuple[Any, list[str], int]:
    """(the object annotated, warnings, how many objects were annotated): 0, and the object
    unchanged, for one that makes no pods (a kind annotate does not know, with no pod template)."""
    if not isinstance(obj, dict) or not obj.get("kind"):
        raise InvalidPod("the manifest is not a Kubernetes object (a map with kind)")
    new = copy.deepcopy(obj)
    where = describe(new)
    warnings: list[str] = []
    if is_list(new):
        items = new.get("items")
        if not isinstance(items, list):
            raise InvalidPod(f"{where}: items must be a list")
        annotated = 0
        for i, item in enumerate(items):
            items[i], more, count = _annotate(item, values, overwrite=overwrite, live=live, namespace=namespace)
            warnings += more
            annotated += count
        return new, warnings, annotated
    kind = new["kind"]
    if kind in ("Job", "Pod"):
        _set(_annotations_of(_writable_metadata(new), where), values, where=where, overwrite=overwrite)
        if kind == "Job":
            warnings += _job_warnings(new, where, live)
            warnings += [w for _, t in pod_templates(new) for w in _shadowed(t, values, where)]
        elif live:
            warnings.append(f"{where} exists: the webhook acts when a pod is created, so its containers will not "
                            "change; annotate what makes it (its Job, Deployment, …) or re-create it")
    else:
        templates = list(pod_templates(new))
        if not templates:
            if kind in KIND_NAMES:  # a workload with no template is broken, not something to pass by
                raise InvalidPod(f"{where} holds no pod template (spec.template) to annotate")
            return new, [], 0
        for path, template in templates:
            _set(_annotations_of(_writable_metadata(template), f"{where} ({path})"), values, where=f"{where} ({path})",
                 overwrite=overwrite)
        if live and kind in ROLLING_KINDS:
            warnings.append(f"{where}: a changed pod template rolls out: its running pods are replaced by new ones "
                            "that carry the annotations (as `kubectl rollout restart` would)")
    warnings += validate(new, namespace=namespace)
    return new, warnings, 1


def validate(obj: dict[str, Any], *, namespace: str) -> list[str]:
    """What the webhook would say of the pods ``obj`` makes: its warnings, or its refusal raised
    (InvalidAnnotations naming the key, InvalidPod naming the field)."""
    if obj.get("kind") == "Pod" and is_injected(obj):
        # Injected already (a live pod): the webhook would not inject it again; check the values alone.
        parse_settings(ours((obj.get("metadata") or {}).get("annotations")))
        return []
    _, warnings = inject_manifest(obj, InjectionConfig(agent_image="kubectl-oras", namespace=namespace))
    return warnings


__all__ = ["KIND_NAMES", "PREFIX", "AnnotationConflict", "NothingToAnnotate", "Request", "annotate_documents",
           "annotate_object", "parse_target", "validate"]
