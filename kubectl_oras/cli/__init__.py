"""The `kubectl oras` command line (kubectl finds the `kubectl-oras` executable as a plugin).

Importing it loads only what builds the commands and their help: each command imports the engine
it runs when it runs, so `--help` and `version` start fast (docs/architecture.md).
"""

from __future__ import annotations

import typer

from . import annotate, cluster, direct, gc, inject, logs, provenance, version
from .common import run_as_program

app = typer.Typer(
    name="kubectl-oras",
    help="Pass files between Kubernetes workflow steps through an OCI registry, and pull the results.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: loading rich to draw it would cost more than the rest of start-up
    context_settings={"help_option_names": ["-h", "--help"]},
)
direct.register(app)
inject.register(app)
gc.register(app)
version.register(app)
cluster.register(app)
annotate.register(app)
logs.register(app)
provenance.register(app)


def main() -> None:
    run_as_program(lambda: app(prog_name="kubectl-oras"))
