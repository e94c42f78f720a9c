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
    OUTPUT_HELP,
    ConcurrencyOption,
    OutputFormat,
    add_command,
    examples,
    handle_errors,
    output_format,
    parse_annotations,
    print_data,
    stderr_is_terminal,
)
from .progress import TransferProgress, human_bytes
from .targets import session, transfer_command

if TYPE_CHECKING:
    from ..oci.pull import PullResult
    from ..transfers.places import Located
    from ..transfers.session import Reached, Session

T = TypeVar("T")

FormatOption = Annotated[OutputFormat, typer.Option("--output", "-o", "--format", parser=output_format,
                                                    metavar="FORMAT", help=OUTPUT_HELP)]


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
       f"\nProvenance: {provenance}", names=[result.reference])


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
    references: Annotated[list[str], typer.Argument(
        metavar="REF...", help="repo[:tag] or repo@sha256:… to pull; a tag pattern (repo:run-*) pulls every "
                               "tag it matches, each into a subdirectory named by the tag.")],
    output_dir: Annotated[str, typer.Option("--output", "-o", metavar="DIR", help="Directory to write into.")] = ".",
    *,
    options: TransferOptions,
    include: Annotated[list[str] | None, typer.Option("--include", metavar="GLOB",
                                                      help="Only pull layers whose title matches (repeatable).")] = None,
    no_unpack: Annotated[bool, typer.Option("--no-unpack", help="Keep directory layers as TITLE.tar.gz.")] = False,
    force: Annotated[bool, typer.Option("--force", help="With several references or a pattern: replace a file "
                                                        "there already that has other content.")] = False,
    concurrency: ConcurrencyOption = 4,
    fmt: Annotated[OutputFormat, typer.Option("--format", parser=output_format, metavar="FORMAT",
                                              help=OUTPUT_HELP)] = OutputFormat.text,
) -> None:
    """Pull artifacts' files into a directory (verified, all-or-nothing each)."""
    from ..pods.patterns import split_pattern

    if len(references) > 1 or split_pattern(references[0]):
        return _pull_several(references, output_dir, options=options, include=include, unpack=not no_unpack,
                             force=force, concurrency=concurrency, fmt=fmt)
    with session(options) as transfers:
        where = transfers.locate(references[0])
        progress = _pull_progress(where)
        try:
            result = transfers.pull(where, output_dir, include=include, unpack=not no_unpack, concurrency=concurrency,
                                    progress=progress)
        finally:
            progress.close()
        reached = transfers.reached(where.place)
    print_data(fmt, {"reference": result.reference, **reached.description, **_pulled_data(result)},
               "\n".join(_pulled_lines(result, reached, include)), names=[result.reference])


def _pull_progress(where: Located) -> TransferProgress:
    return TransferProgress(f"pull {where.reference.repository}:{where.reference.tag or where.reference.digest}",
                            enabled=stderr_is_terminal())


def _pulled_data(result: PullResult) -> dict[str, Any]:
    return {"digest": result.digest, "files": [asdict(f) for f in result.files],
            "skippedUntitled": result.skipped_untitled}


def _pulled_lines(result: PullResult, reached: Reached, include: list[str] | None) -> list[str]:
    lines = [f"Pulled {result.reference}{reached.suffix}", f"Digest: {result.digest}"]
    lines += [f"  {f.path}" for f in result.files]
    if result.skipped_untitled:
        lines.append(f"  ({result.skipped_untitled} layers without a title skipped)")
    if include and not result.files:
        lines.append(f"  (no layer matched {', '.join(include)})")
    return lines


def _pull_several(references: list[str], output_dir: str, *, options: TransferOptions, include: list[str] | None,
                  unpack: bool, force: bool, concurrency: int, fmt: OutputFormat) -> None:
    """Several references and patterns through one session (transfers/pulls.py)."""
    from ..transfers.pulls import pull_all

    bars: list[TransferProgress] = []

    def progress(where: Located) -> TransferProgress:
        for bar in bars:
            bar.close()
        bars.append(_pull_progress(where))
        return bars[-1]

    with session(options) as transfers:
        try:
            done = pull_all(transfers, references, output_dir, force=force, include=include, unpack=unpack,
                            concurrency=concurrency, progress=progress)
        finally:
            for bar in bars[-1:]:
                bar.close()
        reached = transfers.reached(done[0][0].place) if done else None
    said = reached.description if reached else {}
    pulled = [{"reference": result.reference, "directory": directory, **_pulled_data(result)}
              for _, directory, result in done]
    lines = [line for _, _, result in done for line in _pulled_lines(result, reached, include)] if reached else []
    print_data(fmt, {**said, "pulled": pulled}, "\n".join(lines),
               names=[result.reference for _, _, result in done])


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
                   long_listing(rows), names=[f"{where.reference.repository}:{row['tag']}" for row in rows])
        return
    where, found, reached = _on_one(options, repository, lambda transfers, where: transfers.tags(
        where, referrer_tags=all_tags))
    print_data(output, {"repository": where.reference.repository, **reached.description, "tags": found},
               "\n".join(found), names=[f"{where.reference.repository}:{tag}" for tag in found])


@handle_errors
@transfer_command
def ls(
    options: TransferOptions,
    output: FormatOption = OutputFormat.text,
    all_repositories: Annotated[bool, typer.Option("--all", help="Also list kubectl-oras's own repositories "
                                                                 "(kubectl-oras/…: the controller's).")] = False,
) -> None:
    """List the repositories in the registry."""
    from ..retention.choice import is_reserved_repository

    with session(options) as transfers:
        place = transfers.place()
        found = [r for r in transfers.repositories(place) if all_repositories or not is_reserved_repository(r)]
        reached = transfers.reached(place)
    print_data(output, {**reached.description, "repositories": found}, "\n".join(found), names=found)


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
               f"Deleted {deleted.reference}{reached.suffix} ({deleted.digest}, by {deleted.by})",
               names=[deleted.reference])


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
        "",
        "# every run-* tag, each into parts/TAG, and another artifact into parts, through one port-forward",
        "kubectl oras pull 'exp1/partial:run-*' exp1/config:v1 -o parts -n lab",
    ),
    tags: examples("kubectl oras tags metric/hwloc", "kubectl oras tags metric/hwloc -r localhost:5000 --plain-http -o json",
                   "kubectl oras tags metric/hwloc -l"),
    ls: examples("kubectl oras ls --cache oras -n lab", "kubectl oras ls -r localhost:5000 --plain-http",
                 "", "# with the controller's own (kubectl-oras/reclaim, its retention marker)",
                 "kubectl oras ls --all -n lab"),
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
