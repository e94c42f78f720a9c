"""Direct-mode commands: talk to a registry you can reach, no cluster needed.

Names and argument order follow the `oras` CLI: push REF PATH..., pull REF -o DIR, tags REPO,
ls (repositories), rm REF.

The engine is imported inside each command, so that `--help` does not load the HTTP stack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ..oci.defaults import DEFAULT_ARTIFACT_TYPE
from ..transfers.options import TransferOptions
from .common import (
    ConcurrencyOption,
    OutputFormat,
    add_command,
    examples,
    handle_errors,
    parse_annotations,
    print_data,
    stderr_is_terminal,
)
from .progress import TransferProgress, human_bytes
from .targets import session, transfer_command

if TYPE_CHECKING:
    from ..transfers.places import Located
    from ..transfers.session import Reached, Session

T = TypeVar("T")

FormatOption = Annotated[OutputFormat, typer.Option("--output", "-o", "--format",
                                                    help="Output format: text, json or yaml.")]


@handle_errors
@transfer_command
def push(
    reference: Annotated[str, typer.Argument(metavar="REF", help="repo[:tag] to push to (tag defaults to latest).")],
    paths: Annotated[list[str], typer.Argument(metavar="PATH...",
                                               help="Files and directories; directories become tar+gzip layers.")],
    options: TransferOptions,
    annotation: Annotated[list[str] | None, typer.Option("--annotation", "-a", metavar="KEY=VALUE",
                                                         help="Manifest annotation (repeatable).")] = None,
    artifact_type: Annotated[str, typer.Option("--artifact-type", help="artifactType of the manifest.")] = DEFAULT_ARTIFACT_TYPE,
    concurrency: ConcurrencyOption = 4,
    output: FormatOption = OutputFormat.text,
) -> None:
    """Push files and directories as one artifact.

    To a cache, its credentials come from its Secret; to a --registry, from ORAS_USER / ORAS_PASS
    (or ORAS_PUSH_PASS) or `oras login`'s config.
    """
    from ..provenance.record import PUSHED_BY
    from .provenance import pushed_by

    annotations = parse_annotations(annotation or [])
    with session(options) as transfers:
        where = transfers.locate(reference)
        by = pushed_by(options, where.place)
        annotations = {PUSHED_BY: by, **annotations}  # who pushed it by hand (docs/provenance.md)
        progress = TransferProgress(f"push {where.reference.repository}:{where.reference.tag}",
                                    enabled=stderr_is_terminal())
        try:
            result = transfers.push(where, paths, annotations=annotations, artifact_type=artifact_type,
                                    concurrency=concurrency, progress=progress)
        finally:
            progress.close()
        provenance = attach_provenance(transfers, where, result, paths, by)
        reached = transfers.reached(where.place)
    print_data(output, {
        "reference": result.reference, **reached.description,
        "digest": result.digest,
        "mediaType": result.manifest["mediaType"],
        "artifactType": result.manifest["artifactType"],
        "layers": [layer.descriptor() for layer in result.layers],
        "bytesSent": result.bytes_sent,
        "blobsSkipped": result.blobs_skipped,
        "provenance": provenance,
    }, f"Pushed {result.reference}{reached.suffix} ({len(result.layers)} layers, "
       f"{human_bytes(result.bytes_sent)} sent, {result.blobs_skipped} already present)\nDigest: {result.digest}"
       f"\nProvenance: {provenance}")


def attach_provenance(transfers: Session, where: Located, result: Any, paths: list[str], by: str) -> str:
    """The push's statement attached (docs/provenance.md), and how it is indexed; a failure is a
    warning: the artifact is pushed."""
    from ..errors import OrasError
    from ..transfers.provenance import attach_push_statement

    try:
        indexed_by = attach_push_statement(transfers, where, result, pushed_by=by, paths=paths)
    except OrasError as e:
        typer.echo(f"warning: {result.reference} is pushed, but its provenance statement is not: {e}", err=True)
        return "not attached"
    return f"attached, indexed by {indexed_by}"


@handle_errors
@transfer_command
def pull(
    reference: Annotated[str, typer.Argument(metavar="REF", help="repo[:tag] or repo@sha256:… to pull.")],
    output_dir: Annotated[str, typer.Option("--output", "-o", metavar="DIR", help="Directory to write into.")] = ".",
    *,
    options: TransferOptions,
    include: Annotated[list[str] | None, typer.Option("--include", metavar="GLOB",
                                                      help="Only pull layers whose title matches (repeatable).")] = None,
    no_unpack: Annotated[bool, typer.Option("--no-unpack", help="Keep directory layers as TITLE.tar.gz.")] = False,
    concurrency: ConcurrencyOption = 4,
    fmt: Annotated[OutputFormat, typer.Option("--format", help="Output format: text, json or yaml.")] = OutputFormat.text,
) -> None:
    """Pull an artifact's files into a directory (verified, all-or-nothing)."""
    with session(options) as transfers:
        where = transfers.locate(reference)
        progress = TransferProgress(f"pull {where.reference.repository}:{where.reference.tag or where.reference.digest}",
                                    enabled=stderr_is_terminal())
        try:
            result = transfers.pull(where, output_dir, include=include, unpack=not no_unpack, concurrency=concurrency,
                                    progress=progress)
        finally:
            progress.close()
        reached = transfers.reached(where.place)
    lines = [f"Pulled {result.reference}{reached.suffix}", f"Digest: {result.digest}"]
    lines += [f"  {f.path}" for f in result.files]
    if result.skipped_untitled:
        lines.append(f"  ({result.skipped_untitled} layers without a title skipped)")
    if include and not result.files:
        lines.append(f"  (no layer matched {', '.join(include)})")
    print_data(fmt, {"reference": result.reference, **reached.description, "digest": result.digest,
                     "files": [asdict(f) for f in result.files], "skippedUntitled": result.skipped_untitled},
               "\n".join(lines))


