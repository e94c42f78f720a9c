"""AdmissionReview in, AdmissionReview out: the pure core of the mutating webhook.

No HTTP and no Kubernetes client here (the server in webhook_server.py does that); the owner's
annotations and the pod's OrasCache are looked up by the caller between the steps:

1. ``parse_review``: the body, checked once to be an AdmissionReview request (``RequestPayload``);
2. ``read_pod``: the pod in it read once: its annotations merged over its owner's, its settings,
   the OrasCache to look up (``PodToInject``), or a verdict already (not a pod CREATE, not
   marked, or wrong);
3. ``inject_agent``: the verdict for a ``PodToInject`` and what the cluster says of its cache
   (and, for a launcher without a command, of its image: ``PodToInject.launcher_image``).

``review_pod`` runs 2 and 3 for a cache known in advance. The payloads are TypedDicts, as
Kubernetes sends and expects them (admission.k8s.io/v1).

Structurally wrong input never raises anything but MalformedReview: a body that is not an
AdmissionReview request is a MalformedReview (the server answers 400), and a pod whose fields are
not shaped as Kubernetes has them is denied naming the field (the apiserver would refuse it too).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, Required, TypedDict, cast

from kubectl_oras.pods.annotations import InvalidAnnotations, StepSettings, merge_owner, parse_settings, shown
from kubectl_oras.pods.caches import CacheView
from kubectl_oras.pods.entrypoint import NoImageCommand, ResolvedImage
from kubectl_oras.pods.injection import (
    InjectionConfig,
    InvalidPod,
    check_pod,
    launcher_image,
    metadata_of,
    mutate_pod,
    pod_patch,
)

API_VERSION: Literal["admission.k8s.io/v1"] = "admission.k8s.io/v1"


class MalformedReview(ValueError):
    """The body is not an admission.k8s.io/v1 AdmissionReview request."""


class RequestPayload(TypedDict, total=False):
    """An AdmissionReview's ``request`` as parse_review checked it: the fields the webhook reads
    (the apiserver sends more: resource, userInfo, oldObject...). ``kind`` and ``object`` are maps
    whose insides read_pod checks."""

    uid: Required[str]
    kind: Mapping[str, Any] | None  # the object's group, version and kind
    operation: str | None  # CREATE, UPDATE, DELETE or CONNECT
    namespace: str | None
    object: dict[str, Any] | None
    oldObject: dict[str, Any] | None  # an UPDATE's object as it was


class ResponseStatus(TypedDict):
    """Why a pod is denied: what kubectl and the workload's controller show."""

    code: int
    reason: str
    message: str


class ResponsePayload(TypedDict, total=False):
    uid: Required[str]  # the request's, echoed
    allowed: Required[bool]
    patchType: Literal["JSONPatch"]
    patch: str  # base64 of the JSONPatch
    warnings: list[str]
    status: ResponseStatus  # when denied


class ReviewResponse(TypedDict):
    apiVersion: Literal["admission.k8s.io/v1"]
    kind: Literal["AdmissionReview"]
    response: ResponsePayload


def parse_review(review: Any) -> RequestPayload:
    """The request of an AdmissionReview (a JSON value as decoded); MalformedReview naming what is wrong."""
    if not isinstance(review, dict):
        raise MalformedReview("body is not a JSON object")
    if review.get("apiVersion") != API_VERSION or review.get("kind") != "AdmissionReview":
        raise MalformedReview(f"expected apiVersion {API_VERSION}, kind AdmissionReview")
    request = review.get("request")
    if not isinstance(request, dict) or not isinstance(request.get("uid"), str):
        raise MalformedReview("request.uid is missing")
    for field in ("kind", "object", "oldObject"):
        if not isinstance(request.get(field), dict | None):
            raise MalformedReview(f"request.{field} is not an object")
    for field in ("operation", "namespace"):
        if not isinstance(request.get(field), str | None):
            raise MalformedReview(f"request.{field} is not a string")
    return cast(RequestPayload, request)


def controlling_owner(pod: Any) -> dict[str, Any] | None:
    """The ownerReference with ``controller: true``; None when there is none, or when the pod's
    metadata is malformed (read_pod then denies the pod naming the field)."""
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


def review_response(response: ResponsePayload) -> ReviewResponse:
    return {"apiVersion": API_VERSION, "kind": "AdmissionReview", "response": response}


def allowed(uid: str) -> ReviewResponse:
    """Admitted as it is."""
    return review_response({"uid": uid, "allowed": True})


