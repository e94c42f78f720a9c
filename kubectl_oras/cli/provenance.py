"""Where an artifact came from, on the command line: `inspect` and `lineage`, the producer column of
`tags -l`, and who a push by hand names in its statement (docs/provenance.md).

Through the transfer layer, so --registry and --cache serve alike. The engine, the provenance
reader and PyYAML are imported inside the commands.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..transfers.options import TransferOptions
from .common import OutputFormat, OutputOption, add_command, examples, handle_errors, output_format, print_data
from .targets import session, transfer_command

if TYPE_CHECKING:
    from ..transfers.places import Place



def pushed_by(options: TransferOptions, place: Place) -> str:
    """Who a push by hand names: ``context NAME`` through a cache (the kube context it used, never a
    token), ``local user`` to a registry by its address."""
    from ..provenance.record import LOCAL_USER

    if place.registry is not None:
        return LOCAL_USER
    if options.context:
        return f"context {options.context}"
    from ..kube.config import read_kubeconfigs
    from ..kube.errors import KubeError
    from ..kube.kubeconfig_files import kubeconfig_files

    try:
        current = read_kubeconfigs(kubeconfig_files(options.kubeconfig, os.environ)).current
    except KubeError:
        current = None
    return f"context {current}" if current else "in-cluster service account"


@handle_errors
@transfer_command
def inspect(
    reference: Annotated[str, typer.Argument(metavar="REF", help="repo:tag or repo@sha256:… to inspect.")],
    options: TransferOptions,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Show an artifact: its manifest, layers, provenance and referrers."""
    from ..transfers.provenance import inspect as inspect_artifact

    with session(options) as transfers:
        where = transfers.locate(reference)
        found = inspect_artifact(transfers, where)
        reached = transfers.reached(where.place)
    print_data(output, {**found, **reached.description}, inspect_text(found) + (
        f"\nRegistry: {reached.name}" if reached.cache else ""), names=[found["reference"]])


def inspect_text(found: dict[str, Any]) -> str:
    lines = [f"Reference: {found['reference']}", f"Digest: {found['digest']}",
             f"Artifact type: {found['artifactType'] or '(none)'}", "Layers:"]
    lines += [f"  {layer['title'] or '(untitled)'}  {layer['size']} bytes" for layer in found["layers"]]
    said = found["provenance"]["annotations"]
    lines.append("Provenance:" if said or found["provenance"]["statements"] else "Provenance: none recorded")
    lines += [f"  {key.removeprefix('dev.kubectl-oras.')}: {value}" for key, value in said.items()]
    for statement in found["provenance"]["statements"]:
        if "problem" in statement:
            lines.append(f"  statement {statement['digest']}: {statement['problem']}")
            continue
        details = statement["predicate"]["runDetails"]
        lines.append(f"  statement by {details['builder']['id']} ({statement['predicate']['buildDefinition']['buildType']})")
    lines.append("Referrers:" if found["referrers"] else "Referrers: none")
    lines += [f"  {r['digest']}  {r['artifactType']}" for r in found["referrers"]]
    return "\n".join(lines)


def lineage_format(given: str) -> str:
    """lineage's -o: ``dot`` (a Graphviz digraph), or any format every command prints."""
    return given if given == "dot" else str(output_format(given))


@handle_errors
@transfer_command
def lineage(
    reference: Annotated[str, typer.Argument(metavar="REF", help="repo:tag or repo@sha256:… whose lineage to show.")],
    options: TransferOptions,
    output: Annotated[str, typer.Option("--output", "-o", parser=lineage_format, metavar="FORMAT",
                                        help="Output format: text (a tree), json, yaml, name, jsonpath=TEMPLATE "
                                             "or dot.")] = "text",
) -> None:
    """Show the artifacts an artifact was made from, through its provenance."""
    from ..provenance.lineage import as_data, as_dot, as_tree
    from ..transfers.provenance import lineage as walk_lineage

    with session(options) as transfers:
        found = walk_lineage(transfers, transfers.locate(reference))
    if output == "dot":
        sys.stdout.write(as_dot(found) + "\n")
        return
    data = as_data(found)
    print_data(output_format(output), data, as_tree(found), names=[a["name"] for a in data["artifacts"]])



def long_listing(rows: list[dict[str, Any]]) -> str:
    """``tags -l`` as a table: tag, created, size, exit code, producer."""
    from .progress import human_bytes

    table = [("TAG", "CREATED", "SIZE", "EXIT", "PRODUCER")] + [
        (r["tag"], r["created"] or "-", human_bytes(r["size"]) if r["size"] is not None else "-", r["exitCode"] or "-",
         r["producer"] or "-") for r in rows]
    widths = [max(len(row[i]) for row in table) for i in range(4)]
    return "\n".join("  ".join([*(cell.ljust(width) for cell, width in zip(row[:4], widths, strict=True)), row[4]])
                     .rstrip() for row in table)


EXAMPLES: dict[Callable[..., Any], str] = {
    inspect: examples("kubectl oras inspect metric/lammps:iter-1",
                      "kubectl oras inspect metric/lammps:iter-1 -r localhost:5000 --plain-http -o json"),
    lineage: examples("kubectl oras lineage metric/report:final",
                      "kubectl oras lineage metric/report:final -o dot | dot -Tsvg > lineage.svg"),
}


def register(app: typer.Typer) -> None:
    for command, epilog in EXAMPLES.items():
        add_command(app, command, epilog=epilog)
