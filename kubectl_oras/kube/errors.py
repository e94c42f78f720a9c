"""Kubernetes API failures as the project's errors: mapped once, here, from the HTTP status.

The apiserver explains itself in a Status object (``message``: "secrets \\"x\\" is forbidden:
User … cannot get resource …"); that message is what the user is shown, after what we were doing.
"""

from __future__ import annotations

import json
import re
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


class ObjectNotFound(KubeError):
    """404 from the apiserver: no such object (or resource type). A registry's 404 is ``oci.errors.NotFound``."""


class Conflict(KubeError):
    """409: the object exists already, or changed since it was read."""


class Gone(KubeError):
    """410: a watch's resourceVersion is too old; list again. Normal after a few quiet minutes."""


class Invalid(KubeError):
    """422: the object does not pass validation; the message names the field."""


_BY_STATUS: dict[int, type[KubeError]] = {401: Unauthorized, 403: Forbidden, 404: ObjectNotFound, 409: Conflict, 410: Gone,
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


# RBAC's refusal, as the apiserver words it (k8s.io/apiserver's authorization/forbidden):
#   User "bob" cannot create resource "orascaches" in API group "cache…" in the namespace "lab"
#   User "bob" cannot list resource "customresourcedefinitions" in API group "…" at the cluster scope
# kube-apiserver 1.36 checks constrained impersonation first, and until a caller has once been
# let through by the legacy check it refuses in its words, the request's verb after the mode and
# no user or group named:
#   User "bob" cannot impersonate-on:user-info:list resource "orascaches" in API group "…" in the namespace "lab"
# (once a legacy impersonation succeeded, the refusals are the legacy check's: `groups "ops" is
# forbidden: User "bob" cannot impersonate resource "groups" …`; tests/cluster/test_kubectl_flags.py)
_RBAC_REFUSAL = re.compile(
    r'(?P<who>(?:User|ServiceAccount|Group) "[^"]*") cannot (?P<verb>[a-z]+)(?:-on:[a-z-]+:(?P<action>[a-z]+))?'
    r' resource "(?P<resource>[^"]+)"'
    r'(?: in API group "[^"]*")?(?: in the namespace "(?P<namespace>[^"]+)"| (?P<cluster>at the cluster scope))?')
# the object refused, before the refusal: `groups "ops" is forbidden: User "bob" cannot impersonate …`,
# its name as Go's %q writes it (a quote or a backslash escaped)
_REFUSED_NAME = re.compile(r'^[^\s"]+ "(?P<name>(?:[^"\\]|\\.)*)" is forbidden: ')
_ONE_WORD = re.compile(r'[^\s"\\]+')


def forbidden_words(body: Any) -> str | None:
    """A 403's refusal in the user's words: ``you cannot create orascaches in namespace lab (User "bob")``
(an impersonation's names whom: ``you cannot impersonate groups ops at cluster scope (User "bob")``).

    Read from the Status's message, which alone names the verb and the namespace (its
    ``details`` hold only the group and the resource's plural, in ``kind``). None for a refusal
    worded otherwise (an admission plugin's): the caller shows the apiserver's message as it is.
    """
    message, _ = status_message(body)
    found = _RBAC_REFUSAL.search(message)
    if found:
        where = (f" in namespace {found['namespace']}" if found["namespace"]
                 else " at cluster scope" if found["cluster"] else "")
        if found["action"]:  # the constrained check's: which user or group is not said
            return (f"you cannot impersonate the --as user and groups to {found['action']} "
                    f"{found['resource']}{where} ({found['who']})")
        # which user or group may not be impersonated (of several --as-group, the one refused),
        # quoted as the apiserver quoted it unless one word (an empty name it leaves out: `groups is forbidden`)
        named = _REFUSED_NAME.match(message) if found["verb"] == "impersonate" else None
        name = "" if named is None else f" {named['name']}" if _ONE_WORD.fullmatch(named["name"]) else f' "{named["name"]}"'
        return f"you cannot {found['verb']} {found['resource']}{name}{where} ({found['who']})"
    return None


def api_error(status: int, body: Any, *, what: str, http_reason: str = "") -> KubeError:
    """The error for an API answer with ``status``; ``what`` says what we were doing.

    A 403 from RBAC is said in the user's words (``forbidden_words``), without the apiserver's
    repetition of the resource's full name.
    """
    message, reason = status_message(body)
    kind = _BY_STATUS.get(status, KubeError)
    if status == 403 and (words := forbidden_words(body)):
        return kind(words, status=status, reason=reason)
    fallback = f"the API answered {status} {http_reason}".rstrip()
    return kind(f"{what}: {message or fallback}", status=status, reason=reason)


class PortForwardError(KubeError):
    """A port-forward could not be set up or broke: the kubelet's error, a protocol fault."""


class NoReadyPod(PortForwardError):
    """No pod behind the Service is Running and Ready; the message says what state each is in."""
