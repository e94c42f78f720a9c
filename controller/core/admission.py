"""AdmissionReview in, AdmissionReview out: the pure core of the mutating webhook.

No HTTP and no Kubernetes client here (the server in webhook.py does that); the owner's
annotations are looked up by the caller and passed in.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from kubectl_oras.pods.annotations import InvalidAnnotations, merge_owner
from kubectl_oras.pods.injection import InjectionConfig, mutate_pod, pod_patch


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
    return request


def controlling_owner(pod: dict[str, Any]) -> dict[str, Any] | None:
    for ref in (pod.get("metadata") or {}).get("ownerReferences") or []:
        if ref.get("controller"):
            return ref
    return None


def _response(uid: str, **fields: Any) -> dict[str, Any]:
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {"uid": uid, **fields}}


def review_pod(review: dict[str, Any], *, owner_annotations: dict[str, str] | None, agent_image: str) -> dict[str, Any]:
    """Decide about one pod CREATE: allow untouched, allow with a JSONPatch, or deny with a reason."""
    request = request_of(review)
    uid = request["uid"]
    pod = request.get("object")
    if request.get("operation") != "CREATE" or (request.get("kind") or {}).get("kind") != "Pod" or not isinstance(pod, dict):
        return _response(uid, allowed=True)
    values = merge_owner((pod.get("metadata") or {}).get("annotations"), owner_annotations)
    if not values:
        return _response(uid, allowed=True)
    namespace = request.get("namespace") or (pod.get("metadata") or {}).get("namespace") or "default"
    try:
        new, settings = mutate_pod(pod, values, InjectionConfig(agent_image=agent_image, namespace=namespace))
    except InvalidAnnotations as e:
        return _response(uid, allowed=False, status={"code": 400, "reason": "BadRequest", "message": str(e)})
    fields: dict[str, Any] = {"allowed": True}
    patch = pod_patch(pod, new)
    if patch:
        fields["patchType"] = "JSONPatch"
        fields["patch"] = base64.b64encode(json.dumps(patch, separators=(",", ":")).encode()).decode()
    if settings.warnings:
        fields["warnings"] = list(settings.warnings)
    return _response(uid, **fields)
