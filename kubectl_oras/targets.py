"""Which registry a command (or the Python API) talks to: the one named by ``registry`` (or a
``HOST:PORT/`` in front of the reference), else a cache in the cluster (default ``oras``) through a
port-forward, with the cache's credentials read from its Secret.

Light at import: the engine, the cluster stack and the port-forward are imported when a target is
opened, so `kubectl oras --help` loads none of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from .errors import OrasError

if TYPE_CHECKING:
    from .cluster.registry import CacheRegistry
    from .oci.client import Credentials, RegistryClient, Timeouts
    from .oci.reference import Reference

DEFAULT_CACHE = "oras"  # pods/annotations.py's, without importing the pod logic (a test holds them equal)


@dataclass(frozen=True)
class Where:
    """The target options of one command, as given."""

    registry: str | None = None
    plain_http: bool = False
    insecure: bool = False
    cache: str = DEFAULT_CACHE
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None


def names_a_registry(reference: str | None, registry: str | None) -> bool:
    """Direct mode: a registry is given, or the reference starts with a registry host. Otherwise
    the command goes to a cache in the cluster."""
    if registry:
        return True
    if not reference:
        return False
    from .oci.reference import registry_host_of

    return registry_host_of(reference) is not None


@dataclass
class Target:
    """An open registry: ``host`` for the engine, and, through a cache, the port-forward."""

    host: str
    plain_http: bool
    insecure: bool
    credentials: Credentials | None = field(repr=False, default=None)
    cache: CacheRegistry | None = None
    given_registry: str | None = None  # the registry named apart from the reference (--registry)

    def reference(self, text: str, *, default_tag: str | None = "latest") -> Reference:
        """``text`` parsed as the engine will use it. A registry given apart from the reference
        wins, so a reference that names another host is refused rather than sent elsewhere."""
        from .oci.reference import parse_reference

        registry = self.host if self.cache is not None else self.given_registry
        return parse_reference(text, registry=registry, default_tag=default_tag)

    def client(self, *, push: bool, limits: Timeouts | None = None, pool_size: int = 8) -> RegistryClient:
        """A client for the engine: a cache's credentials, else the environment's (ORAS_USER /
        ORAS_PASS) or a docker config's; never a flag's."""
        from .oci.client import Credentials, RegistryClient, Timeouts

        return RegistryClient(self.host, plain_http=self.plain_http, insecure=self.insecure,
                              credentials=self.credentials or Credentials.from_env(push=push),
                              timeouts=limits or Timeouts(), pool_size=pool_size)

    def shown(self, text: str) -> str:
        """A line about the registry, said the user's way: the cache, not the tunnel's local port."""
        return self.cache.explain(text) if self.cache is not None else text

    def named(self, reference: str) -> str:
        """A reference as the user wrote it: through a cache, without the tunnel's local address."""
        if self.cache is not None and reference.startswith(self.host + "/"):
            return reference[len(self.host) + 1:]
        return reference

    @property
    def suffix(self) -> str:
        """`` (cache lab/oras)`` after a line about a cache's registry; nothing in direct mode."""
        return f" ({self.cache.name})" if self.cache is not None else ""

    @property
    def description(self) -> dict[str, str]:
        """For -o json through a cache: which one (direct mode's output is as it always was)."""
        if self.cache is not None:
            return {"cache": f"{self.cache.endpoint.namespace}/{self.cache.endpoint.name}"}
        return {}


@contextmanager
def open_target(where: Where, reference: str | None = None) -> Iterator[Target]:
    """The registry a command talks to, for the ``with`` block. Through a cache, a failure inside
    the block is said about the cache, with what the port-forward saw."""
    if names_a_registry(reference, where.registry):
        host = where.registry or ""
        if not host and reference:
            from .oci.reference import registry_host_of

            host = registry_host_of(reference) or ""
        yield Target(host, where.plain_http, where.insecure, given_registry=where.registry or None)
        return
    from .cluster.registry import open_cache_registry
    from .kube.errors import ClusterUnreachable
    from .oci.auth import Credentials
    from .oci.reference import parse_reference

    if reference:  # a reference that cannot be one is said before the cluster is asked anything
        parse_reference(reference, registry="cache.invalid", default_tag=None)

    with ExitStack() as stack:
        try:
            cache = stack.enter_context(open_cache_registry(cache=where.cache, namespace=where.namespace,
                                                            kubeconfig=where.kubeconfig, context=where.context))
        except ClusterUnreachable as e:  # no cluster at all: say the other way too
            raise ClusterUnreachable(f"{e} (or name a registry with --registry HOST:PORT)") from e
        endpoint = cache.endpoint
        credentials = Credentials(endpoint.username, endpoint.password) if endpoint.username and endpoint.password else None
        target = Target(cache.address, plain_http=True, insecure=False, credentials=credentials, cache=cache)
        try:
            yield target
        except OrasError as e:
            raise OrasError(target.shown(str(e))) from e


MAX_TAGS_SAID = 20


def tags_said(client: RegistryClient, ref: Reference) -> str:
    """After "not found": the repository's tags, so the user sees what there is."""
    from .oci.errors import NotFound, RegistryError

    if not ref.tag:
        return f"no manifest {ref.digest} in {ref.repository}"
    try:
        found = client.list_tags(ref.repository)
    except NotFound:
        return f"there is no repository {ref.repository}"
    except RegistryError:
        return f"no tag {ref.tag} in {ref.repository}"
    if not found:
        return f"{ref.repository} has no tags"
    shown = ", ".join(found[:MAX_TAGS_SAID]) + (f", … ({len(found) - MAX_TAGS_SAID} more)" if len(found) > MAX_TAGS_SAID else "")
    return f"tags in {ref.repository}: {shown}"
