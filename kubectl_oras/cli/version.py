"""`kubectl oras version`: the client's version, and the controller's when it can be asked."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from .. import __version__
from .common import Format, add_command, emit, examples, handle_errors

EPILOG = examples("kubectl oras version", "kubectl oras version -o json")


def controller_version() -> str | None:
    """The version of the controller in the current cluster, when it is reachable; None when it is
    not, or cannot be asked.

    The client asks no cluster yet, so this is None. Whatever asks must import the cluster stack
    here, inside the function, never at the top of this module: `version` starts without it.
    """
    return None


@handle_errors
def version(
    output: Annotated[Format, typer.Option("--output", "-o", help="Output format: text or json.")] = Format.text,
) -> None:
    """Print the version of this kubectl-oras."""
    data: dict[str, Any] = {"client": {"version": __version__}}
    lines = [f"kubectl-oras {__version__}"]
    controller = controller_version()
    if controller is not None:
        data["controller"] = {"version": controller}
        lines.append(f"controller {controller}")
    emit(output, data, "\n".join(lines))


def register(app: typer.Typer) -> None:
    add_command(app, version, epilog=EPILOG)
