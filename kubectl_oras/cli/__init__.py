"""The `kubectl oras` command line (kubectl finds the `kubectl-oras` executable as a plugin).

Importing it loads only what builds the commands and their help: each command imports the engine
it runs when it runs, so `--help` and `version` start fast (docs/architecture.md).
"""

from __future__ import annotations

import os
import sys

import typer

from . import annotate, cluster, completion, direct, gc, inject, logs, moving, provenance, version
from .command_line import global_flags_placed, program_name
from .common import run_as_program
from .global_options import global_options

app = typer.Typer(
    name="kubectl-oras",
    help="Pass files between Kubernetes workflow steps through an OCI registry, and pull the results.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    rich_markup_mode=None,  # click's plain help: loading rich to draw it would cost more than the rest of start-up
    context_settings={"help_option_names": ["-h", "--help"]},
    callback=global_options,
)
direct.register(app)
moving.register(app)
inject.register(app)
gc.register(app)
version.register(app)
cluster.register(app)
annotate.register(app)
logs.register(app)
completion.register(app)
provenance.register(app)


def main() -> None:
    """The program: global flags placed where the parser reads them (cli/command_line.py), and
    named as the user typed it (``kubectl oras`` as kubectl's plugin). The click group is built
    once, here: what typer's ``app()`` would build, read for each command's options too."""
    if sys.argv[1:2] == ["__complete"]:  # cobra's spelling: kubectl_complete-oras in the krew bundle runs this
        completion.main(sys.argv[2:])
    group = typer.main.get_command(app)
    options = {name: {opt: not (param.is_flag or param.count) for param in command.params
                       if param.param_type_name == "option" for opt in [*param.opts, *param.secondary_opts]}
               for name, command in getattr(group, "commands", {}).items()}
    args = global_flags_placed(sys.argv[1:], options)
    run_as_program(lambda: group(args=args, prog_name=program_name(sys.argv[0], os.environ)))
