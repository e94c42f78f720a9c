"""`kubectl oras annotate TYPE/NAME` in a cluster: read the object, annotate it as
``pods/annotate.py`` says (pure), and write it back over the version read (a change made
meanwhile is a conflict to retry, never overwritten)."""

from __future__ import annotations

from typing import Any

from ..errors import OrasError
from ..kube.api import JOBS, PODS, Kube, Resource
from ..kube.errors import Conflict, ObjectNotFound
from ..pods.annotate import annotate_object

RESOURCES: dict[str, Resource] = {
    "Pod": PODS,
    "Job": JOBS,
    "CronJob": Resource("batch/v1", "CronJob", "cronjobs"),
    "Deployment": Resource("apps/v1", "Deployment", "deployments"),
    "StatefulSet": Resource("apps/v1", "StatefulSet", "statefulsets"),
    "DaemonSet": Resource("apps/v1", "DaemonSet", "daemonsets"),
    "ReplicaSet": Resource("apps/v1", "ReplicaSet", "replicasets"),
    "JobSet": Resource("jobset.x-k8s.io/v1alpha2", "JobSet", "jobsets"),
}


async def annotate_live(kube: Kube, kind: str, name: str, namespace: str, values: dict[str, str], *,
                        overwrite: bool) -> tuple[dict[str, Any], list[str]]:
    """Annotate the object in the cluster; (the object written, warnings)."""
    resource = RESOURCES[kind]
    try:
        obj = await kube.get(resource, name, namespace=namespace)
    except ObjectNotFound:
        raise OrasError(f"no {kind} {name!r} in namespace {namespace}") from None
    new, warnings = annotate_object(obj, values, overwrite=overwrite, live=True, namespace=namespace)
    if new == obj:
        return obj, [*warnings, f"{kind}/{name} had these annotations already: nothing changed"]
    try:
        written = await kube.replace(resource, name, new, namespace=namespace)
    except Conflict:
        raise OrasError(f"{kind}/{name} changed while it was being annotated; run the command again") from None
    return written, warnings
