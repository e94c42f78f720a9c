"""What the injection needs to know of a pod's OrasCache (``CacheView``); the facts every part
agrees on about a cache (its Service, its Secrets' names) are ``kubectl_oras/orascache.py``'s.

``CacheView`` and ``cluster/caches.py: CacheEndpoint`` are two views of one OrasCache, kept apart
on purpose. This one is what a pod is given: read from the cache's spec by the webhook (or assumed
by `kubectl oras inject`), for a cache that may not be ready yet, and it holds Secret NAMES only,
which the pod's agents take by envFrom: a password never passes through the webhook. The other is
what `kubectl oras` on the user's machine needs to reach a Ready cache's registry through a
port-forward: the Service and port of its status, and the credential VALUES read from its Secret.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..orascache import auth_secret_name


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
