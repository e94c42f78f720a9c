"""The target options of a transfer, parsed once into one immutable value: which registry or cache,
HTTP or HTTPS, the three time limits, and the cluster to find a cache in.

Light: the command line builds this before anything else, so it imports only plain data.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from ..durations import positive_duration
from ..errors import OrasError
from ..oci.defaults import Timeouts
from ..orascache import DEFAULT_CACHE

REGISTRY_ENV = "KUBECTL_ORAS_REGISTRY"
TIMEOUT_VARIABLES = {"--timeout": "KUBECTL_ORAS_TIMEOUT", "--connect-timeout": "KUBECTL_ORAS_CONNECT_TIMEOUT",
                     "--read-timeout": "KUBECTL_ORAS_READ_TIMEOUT"}


@dataclass(frozen=True)
class TransferOptions:
    """Where transfers go and how long they may take, as the user said it.

    ``registry`` is one named apart from the references (``--registry``): a reference that names
    another host is then refused. ``cache`` is one named explicitly (``--cache``): a reference
    that names a host is then refused. ``default_registry`` (KUBECTL_ORAS_REGISTRY) is used only
    when neither the options nor the reference name a registry or a cache. Otherwise a reference
    without a host goes to the cache ``default_cache`` in ``namespace``.
    """

    registry: str | None = None
    cache: str | None = None
    default_registry: str | None = None
    default_cache: str = DEFAULT_CACHE
    plain_http: bool = False
    insecure: bool = False
    timeouts: Timeouts = Timeouts()
    kubeconfig: str | None = None
    context: str | None = None
    namespace: str | None = None

    def __post_init__(self) -> None:
        if self.cache is not None and self.registry:
            raise OrasError(f"give --registry or --cache, not both (--registry {self.registry}, --cache {self.cache})")

    @property
    def cache_name(self) -> str:
        return self.cache or self.default_cache


def transfer_options(*, registry: str | None = None, cache: str | None = None, plain_http: bool = False,
                     insecure: bool = False, timeout: str | None = None, connect_timeout: str | None = None,
                     read_timeout: str | None = None, kubeconfig: str | None = None, context: str | None = None,
                     namespace: str | None = None, environ: Mapping[str, str] | None = None) -> TransferOptions:
    """The options as given on a command line (durations as text), checked; an error naming the
    option (and its variable, when the value came from there) otherwise. A flag beats the
    environment: ``--cache`` goes to the cache even with KUBECTL_ORAS_REGISTRY set."""
    env = os.environ if environ is None else environ
    limits = time_limits(total=timeout, connect=connect_timeout, read=read_timeout, environ=env)
    return TransferOptions(registry=registry or None, cache=cache, plain_http=plain_http, insecure=insecure,
                           default_registry=None if cache is not None else env.get(REGISTRY_ENV) or None,
                           timeouts=limits, kubeconfig=kubeconfig, context=context, namespace=namespace)


def time_limits(*, total: str | None, connect: str | None, read: str | None,
                environ: Mapping[str, str]) -> Timeouts:
    """The three timeout options as seconds (the engine's defaults for those not given)."""
    seconds: dict[str, float | None] = {}
    for option, text in (("--timeout", total), ("--connect-timeout", connect), ("--read-timeout", read)):
        if text is None:
            seconds[option] = None
            continue
        # The value may come from the option's variable: then the message names both.
        variable = TIMEOUT_VARIABLES[option]
        culprit = f"{option} or {variable}" if environ.get(variable) == text else option
        try:
            seconds[option] = positive_duration(text)
        except ValueError as e:
            raise OrasError(f"{culprit}: {e}") from None
    return Timeouts(connect=seconds["--connect-timeout"] or Timeouts.connect,
                    read=seconds["--read-timeout"] or Timeouts.read, total=seconds["--timeout"])
