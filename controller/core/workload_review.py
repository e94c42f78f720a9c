"""The webhook's verdict on a workload whose pod templates our annotations mark (a Job, CronJob,
JobSet, Deployment, …): the checks its pods will get when they are made, made when the workload is
applied, so that `kubectl apply` refuses a typo instead of every pod the workload makes (a Job
would otherwise wait forever, its FailedCreate events shown only by `kubectl describe job`).
Never a patch: the workload is stored as written; its pods are injected when they are made.

As for a pod (admission.py), the steps are split around what the cluster says:

1. ``read_workload``: the pod templates our annotations mark, each with the annotations its pods
   will be reviewed with (the template's over its pods' owner's, where the webhook reads that
   owner's), or a verdict already;
2. the server looks up the OrasCaches they name;
3. ``check_workload``: the verdict, naming the template's field path in a denial.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from kubectl_oras.pods.annotations import InvalidAnnotations, StepSettings, merge_owner, parse_settings
from kubectl_oras.pods.caches import CacheView
from kubectl_oras.pods.entrypoint import looked_up_later
from kubectl_oras.pods.injection import InjectionConfig, InvalidPod, check_pod, launcher_image, metadata_of, mutate_pod
from kubectl_oras.pods.workloads import JOB_KINDS, check_completion_index, pod_templates, value_at

from .admission import MalformedReview, RequestPayload, ReviewResponse, allowed, denied, namespace_of, review_response
from .cache_namespaces import OWNER_KINDS

OPERATIONS = ("CREATE", "UPDATE")
POD_TEMPLATE = "spec.template"


@dataclass(frozen=True)
class MarkedTemplate:
    """A pod template our annotations mark, read as its pods will be."""

    path: str  # the field path to it: spec.template, spec.jobTemplate.spec.template, …
    pod: dict[str, Any]  # its metadata and spec
    values: dict[str, str]  # our annotations without prefix, the template's over its pods' owner's
    settings: StepSettings

    @property
    def cache(self) -> str | None:
        """The OrasCache its pods use; None when they name their own registry."""
        return None if self.settings.registry else self.settings.cache


@dataclass(frozen=True)
class WorkloadToCheck:
    """A workload CREATE or UPDATE with marked templates: what check_workload needs."""

    uid: str  # the review's
    workload: dict[str, Any]
    namespace: str
    templates: tuple[MarkedTemplate, ...]

    @property
    def caches(self) -> list[str]:
        """The OrasCaches (in ``namespace``) the templates name."""
        return sorted({t.cache for t in self.templates if t.cache is not None})


def owner_kind(workload: dict[str, Any], path: str) -> str | None:
    """The kind of the controlling owner of the pods of ``workload``'s template at ``path``: a
    Deployment's pods are its ReplicaSets', a CronJob's and a JobSet's their Jobs'."""
    kind = workload.get("kind")
    if path == POD_TEMPLATE:
        return "ReplicaSet" if kind == "Deployment" else kind if isinstance(kind, str) else None
    return "Job" if kind in JOB_KINDS else None


def owner_annotations(workload: dict[str, Any], path: str) -> Any:
    """The annotations the owner of the template's pods will carry, when the webhook reads that
    owner's (OWNER_KINDS): the workload's own for its spec.template (a Deployment's ReplicaSets
    are given its annotations), a Job template's for a CronJob's or a JobSet's; None otherwise."""
    if owner_kind(workload, path) not in OWNER_KINDS:
        return None
    holder = workload if path == POD_TEMPLATE else value_at(workload, path.removesuffix("." + POD_TEMPLATE))
    metadata = holder.get("metadata") if isinstance(holder, dict) else None
    return metadata.get("annotations") if isinstance(metadata, dict) else None


def marked_templates(workload: dict[str, Any]) -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
    """path -> (pod, values) for each template our annotations mark. Raises InvalidAnnotations or
    InvalidPod naming the template's path."""
    marked = {}
    for path, template in pod_templates(workload):
        try:
            metadata = metadata_of(template)
            values = merge_owner(metadata.get("annotations"), owner_annotations(workload, path))
            if values:
                pod = {"metadata": metadata, "spec": template.get("spec")}
                check_pod(pod)
                marked[path] = (pod, values)
        except (InvalidAnnotations, InvalidPod) as e:
            raise type(e)(f"{path}: {e}") from e
    return marked


def _unchanged(request: RequestPayload) -> dict[str, tuple[dict[str, Any], dict[str, str]]]:
    """The marked templates of an UPDATE's old object (none when it has none, or is malformed):
    a template left as it was is not reviewed again, so a controller's own update of a workload
    (a Deployment's revision, a Job's suspend) is never refused for a cache deleted since."""
    old = request.get("oldObject")
    if request.get("operation") != "UPDATE" or not isinstance(old, dict):
        return {}
    try:
        return marked_templates(old)
    except (InvalidAnnotations, InvalidPod):
        return {}


def read_workload(request: RequestPayload) -> WorkloadToCheck | ReviewResponse:
    """The templates of a workload CREATE or UPDATE our annotations mark (new or changed ones), or
    the verdict already: allowed (another operation, a pod, nothing marked) or denied naming the
    template's path and the key or field that is wrong. Raises MalformedReview for an object nested
    too deeply to read."""
    uid, workload = request["uid"], request.get("object")
    if request.get("operation") not in OPERATIONS or (request.get("kind") or {}).get("kind") == "Pod" \
            or workload is None:
        return allowed(uid)
    try:
        namespace = namespace_of(request, metadata_of(workload))
        before = _unchanged(request)
        templates = []
        for path, (pod, values) in marked_templates(workload).items():
            if before.get(path) == (pod, values):
                continue
            try:
                templates.append(MarkedTemplate(path, pod, values, parse_settings(values)))
            except InvalidAnnotations as e:
                raise InvalidAnnotations(f"{path}: {e}") from e
    except (InvalidAnnotations, InvalidPod) as e:
        return denied(uid, str(e))
    except RecursionError:
        raise MalformedReview("request.object is nested too deeply") from None
    if not templates:
        return allowed(uid)
    return WorkloadToCheck(uid, workload, namespace, tuple(templates))


def check_workload(marked: WorkloadToCheck, *, agent_image: str, caches: Mapping[str, CacheView],
                   warnings: Sequence[str] = ()) -> ReviewResponse:
    """Allowed as it is (with ``warnings`` and those its pods would get) or denied naming the
    template's path, with the message its pods would be denied with. ``caches`` is what the cluster
    says of the caches in ``marked.caches`` (one missing: taken with the defaults). Never a patch."""
    config = InjectionConfig(agent_image=agent_image, namespace=marked.namespace)
    warnings = list(warnings)
    for template in marked.templates:
        try:
            cache = caches.get(template.cache) if template.cache is not None else None
            launcher = launcher_image(template.pod, template.settings)  # its pods' image is read when they are made
            _, settings = mutate_pod(template.pod, template.values, config, cache, settings=template.settings,
                                     template=True, image=looked_up_later(launcher[1]) if launcher else None)
            check_completion_index(marked.workload, template.path, settings)
        except (InvalidAnnotations, InvalidPod) as e:
            return denied(marked.uid, f"{template.path}: {e}")
        except RecursionError:
            raise MalformedReview("request.object is nested too deeply") from None
        warnings += [f"{template.path}: {w}" for w in settings.warnings]
    if not warnings:
        return allowed(marked.uid)
    return review_response({"uid": marked.uid, "allowed": True, "warnings": warnings})
