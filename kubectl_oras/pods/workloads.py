"""Find the pods a manifest makes (a Pod, or the pod templates of Jobs, Deployments, JobSets,
CronJobs, …, and the items of a List) and inject them the way the webhook will: the workload's
annotations act as the owner's, the template's own win."""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from . import variables
from .annotations import PREFIX, InvalidAnnotations, StepSettings, annotation_key, merge_owner, ours, shown
from .injection import InjectionConfig, InvalidPod, metadata_of, mutate_pod


def pod_templates(obj: dict[str, Any]) -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, template) for every pod template in a workload: spec.template, spec.jobTemplate…,
    spec.replicatedJobs[i].template… (JobSet), nested as deep as they go.

    A template whose spec has ``containers`` (or is not a map at all) is a pod template; one whose
    spec is a map without them is looked into (a JobSet's job template holds the pod template).
    """
    spec = obj.get("spec")
    if not isinstance(spec, dict):
        return
    template = spec.get("template")
    if isinstance(template, dict):
        inner_spec = template.get("spec")
        if not isinstance(inner_spec, dict) or "containers" in inner_spec:
            yield "spec.template", template
        else:
            for path, inner in pod_templates(template):
                yield f"spec.template.{path}", inner
    job_template = spec.get("jobTemplate")
    if isinstance(job_template, dict):
        for path, inner in pod_templates(job_template):
            yield f"spec.jobTemplate.{path}", inner
    replicated_jobs = spec.get("replicatedJobs")
    for i, replicated in enumerate(replicated_jobs if isinstance(replicated_jobs, list) else []):
        if isinstance(replicated, dict) and isinstance(replicated.get("template"), dict):
            for path, inner in pod_templates(replicated["template"]):
                yield f"spec.replicatedJobs[{i}].template.{path}", inner


# Kinds whose pod templates sit in a Job's spec, and the completionMode a Job of theirs has when
# the manifest sets none (a JobSet's webhook makes its Jobs Indexed by default).
JOB_KINDS = {"Job": "NonIndexed", "CronJob": "NonIndexed", "JobSet": "Indexed"}
# Kinds whose pods never have a completion index.
UNINDEXED_KINDS = ("Deployment", "StatefulSet", "DaemonSet", "ReplicaSet", "ReplicationController")
_SEGMENT = re.compile(r"([^.\[\]]+)(?:\[([0-9]+)\])?")


def value_at(obj: Any, path: str) -> Any:
    """The value at a path as pod_templates writes them (``spec.replicatedJobs[0].template.spec``)."""
    for segment in path.split("."):
        match = _SEGMENT.fullmatch(segment)
        if match is None or not isinstance(obj, dict):
            return None
        obj = obj.get(match.group(1))
        if match.group(2) is not None:
            obj = obj[int(match.group(2))] if isinstance(obj, list) and int(match.group(2)) < len(obj) else None
    return obj


def no_completion_index(obj: dict[str, Any], path: str) -> str | None:
    """Why the pods of ``obj``'s template at ``path`` will never have a completion index, or None
    when they will or may (a kind we do not know)."""
    kind = obj.get("kind")
    if kind in UNINDEXED_KINDS:
        return f"the pods of a {kind} have none"
    if kind not in JOB_KINDS or not path.endswith(".template"):
        return None
    job_spec = path[: -len(".template")]
    spec = value_at(obj, job_spec)
    mode = spec.get("completionMode") if isinstance(spec, dict) else None
    if (mode or JOB_KINDS[kind]) == "Indexed":
        return None
    return f"the Job must have {job_spec}.completionMode: Indexed"


def check_completion_index(obj: dict[str, Any], path: str, settings: StepSettings) -> None:
    """InvalidAnnotations naming the key when an artifact holds $(JOB_COMPLETION_INDEX) and the
    template's pods will never have one: the webhook would deny every one of them (and a template
    injected by `kubectl oras inject` would be told an empty index)."""
    why = no_completion_index(obj, path)
    if why is None:
        return
    for artifact in (*settings.inputs, *([settings.output] if settings.output else [])):
        if variables.JOB_COMPLETION_INDEX in variables.variables_in(str(artifact)):
            raise InvalidAnnotations(
                f"annotation {annotation_key(artifact.key or 'input-uri')}: $({variables.JOB_COMPLETION_INDEX}) "
                f"would never be known: only the pods of an Indexed Job have a completion index; {why}")


def yaml_booleans(metadata: dict[str, Any]) -> None:
    """Our annotations that YAML read as booleans (``debug: true`` unquoted) become "true"/"false", in place.

    Kubernetes refuses a non-string annotation, so the injected manifest carries the string; any
    other non-string value is refused by ``ours`` naming the key (docs/annotations.md).
    """
    annotations = metadata.get("annotations")
    if isinstance(annotations, dict):
        for key, value in annotations.items():
            if isinstance(key, str) and key.startswith(PREFIX) and isinstance(value, bool):
                annotations[key] = "true" if value else "false"


def describe(obj: dict[str, Any], *, document: int | None = None) -> str:
    """How messages name an object: Kind/name, or its place in the file when it has no name."""
    metadata = obj.get("metadata")
    name = metadata.get("name") if isinstance(metadata, dict) else None
    if isinstance(name, str) and name:
        return f"{obj.get('kind')}/{name}"
    return f"{obj.get('kind')} (document {document})" if document else str(obj.get("kind"))


def is_list(obj: dict[str, Any]) -> bool:
    """``kind: List`` (what `kubectl get -o yaml` prints) or a typed list (PodList, JobList, …)."""
    kind = obj.get("kind")
    return kind == "List" or (isinstance(kind, str) and kind.endswith("List") and "items" in obj)


@contextmanager
def _naming(where: str) -> Iterator[None]:
    """Errors raised inside say which object (and template) they are about."""
    try:
        yield
    except (InvalidAnnotations, InvalidPod) as e:
        raise type(e)(f"{where}: {e}") from e


def inject_manifest(obj: Any, config: InjectionConfig, *,
                    document: int | None = None) -> tuple[dict[str, Any], list[str]]:
    """The object with every marked pod (template) injected, and the warnings to show.

    ``config.namespace`` is the cache's namespace for objects that name none.

    Raises InvalidAnnotations or InvalidPod naming the object (its document in the file when it
    has no name), the template and the field.
    """
    if not isinstance(obj, dict) or not obj.get("kind"):
        where = f"document {document}" if document else "the manifest"
        raise InvalidPod(f"{where} is not a Kubernetes object (a map with kind), so nothing in it could be injected")
    name = describe(obj, document=document)
    new = copy.deepcopy(obj)
    warnings: list[str] = []
    if is_list(obj):
        items = new.get("items")
        if not isinstance(items, list):
            raise InvalidPod(f"{name}: items must be a list, not {shown(items)}")
        for i, item in enumerate(items):
            with _naming(f"{name} items[{i}]"):
                items[i], more = inject_manifest(item, config)
            warnings += more
        return new, warnings
    with _naming(name):
        metadata = metadata_of(new)
        yaml_booleans(metadata)
        owner = ours(metadata.get("annotations"))
    namespace = metadata.get("namespace")
    if isinstance(namespace, str) and namespace:
        config = dataclasses.replace(config, namespace=namespace)
    if new["kind"] == "Pod":
        if not owner:
            return new, []
        with _naming(name):
            new, settings = mutate_pod(new, owner, config)
        return new, [f"{name}: {w}" for w in settings.warnings]
    templates = list(pod_templates(new))
    for path, template in templates:
        with _naming(f"{name} ({path})"):
            template_metadata = metadata_of(template)
            yaml_booleans(template_metadata)
            values = merge_owner(template_metadata.get("annotations"), metadata.get("annotations"))
            if not values:
                continue
            pod = {"metadata": template_metadata, "spec": template.get("spec")}
            injected, settings = mutate_pod(pod, values, config, template=True)
            check_completion_index(new, path, settings)
        template["spec"] = injected["spec"]
        warnings += [f"{name}: {w}" for w in settings.warnings]
    if owner and not templates:
        keys = ", ".join(PREFIX + k for k in sorted(owner))
        raise InvalidPod(f"{name} is annotated for the cache ({keys}) but holds no pod template (spec.template) "
                         "to inject")
    return new, warnings