def denied(uid: str, message: str, *, code: int = 400, reason: str = "BadRequest") -> ReviewResponse:
    """Refused, saying why: 400 for the pod's fault, 503 for what may pass on a retry."""
    return review_response({"uid": uid, "allowed": False, "status": {"code": code, "reason": reason, "message": message}})


def _owner_references(metadata: dict[str, Any]) -> None:
    refs = metadata.get("ownerReferences")
    if refs is None:
        return
    if not isinstance(refs, list):
        raise InvalidPod(f"metadata.ownerReferences must be a list, not {shown(refs)}")
    for i, ref in enumerate(refs):
        if not isinstance(ref, dict):
            raise InvalidPod(f"metadata.ownerReferences[{i}] must be a map (apiVersion, kind, name, uid), not {shown(ref)}")


def namespace_of(request: RequestPayload, metadata: dict[str, Any]) -> str:
    """The namespace the object is made in: the request's, else its own, else default."""
    namespace = request.get("namespace") or metadata.get("namespace") or "default"
    if not isinstance(namespace, str):
        raise InvalidPod(f"metadata.namespace must be a string, not {shown(namespace)}")
    return namespace


@dataclass(frozen=True)
class PodToInject:
    """A pod CREATE that our annotations mark, read once: what inject_agent needs."""

    uid: str  # the review's
    pod: dict[str, Any]
    namespace: str
    values: dict[str, str]  # our annotations without prefix, the pod's merged over its owner's
    settings: StepSettings

    @property
    def cache(self) -> str | None:
        """The OrasCache (in ``namespace``) whose registry the pod uses; None when it names its own."""
        return None if self.settings.registry else self.settings.cache

    @property
    def launcher_image(self) -> tuple[str, str] | None:
        """(container, image) of a launcher without a command, whose image's command is looked up."""
        return launcher_image(self.pod, self.settings)


def read_pod(request: RequestPayload, *, owner_annotations: dict[str, str] | None) -> PodToInject | ReviewResponse:
    """The pod of a CREATE our annotations mark (on it or on its controlling owner), or the verdict
    already: allowed untouched (another operation or kind, not marked) or denied naming the key or
    field that is wrong. Raises MalformedReview for a pod nested too deeply to read."""
    uid, pod = request["uid"], request.get("object")
    if request.get("operation") != "CREATE" or (request.get("kind") or {}).get("kind") != "Pod" or pod is None:
        return allowed(uid)
    try:
        metadata = metadata_of(pod)
        _owner_references(metadata)
        values = merge_owner(metadata.get("annotations"), owner_annotations)
        if not values:
            return allowed(uid)
        namespace = namespace_of(request, metadata)
        check_pod(pod)
        return PodToInject(uid, pod, namespace, values, parse_settings(values))
    except (InvalidAnnotations, InvalidPod) as e:
        return denied(uid, str(e))
    except RecursionError:
        raise MalformedReview("request.object is nested too deeply") from None


def inject_agent(marked: PodToInject, *, agent_image: str, cache: CacheView | None,
                 image: ResolvedImage | None = None) -> ReviewResponse:
    """Allow the pod with a JSONPatch that injects the agent, or deny it with a reason.

    ``cache`` is what the cluster says of ``marked.cache`` (None: the defaults); ``image`` what
    the registry or a static entry says of the image of a launcher without a command
    (``marked.launcher_image``). Raises MalformedReview for a pod nested too deeply to handle.
    """
    try:
        config = InjectionConfig(agent_image=agent_image, namespace=marked.namespace)
        new, settings = mutate_pod(marked.pod, marked.values, config, cache, settings=marked.settings, image=image)
        ops = pod_patch(marked.pod, new)
        patch = json.dumps(ops, separators=(",", ":")) if ops else None
    except (InvalidAnnotations, InvalidPod, NoImageCommand) as e:
        return denied(marked.uid, str(e))
    except RecursionError:
        raise MalformedReview("request.object is nested too deeply") from None
    response: ResponsePayload = {"uid": marked.uid, "allowed": True}
    if patch:
        response["patchType"] = "JSONPatch"
        response["patch"] = base64.b64encode(patch.encode()).decode()
    if settings.warnings:
        response["warnings"] = list(settings.warnings)
    return review_response(response)


def review_pod(request: RequestPayload, *, owner_annotations: dict[str, str] | None, agent_image: str,
               cache: CacheView | None = None) -> ReviewResponse:
    """The whole verdict on one request when the pod's cache is known in advance (None: the defaults)."""
    marked = read_pod(request, owner_annotations=owner_annotations)
    if not isinstance(marked, PodToInject):
        return marked
    return inject_agent(marked, agent_image=agent_image, cache=cache)
