"""Find the pods a manifest makes (a Pod, or the pod templates of Jobs, Deployments, JobSets,
CronJobs, …) and inject them the way the webhook will: the workload's annotations act as the
owner's, the template's own win."""

from __future__ import annotations

import copy
from collections.abc import Iterator
from typing import Any

from .annotations import InvalidAnnotations, is_marked, merge_owner
from .injection import InjectionConfig, mutate_pod


def pod_templates(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, template) for every pod template in a workload: spec.template, spec.jobTemplate…,
    spec.replicatedJobs[i].template… (JobSet), nested as deep as they go."""
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    template = spec.get("template")
    if isinstance(template, dict):
        if isinstance((template.get("spec") or {}).get("containers"), list):
            yield "spec.template", template
        else:
            for path, inner in pod_templates(template):
                yield f"spec.template.{path}", inner
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict):
        for path, inner in pod_templates(job_template):
            yield f"spec.jobTemplate.{path}", inner
    for i, replicated in enumerate(spec.get("replicatedJobs") or []):
        if isinstance(replicated, dict):
            for path, inner in pod_templates(replicated.get("template") or {}):
                yield f"spec.replicatedJobs[{i}].template.{path}", inner


def inject_manifest(obj: dict[str, Any], config: InjectionConfig) -> tuple[dict[str, Any], list[str]]:
    """The object with every marked pod (template) injected, and the warnings to show."""
    if not isinstance(obj, dict) or "kind" not in obj:
        return obj, []
    new = copy.deepcopy(obj)
    warnings: list[str] = []
    name = f"{obj.get('kind')}/{(obj.get('metadata') or {}).get('name', '?')}"
    if obj["kind"] == "Pod":
        values = merge_owner((obj.get("metadata") or {}).get("annotations"), None)
        if values:
            try:
                new, settings = mutate_pod(new, values, config)
            except InvalidAnnotations as e:
                raise InvalidAnnotations(f"{name}: {e}") from e
            warnings += [f"{name}: {w}" for w in settings.warnings]
        return new, warnings
    owner = (obj.get("metadata") or {}).get("annotations")
    for path, template in pod_templates(new):
        pod_annotations = (template.get("metadata") or {}).get("annotations")
        if not (is_marked(owner) or is_marked(pod_annotations)):
            continue
        pod = {"metadata": template.get("metadata") or {}, "spec": template["spec"]}
        try:
            injected, settings = mutate_pod(pod, merge_owner(pod_annotations, owner), config)
        except InvalidAnnotations as e:
            raise InvalidAnnotations(f"{name} ({path}): {e}") from e
        template["spec"] = injected["spec"]
        warnings += [f"{name}: {w}" for w in settings.warnings]
    return new, warnings
