"""The Kubernetes API as plain dicts: get, create, replace, patch, delete, list of any resource.

Built on kubernetes-asyncio's ``ApiClient`` (its configuration, auth and connection pool) and its
generic ``call_api``, so every object in the project is a plain dict, the same shape as the YAML
in manifests/ and the JSON the apiserver sends; no generated model classes. Every failure becomes
a ``KubeError`` (errors.py).
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from .errors import ClusterUnreachable, KubeError, api_error

REQUEST_TIMEOUT = 30.0  # seconds for one API call; watches set their own


class InvalidName(KubeError, ValueError):
    """A name or namespace that cannot be one (empty, ``.``, ``..``): refused before any call."""


@dataclass(frozen=True)
class Resource:
    """One resource type: where its objects live in the API."""

    api_version: str  # "v1", "batch/v1"
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, *, namespace: str | None = None, name: str | None = None, subresource: str | None = None) -> str:
        """The object's (or with no name, the collection's) path. Every part is escaped, so a name
        holding '/' or '..' (a pod's ownerReferences are its author's to write) stays one name."""
        base = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if self.namespaced:
            if not namespace:
                raise InvalidName(f"{self.plural} are namespaced: give a namespace")
            base += f"/namespaces/{_segment(namespace)}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{_segment(name)}"
        if subresource:
            base += f"/{_segment(subresource)}"
        return base

    def describe(self, name: str | None, namespace: str | None) -> str:
        """How errors name the object: "secrets lab/x", "mutatingwebhookconfigurations y"."""
        where = f"{namespace}/" if namespace and self.namespaced else ""
        return f"{self.plural} {where}{name}" if name else f"{self.plural} in {namespace}" if namespace else self.plural


def _segment(part: str) -> str:
    if not part or part in (".", ".."):
        raise InvalidName(f"{part!r} cannot name an object or a namespace")
    return urllib.parse.quote(part, safe="")


SECRETS = Resource("v1", "Secret", "secrets")
NAMESPACES = Resource("v1", "Namespace", "namespaces", namespaced=False)
PODS = Resource("v1", "Pod", "pods")
JOBS = Resource("batch/v1", "Job", "jobs")
REPLICA_SETS = Resource("apps/v1", "ReplicaSet", "replicasets")
STATEFUL_SETS = Resource("apps/v1", "StatefulSet", "statefulsets")
SERVICES = Resource("v1", "Service", "services")
ORAS_CACHES = Resource("cache.converged-computing.github.io/v1alpha1", "OrasCache", "orascaches")
DAEMON_SETS = Resource("apps/v1", "DaemonSet", "daemonsets")
LEASES = Resource("coordination.k8s.io/v1", "Lease", "leases")
EVENTS = Resource("events.k8s.io/v1", "Event", "events")
MUTATING_WEBHOOK_CONFIGURATIONS = Resource("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration",
                                           "mutatingwebhookconfigurations", namespaced=False)

PATCH_TYPES = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


class Kube:
    """A connection to one cluster's API; ``async with`` closes its pool."""

    def __init__(self, api: ApiClient, *, namespace: str = "default", timeout: float = REQUEST_TIMEOUT) -> None:
        self.api = api
        self.namespace = namespace  # the context's (or the pod's) namespace: the default for commands
        self.timeout = timeout
        # Told of every call as (operation, resource plural) from ``what``: "patch", "statefulsets".
        self.on_request: Callable[[str, str], None] | None = None

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.api.close()

    async def call(self, method: str, path: str, *, what: str, body: Any = None, query: dict[str, Any] | None = None,
                   content_type: str = "application/json", timeout: float | None = None) -> dict[str, Any]:
        """One API call returning the answer's JSON object; every failure a KubeError naming ``what``."""
        if self.on_request is not None:
            words = what.split()
            self.on_request(words[0], words[1] if len(words) > 1 else "")
        try:
            result = await self.api.call_api(
                path, method, query_params=list((query or {}).items()), body=body,
                header_params={"Accept": "application/json", "Content-Type": content_type},
                response_types_map={200: "object", 201: "object", 202: "object"}, auth_settings=["BearerToken"],
                _return_http_data_only=True, _preload_content=True, _request_timeout=timeout or self.timeout)
        except ApiException as e:
            raise api_error(e.status or 0, e.body, what=what, http_reason=e.reason or "") from e
        except (TimeoutError, aiohttp.ClientError, OSError) as e:
            host = self.api.configuration.host
            raise ClusterUnreachable(f"{what}: cannot reach the Kubernetes API at {host}: {str(e) or type(e).__name__}") from e
        except (ValueError, LookupError) as e:  # an answer the client cannot decode (charset, UTF-8)
            raise KubeError(f"{what}: the Kubernetes API answered with something that is not JSON: {e}") from e
        if not isinstance(result, dict):
            raise KubeError(f"{what}: the Kubernetes API answered with something that is not a JSON object")
        return result

    async def get(self, resource: Resource, name: str, *, namespace: str | None = None,
                  timeout: float | None = None) -> dict[str, Any]:
        return await self.call("GET", resource.path(namespace=namespace, name=name), timeout=timeout,
                               what=f"get {resource.describe(name, namespace)}")

    async def list(self, resource: Resource, *, namespace: str | None = None, label_selector: str | None = None,
                   field_selector: str | None = None) -> dict[str, Any]:
        query = {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v} or None
        return await self.call("GET", resource.path(namespace=namespace), query=query,
                               what=f"list {resource.describe(None, namespace)}")

    async def create(self, resource: Resource, body: dict[str, Any], *, namespace: str | None = None) -> dict[str, Any]:
        name = (body.get("metadata") or {}).get("name")
        return await self.call("POST", resource.path(namespace=namespace), body=body,
                               what=f"create {resource.describe(name, namespace)}")

    async def replace(self, resource: Resource, name: str, body: dict[str, Any], *,
                      namespace: str | None = None) -> dict[str, Any]:
        return await self.call("PUT", resource.path(namespace=namespace, name=name), body=body,
                               what=f"replace {resource.describe(name, namespace)}")

    async def patch(self, resource: Resource, name: str, patch: Any, *, namespace: str | None = None,
                    patch_type: str = "merge", field_manager: str | None = None, force: bool = False,
                    subresource: str | None = None) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if field_manager:
            query["fieldManager"] = field_manager
        if force:
            query["force"] = "true"
        return await self.call("PATCH", resource.path(namespace=namespace, name=name, subresource=subresource), body=patch,
                               query=query, content_type=PATCH_TYPES[patch_type],
                               what=f"patch {resource.describe(name, namespace)}{'/' + subresource if subresource else ''}")

    async def delete(self, resource: Resource, name: str, *, namespace: str | None = None) -> dict[str, Any]:
        return await self.call("DELETE", resource.path(namespace=namespace, name=name),
                               what=f"delete {resource.describe(name, namespace)}")
