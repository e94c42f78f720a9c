"""The options that aim a transfer command at a cache (``--cache``, and the cluster options);
which registry that means is kubectl_oras/targets.py."""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Annotated

import typer

from ..errors import OrasError
from ..targets import DEFAULT_CACHE, Target, Where, open_target
from .cluster_options import ContextOption, KubeconfigOption, NamespaceOption

REGISTRY_ENV = "KUBECTL_ORAS_REGISTRY"

CacheOption = Annotated[
    str | None, typer.Option("--cache", metavar="NAME",
                             help=f"The OrasCache to use (default: {DEFAULT_CACHE}, when no registry is named): reached "
                                  "through a port-forward to its registry pod, with its credentials read from its "
                                  "Secret (never shown).")]


def where_to(reference: str | None, *, registry: str | None, cache: str | None, plain_http: bool = False,
             insecure: bool = False, kubeconfig: str | None = None, context: str | None = None,
             namespace: str | None = None, environ: Mapping[str, str] | None = None) -> Where:
    """Which registry the flags mean. A flag beats the environment: ``--cache`` goes to the cache
    even with KUBECTL_ORAS_REGISTRY set; ``--cache`` with ``--registry``, or with a reference that
    names a registry host, is refused rather than one of them ignored."""
    from ..oci.reference import registry_host_of

    env = os.environ if environ is None else environ
    host = registry_host_of(reference) if reference else None
    if cache is not None:
        if registry:
            raise OrasError(f"give --registry or --cache, not both (--registry {registry}, --cache {cache})")
        if host:
            raise OrasError(f"{reference!r} names the registry {host}: drop {host}/ to use --cache {cache}, "
                            "or drop --cache")
    elif registry and host:
        raise OrasError(f"{reference!r} names the registry {host} and --registry names {registry}: give one")
    elif not registry and not host:
        registry = env.get(REGISTRY_ENV) or None
    return Where(registry, plain_http, insecure, cache or DEFAULT_CACHE, kubeconfig, context, namespace)


@contextmanager
def target_for(reference: str | None, *, registry: str | None, cache: str | None, plain_http: bool, insecure: bool,
               kubeconfig: str | None, context: str | None, namespace: str | None) -> Iterator[Target]:
    """The registry a command's options mean (``where_to``), open for the ``with`` block."""
    where = where_to(reference, registry=registry, cache=cache, plain_http=plain_http, insecure=insecure,
                     kubeconfig=kubeconfig, context=context, namespace=namespace)
    with open_target(where, reference) as target:
        yield target

__all__ = ["CacheOption", "ContextOption", "KubeconfigOption", "NamespaceOption", "Target", "target_for", "where_to"]
