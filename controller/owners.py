"""Read a pod's controlling owner's annotations (the webhook's one API call)."""

from __future__ import annotations

from typing import Any

from kubernetes_asyncio import client


async def read_owner_annotations(api: client.ApiClient, namespace: str, owner: dict[str, Any]) -> dict[str, str] | None:
    kind, name = owner.get("kind"), owner.get("name")
    if kind == "Job":
        obj = await client.BatchV1Api(api).read_namespaced_job(name, namespace)
    elif kind == "ReplicaSet":
        obj = await client.AppsV1Api(api).read_namespaced_replica_set(name, namespace)
    elif kind == "StatefulSet":
        obj = await client.AppsV1Api(api).read_namespaced_stateful_set(name, namespace)
    elif kind == "DaemonSet":
        obj = await client.AppsV1Api(api).read_namespaced_daemon_set(name, namespace)
    else:
        return None
    return dict(obj.metadata.annotations or {})
