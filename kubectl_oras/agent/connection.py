"""The agent's way to the registry its step names: references resolved there, and a client."""

from __future__ import annotations

import os
import threading
import time
from typing import TYPE_CHECKING

from ..oci.errors import Cancelled
from ..oci.reference import Reference, parse_reference
from ..pods.step import STEP_ENV, InvalidStep, StepDescription
from .registry_wait import wait_bound, wait_for_registry

if TYPE_CHECKING:
    from ..oci.client import RegistryClient


def reference(step: StepDescription, name: str) -> Reference:
    if "$(" in name:  # the kubelet leaves a $(NAME) it has no variable for as it is
        raise InvalidStep(f"{name}: a $(VARIABLE) in it was not expanded: this container defines no such variable "
                          f"before {STEP_ENV}")
    return parse_reference(name, registry=step.registry)


REFUSED_FOR = 180.0


def client(step: StepDescription, *, push: bool) -> RegistryClient:
    """Credentials from the environment (the Secret the injection wired in), never from the step."""
    from ..oci.client import Credentials, RegistryClient, RetryPolicy, Timeouts  # the HTTP stack, on first use

    # A cache's registry stops for a moment while it reclaims disk (docs/retention.md): a refused
    # connection is tried again for up to REFUSED_FOR seconds (within the step's timeout, if any).
    return RegistryClient(step.registry, plain_http=step.plain_http, credentials=Credentials.from_env(push=push),
                          timeouts=Timeouts(total=step.timeout), retry=RetryPolicy(refused_for=REFUSED_FOR))


def wait_until_up(step: StepDescription, client: RegistryClient, *, what: str | None = None,
                  stop: threading.Event | None = None) -> None:
    """Before the first request: wait (bounded, saying so) for a registry that does not answer yet;
    Cancelled once ``stop`` is set."""
    bound, by_timeout = wait_bound(os.environ, step.timeout)

    def sleep(seconds: float) -> None:
        if stop is None:
            time.sleep(seconds)
        elif stop.wait(seconds):
            raise Cancelled(f"stopped while waiting for registry {step.registry} to answer")

    wait_for_registry(step.registry, lambda limit: client.probe(limit=limit), bound=bound, by_timeout=by_timeout,
                      what=what, sleep=sleep)
