"""Which credentials a pod's pull Secrets hold for a registry, as the kubelet reads them.

Pure: Secrets as the API returns them (their ``data`` base64) in, (user, password) pairs out. A
Secret of type ``kubernetes.io/dockerconfigjson`` (key ``.dockerconfigjson``, ``{"auths": {...}}``)
or ``kubernetes.io/dockercfg`` (key ``.dockercfg``, the map itself); an entry's key is a registry
host, with or without ``https://`` and a path (``https://index.docker.io/v1/``), and holds
``auth`` (base64 of user:password) or ``username`` and ``password``. Wildcard keys
(``*.example.com``) are not matched. A pull Secret the pod names that cannot be read (of another
type, its key missing, not base64 JSON of that shape, an entry for the registry with no user) is
``UnreadablePullSecret`` naming it and what is wrong: the kubelet would fail the pull of a malformed
one, and one of another type is a mistake the pod's author is told of rather than one that
silently turns the lookup anonymous. The message never quotes what the Secret holds.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from kubectl_oras.errors import OrasError

DOCKER_HUB_NAMES = ("docker.io", "index.docker.io", "registry-1.docker.io")
SECRET_KEYS = {"kubernetes.io/dockerconfigjson": ".dockerconfigjson", "kubernetes.io/dockercfg": ".dockercfg"}


class UnreadablePullSecret(OrasError):
    """A pull Secret a pod names from which no credentials can be read; the message names it."""


def registry_of_key(key: str) -> str:
    """The registry host a config's key names: its scheme and path dropped, Docker Hub's names made one."""
    host = key.split("://", 1)[-1].split("/", 1)[0].lower()
    return "docker.io" if host in DOCKER_HUB_NAMES else host


def pull_secret_names(pod: dict[str, Any], service_account: dict[str, Any] | None) -> list[str]:
    """The pod's imagePullSecrets, then its ServiceAccount's, each once, in the kubelet's order."""
    names: list[str] = []
    for owner in (pod.get("spec") or {}, service_account or {}):
        refs = owner.get("imagePullSecrets")
        for ref in refs if isinstance(refs, list) else []:
            name = ref.get("name") if isinstance(ref, dict) else None
            if isinstance(name, str) and name and name not in names:
                names.append(name)
    return names


def service_account_of(pod: dict[str, Any]) -> str:
    """The pod's ServiceAccount's name (``default`` when it names none, as the apiserver fills it in)."""
    name = (pod.get("spec") or {}).get("serviceAccountName") or (pod.get("spec") or {}).get("serviceAccount")
    return name if isinstance(name, str) and name else "default"


def _decoded(text: Any) -> str | None:
    try:
        return base64.b64decode(text, validate=True).decode() if isinstance(text, str) else None
    except (binascii.Error, UnicodeDecodeError):
        return None


def credentials_in(secret: dict[str, Any], registry: str) -> list[tuple[str, str]]:
    """The (user, password) pairs ``secret`` holds for ``registry`` (a host, ``docker.io`` for Docker Hub)."""
    metadata = secret.get("metadata") or {}
    name = f"imagePullSecret {metadata.get('namespace')}/{metadata.get('name')}"
    kind = secret.get("type")
    key = SECRET_KEYS.get(str(kind))
    if key is None:
        raise UnreadablePullSecret(f"{name} is of type {kind!r}, not one of {', '.join(SECRET_KEYS)}")
    data = secret.get("data")
    raw = _decoded(data.get(key)) if isinstance(data, dict) else None
    try:
        config = json.loads(raw) if raw else None
    except ValueError:
        config = None
    if isinstance(config, dict) and key == ".dockerconfigjson":
        config = config.get("auths")
    if not isinstance(config, dict):
        shape = '{"auths": {REGISTRY: {...}}}' if key == ".dockerconfigjson" else "{REGISTRY: {...}}"
        raise UnreadablePullSecret(f"{name}: its key {key} is missing or not base64 of JSON {shape}")
    found = []
    for entry_key, entry in config.items():
        if not isinstance(entry_key, str) or registry_of_key(entry_key) != registry_of_key(registry):
            continue
        if not isinstance(entry, dict):
            raise UnreadablePullSecret(f"{name}: its entry {entry_key!r} is not an object")
        user, password = entry.get("username"), entry.get("password")
        if not (isinstance(user, str) and isinstance(password, str) and user):
            user, colon, password = (_decoded(entry.get("auth")) or "").partition(":")
            user = user if colon else ""  # the kubelet refuses an auth without user:password too
        if not user:
            raise UnreadablePullSecret(f"{name}: its entry {entry_key!r} has neither a username "
                                       "nor an auth that is base64 of user:password")
        found.append((user, password))
    return found
