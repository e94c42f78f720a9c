"""A password never on the command line: a process's arguments are in every process listing,
in the shell's history and in Snakemake's log, and the Kubernetes executor copies the command
line into each job's pod spec. Snakemake reads ``--storage-oras-password`` from its variable too
(an ``env_var`` setting), and hands it to its jobs as that variable (the Kubernetes executor
through a Secret), so the variable is the one way in. The arguments in, the flag as written (or
None) out.
"""

from __future__ import annotations

from collections.abc import Sequence

FLAG = "--storage-oras-password"
VARIABLE = "SNAKEMAKE_STORAGE_ORAS_PASSWORD"
# argparse takes any unambiguous prefix of a long option: "--storage-oras-p" could also be
# --storage-oras-plain-http, so the shortest that means the password is "--storage-oras-pa".
SHORTEST = len("--storage-oras-pa")


def password_flag(argv: Sequence[str]) -> str | None:
    """The option in ``argv`` that gives the password, as the user wrote it (its value left out),
    or None. Arguments after ``--`` are not options."""
    for argument in argv:
        if argument == "--":
            return None
        option = argument.split("=", 1)[0]
        if len(option) >= SHORTEST and FLAG.startswith(option):
            return option
    return None


def refusal(option: str) -> str:
    """What the user is told, in one line."""
    return (f"{option}: a password is never given on the command line (process listings, Snakemake's log "
            f"and the jobs' pod specs show it); set the variable {VARIABLE} instead")