@handle_errors
@transfer_command
def tags(
    repository: Annotated[str, typer.Argument(metavar="REPO", help="Repository whose tags to list.")],
    options: TransferOptions,
    output: FormatOption = OutputFormat.text,
    long: Annotated[bool, typer.Option("--long", "-l", help="With each tag's created time, size, exit code and "
                                                             "producer (workload and pod).")] = False,
    all_tags: Annotated[bool, typer.Option("--all", help="Also the sha256-<hex> tags that index referrers "
                                                         "(provenance) on a registry without the referrers API.")]
    = False,
) -> None:
    """List the tags of a repository."""
    if long:
        from ..transfers.provenance import long_tags
        from .provenance import long_listing

        where, rows, reached = _on_one(options, repository, lambda transfers, where: long_tags(
            transfers, where, referrer_tags=all_tags))
        print_data(output, {"repository": where.reference.repository, **reached.description, "tags": rows},
                   long_listing(rows))
        return
    where, found, reached = _on_one(options, repository, lambda transfers, where: transfers.tags(
        where, referrer_tags=all_tags))
    print_data(output, {"repository": where.reference.repository, **reached.description, "tags": found},
               "\n".join(found))


@handle_errors
@transfer_command
def ls(options: TransferOptions, output: FormatOption = OutputFormat.text) -> None:
    """List the repositories in the registry."""
    with session(options) as transfers:
        place = transfers.place()
        found = transfers.repositories(place)
        reached = transfers.reached(place)
    print_data(output, {**reached.description, "repositories": found}, "\n".join(found))


@handle_errors
@transfer_command
def rm(
    reference: Annotated[str, typer.Argument(metavar="REF", help="repo:tag or repo@sha256:… to delete.")],
    options: TransferOptions,
    output: FormatOption = OutputFormat.text,
) -> None:
    """Delete a tag (never other tags that share its manifest) or a manifest by digest."""
    _, deleted, reached = _on_one(options, reference, lambda transfers, where: transfers.delete(where))
    print_data(output, {**asdict(deleted), **reached.description},
               f"Deleted {deleted.reference}{reached.suffix} ({deleted.digest}, by {deleted.by})")


def _on_one(options: TransferOptions, text: str, act: Callable[[Session, Located], T]) -> tuple[Located, T, Reached]:
    """``text`` located with no default tag and ``act`` done on it in a session of its own: where it
    was, what ``act`` returned, and how output names the registry reached."""
    with session(options) as transfers:
        where = transfers.locate(text, default_tag=None)
        done = act(transfers, where)
        return where, done, transfers.reached(where.place)


EXAMPLES: dict[Callable[..., Any], str] = {
    push: examples(
        "# to the cache oras in the current namespace, through a port-forward",
        "kubectl oras push metric/hwloc:iter-0 hwloc.xml results/",
        "",
        "# two files and a directory (a tar+gzip layer), with an annotation, to any registry",
        "kubectl oras push metric/hwloc:iter-0 hwloc.xml env.txt results/ \\",
        "    -r localhost:5000 --plain-http -a iteration=0",
    ),
    pull: examples(
        "# from the cache oras in the current namespace, through a port-forward",
        "kubectl oras pull metric/hwloc:iter-0 -o data",
        "kubectl oras pull metric/lammps:iter-0 -o data --cache results -n lab",
        "",
        "# from any registry",
        "kubectl oras pull metric/hwloc:iter-0 -o out -r localhost:5000 --plain-http",
        "",
        "# only the XML files, by layer title",
        "kubectl oras pull localhost:5000/metric/hwloc:iter-0 -o out --plain-http --include '*.xml'",
    ),
    tags: examples("kubectl oras tags metric/hwloc", "kubectl oras tags metric/hwloc -r localhost:5000 --plain-http -o json",
                   "kubectl oras tags metric/hwloc -l"),
    ls: examples("kubectl oras ls --cache oras -n lab", "kubectl oras ls -r localhost:5000 --plain-http"),
    rm: examples(
        "kubectl oras rm metric/hwloc:iter-0",
        "kubectl oras rm metric/hwloc:iter-0 -r localhost:5000 --plain-http",
        "",
        "# a manifest by digest (the registry drops the tags that point to it)",
        "kubectl oras rm localhost:5000/metric/hwloc@sha256:<digest> --plain-http",
    ),
}


def register(app: typer.Typer) -> None:
    for command, epilog in EXAMPLES.items():
        add_command(app, command, epilog=epilog)
