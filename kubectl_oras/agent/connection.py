"""The agent's way to the registry its step names: references resolved there, and a client."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING

from ..oci.reference import Reference, parse_reference
from ..pods.step import StepDescription
from .registry_wait import wait_bound, wait_for_registry

if TYPE_CHECKING:
    from ..oci.client import RegistryClient


def reference(step: StepDescription, name: str) -> Reference:
    return parse_reference(name, registry=step.registry)


def client(step: StepDescription, *, push: bool) -> RegistryClient:
    """Credentials from the environment (the Secret the injection wired in), never from the step."""
    from ..oci.client import Credentials, RegistryClient, Timeouts  # the HTTP stack, imported on first use

    return RegistryClient(step.registry, plain_http=step.plain_http, credentials=Credentials.from_env(push=push),
                          timeouts=Timeouts(total=step.timeout))


def wait_until_up(step: StepDescription, client: RegistryClient, *, what: str | None = None) -> None:
    """Before the first request: wait (bounded, saying so) for a registry that does not answer yet."""
    bound, by_timeout = wait_bound(os.environ, step.timeout)
    wait_for_registry(step.registry, lambda limit: client.probe(limit=limit), bound=bound, by_timeout=by_timeout,
                      what=what)
