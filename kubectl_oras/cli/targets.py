"""The options that aim a transfer command at a cache (``--cache``, and the cluster options);
which registry that means is kubectl_oras/targets.py."""

from __future__ import annotations

from typing import Annotated

import typer

from ..targets import Target, Where, names_a_registry, open_target
from .cluster_options import ContextOption, KubeconfigOption, NamespaceOption

CacheOption = Annotated[
    str, typer.Option("--cache", envvar="KUBECTL_ORAS_CACHE", metavar="NAME",
                      help="The OrasCache to use when no --registry is given: reached through a port-forward to its "
                           "registry pod, with its credentials read from its Secret (never shown).")]

__all__ = ["CacheOption", "ContextOption", "KubeconfigOption", "NamespaceOption", "Target", "Where", "names_a_registry",
           "open_target"]
