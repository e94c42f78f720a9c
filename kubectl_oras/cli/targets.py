"""The options that aim a transfer command (push, pull, tags, ls, rm, gc): ``--registry``,
``--cache``, ``--plain-http``, ``--insecure``, the three time limits and the cluster options,
declared once. ``transfer_command`` adds them to a command's signature and hands the command one
``TransferOptions`` (kubectl_oras/transfers/options.py) in their place."""

from __future__ import annotations

import functools
import inspect
import typing
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

import typer

from ..transfers.options import DEFAULT_CACHE, TransferOptions, transfer_options
from ..transfers.session import Session
from .cluster_options import ContextOption, KubeconfigOption, NamespaceOption
from .common import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    ConnectTimeoutOption,
    InsecureOption,
    PlainHttpOption,
    ReadTimeoutOption,
    RegistryOption,
    TimeoutOption,
    alarm,
)

F = TypeVar("F", bound=Callable[..., Any])

CacheOption = Annotated[
    str | None, typer.Option("--cache", metavar="NAME",
                             help=f"The OrasCache to use (default: {DEFAULT_CACHE}, when no registry is named): reached "
                                  "through a port-forward to its registry pod, with its credentials read from its "
                                  "Secret (never shown).")]

# (name, annotation, default) of each shared option, in the order the help lists them.
TARGET_OPTIONS: tuple[tuple[str, Any, Any], ...] = (
    ("registry", RegistryOption, None),
    ("plain_http", PlainHttpOption, False),
    ("insecure", InsecureOption, False),
    ("cache", CacheOption, None),
    ("kubeconfig", KubeconfigOption, None),
    ("context", ContextOption, None),
    ("namespace", NamespaceOption, None),
    ("timeout", TimeoutOption, None),
    ("connect_timeout", ConnectTimeoutOption, DEFAULT_CONNECT_TIMEOUT),
    ("read_timeout", ReadTimeoutOption, DEFAULT_READ_TIMEOUT),
)


def transfer_command(command: F) -> F:
    """``command(..., options: TransferOptions, ...)`` as typer sees it: the shared options in place
    of its ``options`` parameter, parsed into one ``TransferOptions`` when it runs."""
    hints = typing.get_type_hints(command, include_extras=True)
    own = [p.replace(annotation=hints.get(p.name, p.annotation))
           for p in inspect.signature(command).parameters.values()]
    at = next(i for i, p in enumerate(own) if p.name == "options")
    shared = [inspect.Parameter(name, inspect.Parameter.KEYWORD_ONLY, annotation=annotation, default=default)
              for name, annotation, default in TARGET_OPTIONS]
    parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in [*own[:at], *shared, *own[at + 1:]]]

    @functools.wraps(command)
    def with_options(**given: Any) -> Any:
        values = {name: given.pop(name) for name, _, _ in TARGET_OPTIONS}
        return command(**given, options=transfer_options(**values))

    with_options.__signature__ = inspect.Signature(parameters)  # type: ignore[attr-defined]
    with_options.__annotations__ = {p.name: p.annotation for p in parameters}
    return with_options  # type: ignore[return-value]


def session(options: TransferOptions) -> Session:
    """A session for one command: its --timeout clock starts as the transfer reaches its registry."""
    return Session(options, on_start=alarm(options.timeouts))


__all__ = ["CacheOption", "ContextOption", "KubeconfigOption", "NamespaceOption", "session", "transfer_command"]
