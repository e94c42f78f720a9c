"""What every part agrees on about an OrasCache: where its registry answers and which Secret holds
its credentials. The controller makes these objects, the webhook wires them into pods, and
`kubectl oras` reads them; the names are made here once.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

REGISTRY_PORT = 5000
MAX_NAME = 253  # a Secret's name is a DNS subdomain


def cache_registry(cache: str, namespace: str, port: int = REGISTRY_PORT) -> str:
    """The Service of an OrasCache: reachable from any pod, no subdomain or hostname tricks."""
    return f"{cache}.{namespace}.svc:{port}"


def _named(cache: str, suffix: str) -> str:
    """``cache + suffix``; when that is over 253 characters, the cache name cut short and marked
    with a hash of the whole of it, so two long names that share a beginning stay apart."""
    name = cache + suffix
    if len(name) <= MAX_NAME:
        return name
    digest = hashlib.sha256(cache.encode()).hexdigest()[:8]
    # A cut may end in '.' or '-': '.-' would start a label with '-', which a DNS name may not.
    head = cache[: MAX_NAME - len(suffix) - len(digest) - 1].rstrip(".-")
    return f"{head}-{digest}{suffix}"


def auth_secret_name(cache: str) -> str:
    """The Secret with ORAS_USER and ORAS_PASS for the cache's registry (envFrom in the agents)."""
    return _named(cache, "-oras-auth")


def registry_secret_name(cache: str) -> str:
    """The Secret with the registry's own secrets (its htpasswd file, its HTTP secret): only the
    registry uses it, so the agents never see the password's hash."""
    return _named(cache, "-oras-registry")


# The Degraded reason of a cache whose registry pod is stuck (an image that cannot be pulled, a
# claim no volume binds, a container that keeps dying): the webhook denies its steps, and
# `create-cache --wait` stops waiting, both naming the pod's or the claim's reason.
REGISTRY_CANNOT_START = "RegistryCannotStart"


@dataclass(frozen=True)
class CacheView:
    """What the injection needs to know of a pod's OrasCache.

    The webhook reads the cache; `kubectl oras inject` (no cluster) assumes the defaults:
    the cache exists, runs a registry, and has auth on.
    """

    name: str
    exists: bool = True
    deploy: bool = True
    auth_secret: str | None = None  # None: auth off
    oras_env: str | None = None  # spec.secrets.orasEnv: the agents' Secret for a cache without auth
    problem: str | None = None  # why the cache cannot run its registry (its status says so)

    @classmethod
    def default(cls, name: str) -> CacheView:
        return cls(name, auth_secret=auth_secret_name(name))
