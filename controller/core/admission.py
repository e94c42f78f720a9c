"""AdmissionReview in, AdmissionReview out: the pure core of the mutating webhook.

No HTTP and no Kubernetes client here (the server in webhook_server.py does that); the owner's
annotations are looked up by the caller and passed in.

Structurally wrong input never raises anything but MalformedReview: a body that is not an
AdmissionReview request is a MalformedReview (the server answers 400), and a pod whose fields are
not shaped as Kubernetes has them is denied naming the field (the apiserver would refuse it too).
"""

from __future__ import annotations

import base64
import json
from typing import Any, NamedTuple

from kubectl_oras.pods.annotations import InvalidAnnotations, StepSettings, merge_owner, parse_settings, shown
from kubectl_oras.pods.caches import CacheView
from kubectl_oras.pods.injection import InjectionConfig, InvalidPod, metadata_of, mutate_pod, pod_patch


class MalformedReview(ValueError):
    """The body is not an admission.k8s.io/v1 AdmissionReview request."""


def request_of(review: Any) -> dict[str, Any]:
    if not isinstance(review, dict):
        raise MalformedReview("body is not a JSON object")
    if review.get("apiVersion") != "admission.k8s.io/v1" or review.get("kind") != "AdmissionReview":
        raise MalformedReview("expected apiVersion admission.k8s.io/v1, kind AdmissionReview")
    request = review.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("uid"), str):
        raise MalformedReview("request.uid is missing")
    for field in ("kind", "object"):
        if not isinstance(request.get(field), dict | None):
            raise MalformedReview(f"request.{field} is not an object")
    for field in ("operation", "namespace"):
        if not isinstance(request.get(field), str | None):
            raise MalformedReview(f"request.{field} is not a string")
    return request


def controlling_owner(pod: Any) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``; None when there is none, or when the pod's
    metadata is malformed (review_pod then denies the pod naming the field)."""
    metadata = pod.get("metadata") if isinstance(pod, dict) else None
    refs = metadata.get("ownerReferences") if isinstance(metadata, dict) else None
    for ref in refs if isinstance(refs, list) else []:
        if isinstance(ref, dict) and ref.get("controller"):
            return ref
    return None


def pod_label(pod: Any) -> str:
    """The pod's name (or generateName) for the log; never fails."""
    metadata = pod.get("metadata") if isinstance(pod, dict) else None
    if not isinstance(metadata, dict):
        return "?"
    return str(metadata.get("name") or metadata.get("generateName") or "?")


def review_response(uid: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": uid, **fields}}


def _owner_references(metadata: dict[str, Any]) -> None:
    refs = metadata.get("ownerReferences")
    if refs is None:
        return
    if not isinstance(refs, list):
        raise InvalidPod(f"metadata.ownerReferences must be a list, not {shown(refs)}")
    for i, ref in enumerate(refs):
        if not isinstance(ref, dict):
            raise InvalidPod(f"metadata.ownerReferences[{i}] must be a map (apiVersion, kind, name, uid), not {shown(ref)}")


def _namespace(request: dict[str, Any], metadata: dict[str, Any]) -> str:
    namespace = request.get("namespace") or metadata.get("namespace") or "default"
    if not isinstance(namespace, str):
        raise InvalidPod(f"metadata.namespace must be a string, not {shown(namespace)}")
    return namespace


class CacheWanted(NamedTuple):
    """The OrasCache a pod uses, and the pod's settings (read once: review_pod takes them)."""

    namespace: str
    name: str
    settings: StepSettings


def cache_to_look_up(review: dict[str, Any], *, owner_annotations: dict[str, str] | None) -> CacheWanted | None:
    """The OrasCache the pod in ``review`` uses; None when it uses none (not marked, or it names
    its own registry) or when its annotations are wrong (review_pod denies it naming the key, with
    no lookup). Raises MalformedReview like review_pod."""
    request = request_of(review)
    pod = request.get("object")
    if request.get("operation") != "CREATE" or (request.get("kind") or {}).get("kind") != "Pod" or pod is None:
        return None
    try:
        metadata = metadata_of(pod)
        _owner_references(metadata)
        values = merge_owner(metadata.get("annotations"), owner_annotations)
        if not values:
            return None
        settings = parse_settings(values)
        return None if settings.registry else CacheWanted(_namespace(request, metadata), settings.cache, settings)
    except (InvalidAnnotations, InvalidPod):
        return None
    except RecursionError:
        raise MalformedReview("request.object is nested too deeply") from None


def review_pod(review: dict[str, Any], *, owner_annotations: dict[str, str] | None, agent_image: str,
               cache: CacheView | None = None, settings: StepSettings | None = None) -> dict[str, Any]:
    """Decide about one pod CREATE: allow untouched, allow with a JSONPatch, or deny with a reason.

    ``cache`` is what the cluster says of the OrasCache that cache_to_look_up named (None: the
    defaults), ``settings`` the pod's settings it read (None: read here). Raises MalformedReview
    for a body that is not a review request, or one nested too deeply to handle.
    """
    request = request_of(review)
    uid = request["uid"]
    pod = request.get("object")
    if request.get("operation") != "CREATE" or (request.get("kind") or {}).get("kind") != "Pod" or pod is None:
        return review_response(uid, allowed=True)
    try:
        metadata = metadata_of(pod)
        _owner_references(metadata)
        values = merge_owner(metadata.get("annotations"), owner_annotations)
        if not values:
            return review_response(uid, allowed=True)
        config = InjectionConfig(agent_image=agent_image, namespace=_namespace(request, metadata))
        new, settings = mutate_pod(pod, values, config, cache, settings=settings)
        ops = pod_patch(pod, new)
        patch = json.dumps(ops, separators=(",", ":")) if ops else None
    except (InvalidAnnotations, InvalidPod) as e:
        return review_response(uid, allowed=False, status={"code": 400, "reason": "BadRequest", "message": str(e)})
    except RecursionError:
        raise MalformedReview("request.object is nested too deeply") from None
    fields: dict[str, Any] = {"allowed": True}
    if patch:
        fields["patchType"] = "JSONPatch"
        fields["patch"] = base64.b64encode(patch.encode()).decode()
    if settings.warnings:
        fields["warnings"] = list(settings.warnings)
    return review_response(uid, **fields)
