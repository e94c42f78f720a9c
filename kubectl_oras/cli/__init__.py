"""The `kubectl oras` command line (kubectl finds the `kubectl-oras` executable as a plugin)."""

from __future__ import annotations

import typer

from . import annotate, cluster, direct, gc, inject
from .common import run_as_program

app = typer.Typer(
    name="kubectl-oras",
    help="Pass files between Kubernetes workflow steps through an OCI registry, and pull the results.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)
direct.register(app)
inject.register(app)
gc.register(app)
cluster.register(app)
annotate.register(app)


def main() -> None:
    run_as_program(lambda: app(prog_name="kubectl-oras"))
