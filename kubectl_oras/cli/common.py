"""What every command shares: registry options, output format, and turning errors into one line."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Callable
from enum import Enum
from typing import Annotated, Any, TypeVar

import typer

from ..errors import OrasError
from ..oci.client import Credentials, RegistryClient

F = TypeVar("F", bound=Callable[..., Any])


class Format(str, Enum):
    text = "text"
    json = "json"


RegistryOption = Annotated[
    str | None,
    typer.Option("--registry", "-r", envvar="KUBECTL_ORAS_REGISTRY", metavar="HOST:PORT",
                 help="Registry to talk to (or write HOST:PORT/ in front of the reference)."),
]
PlainHttpOption = Annotated[
    bool, typer.Option("--plain-http", envvar="KUBECTL_ORAS_PLAIN_HTTP", help="Use HTTP instead of HTTPS.")
]
InsecureOption = Annotated[
    bool, typer.Option("--insecure", help="Use HTTPS without verifying the registry's certificate.")
]
ConcurrencyOption = Annotated[
    int, typer.Option("--concurrency", min=1, max=32, help="Layers transferred at once.")
]


def fail(message: str, code: int = 1) -> typer.Exit:
    typer.echo(f"error: {message}", err=True)
    return typer.Exit(code)


def handle_errors(func: F) -> F:
    """Bad input and failures become one line on stderr and exit 1; never a traceback."""

    @functools.wraps(func)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            return func(*args, **kwargs)
        except OrasError as e:
            raise fail(str(e)) from None
        except OSError as e:
            where = f"{e.filename}: " if e.filename else ""
            raise fail(f"{where}{e.strerror or e}") from None
        except KeyboardInterrupt:
            raise fail("interrupted", 130) from None

    return wrapper  # type: ignore[return-value]


def make_client(host: str, *, plain_http: bool, insecure: bool, push: bool) -> RegistryClient:
    """Credentials come from the environment (ORAS_USER / ORAS_PASS) or docker config, never flags."""
    return RegistryClient(host, plain_http=plain_http, insecure=insecure, credentials=Credentials.from_env(push=push))


def emit(fmt: Format, data: Any, text: str) -> None:
    if fmt is Format.json:
        json.dump(data, sys.stdout, indent=2)
        sys.stdout.write("\n")
    elif text:
        typer.echo(text)


def parse_annotations(pairs: list[str]) -> dict[str, str]:
    out: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise OrasError(f"annotation {pair!r} must be key=value")
        out[key] = value
    return out


def stderr_is_terminal() -> bool:
    return sys.stderr.isatty() and os.environ.get("TERM") != "dumb"
