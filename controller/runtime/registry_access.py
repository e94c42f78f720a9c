"""How the leader reaches a cache's registry: at its Service's ClusterIP (no DNS needed), with the
cache's own credentials from its auth Secret; and whether the registry holds artifacts (what ends
an ArtifactsLost condition: docs/orascache.md). Retention's runs and the reconciler use it."""

from __future__ import annotations

from typing import Any

from kubectl_oras.oci.auth import Credentials
from kubectl_oras.oci.client import RegistryClient, RetryPolicy
from kubectl_oras.oci.transport import Timeouts
from kubectl_oras.orascache import PASSWORD_KEY, REGISTRY_PORT, USER_KEY, auth_secret_name
from kubectl_oras.retention.choice import is_reserved_repository

from ..core.cache_auth import secret_strings


def registry_address(service: dict[str, Any] | None, secret: dict[str, Any] | None, name: str,
                     auth: bool) -> tuple[str, Credentials | None] | str:
    """(host, credentials) of the registry of cache ``name`` from its Service and auth Secret (as
    the informers hold them), or why it cannot be reached yet."""
    address = ((service or {}).get("spec") or {}).get("clusterIP")
    if not address or address == "None":
        return "its registry's Service has no cluster IP yet"
    credentials = None
    if auth:
        data = secret_strings(secret)
        user, password = data.get(USER_KEY, ""), data.get(PASSWORD_KEY, "")
        if not user or not password:
            return f"its auth Secret {auth_secret_name(name)} has no {USER_KEY} and {PASSWORD_KEY} yet"
        credentials = Credentials(user, password)
    host = f"[{address}]:{REGISTRY_PORT}" if ":" in address else f"{address}:{REGISTRY_PORT}"
    return host, credentials


def holds_artifacts(host: str, credentials: Credentials | None) -> bool:
    """Whether the registry lists a repository of a user's (blocking: one short request, not
    retried; kubectl-oras's own, the reclamation marker, do not count). An error is raised."""
    client = RegistryClient(host, plain_http=True, credentials=credentials, pool_size=1,
                            timeouts=Timeouts(connect=3.0, read=5.0, total=10.0), retry=RetryPolicy(attempts=1))
    try:
        return any(not is_reserved_repository(repository) for repository in client.list_repositories())
    finally:
        client.transport.session.close()
