"""Kubernetes API failures as the project's errors: mapped once, here, from the HTTP status.

The apiserver explains itself in a Status object (``message``: "secrets \\"x\\" is forbidden:
User … cannot get resource …"); that message is what the user is shown, after what we were doing.
"""

from __future__ import annotations

import json
from typing import Any

from ..errors import OrasError


class KubeError(OrasError):
    """The Kubernetes API refused or failed a request."""

    def __init__(self, message: str, *, status: int | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.reason = reason


class ClusterUnreachable(KubeError):
    """No cluster to talk to: no kubeconfig or in-cluster config, or the apiserver did not answer."""


class Unauthorized(KubeError):
    """401: the credentials in the kubeconfig are not accepted."""


class Forbidden(KubeError):
    """403: RBAC does not allow this request."""


class NotFound(KubeError):
    """404: no such object (or resource type)."""


class Conflict(KubeError):
    """409: the object exists already, or changed since it was read."""


class Gone(KubeError):
    """410: a watch's resourceVersion is too old; list again. Normal after a few quiet minutes."""


class Invalid(KubeError):
    """422: the object does not pass validation; the message names the field."""


_BY_STATUS: dict[int, type[KubeError]] = {401: Unauthorized, 403: Forbidden, 404: NotFound, 409: Conflict, 410: Gone,
                                          422: Invalid}


def status_message(body: Any) -> tuple[str, str]:
    """(message, reason) from a Status object's JSON, or ("", "") when the body is not one."""
    if isinstance(body, (bytes, str)):
        try:
            body = json.loads(body)
        except (ValueError, RecursionError):  # UnicodeDecodeError is a ValueError
            return "", ""
    if not isinstance(body, dict):
        return "", ""
    return str(body.get("message") or ""), str(body.get("reason") or "")


def api_error(status: int, body: Any, *, what: str, http_reason: str = "") -> KubeError:
    """The error for an API answer with ``status``; ``what`` says what we were doing."""
    message, reason = status_message(body)
    kind = _BY_STATUS.get(status, KubeError)
    fallback = f"the API answered {status} {http_reason}".rstrip()
    return kind(f"{what}: {message or fallback}", status=status, reason=reason)


class PortForwardError(KubeError):
    """A port-forward could not be set up or broke: the kubelet's error, a protocol fault."""


class NoReadyPod(PortForwardError):
    """No pod behind the Service is Running and Ready; the message says what state each is in."""
