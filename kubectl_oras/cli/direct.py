"""Direct-mode commands: talk to a registry you can reach, no cluster needed.

Names and argument order follow the `oras` CLI: push REF PATH..., pull REF -o DIR, tags REPO,
ls (repositories), rm REF.

The engine is imported inside each command, so that `--help` does not load the HTTP stack.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Annotated, Any

import typer

from ..oci.defaults import DEFAULT_ARTIFACT_TYPE
from ..targets import tags_said
from .common import (
    DEFAULT_CONNECT_TIMEOUT,
    DEFAULT_READ_TIMEOUT,
    ConcurrencyOption,
    ConnectTimeoutOption,
    Format,
    InsecureOption,
    PlainHttpOption,
    ReadTimeoutOption,
    RegistryOption,
    TimeoutOption,
    add_command,
    emit,
    examples,
    handle_errors,
    make_client,
    parse_annotations,
    stderr_is_terminal,
    timeouts,
)
from .progress import TransferProgress, human_bytes
from .targets import CacheOption, ContextOption, KubeconfigOption, NamespaceOption, target_for

FormatOption = Annotated[Format, typer.Option("--output", "-o", "--format", help="Output format: text or json.")]


@handle_errors
def push(
    reference: Annotated[str, typer.Argument(metavar="REF", help="repo[:tag] to push to (tag defaults to latest).")],
    paths: Annotated[list[str], typer.Argument(metavar="PATH...",
                                               help="Files and directories; directories become tar+gzip layers.")],
    registry: RegistryOption = None,
    plain_http: PlainHttpOption = False,
    insecure: InsecureOption = False,
    cache: CacheOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    timeout: TimeoutOption = None,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: ReadTimeoutOption = DEFAULT_READ_TIMEOUT,
    annotation: Annotated[list[str] | None, typer.Option("--annotation", "-a", metavar="KEY=VALUE",
                                                         help="Manifest annotation (repeatable).")] = None,
    artifact_type: Annotated[str, typer.Option("--artifact-type", help="artifactType of the manifest.")] = DEFAULT_ARTIFACT_TYPE,
    concurrency: ConcurrencyOption = 4,
    output: FormatOption = Format.text,
) -> None:
    """Push files and directories as one artifact.

    To a cache, its credentials come from its Secret; to a --registry, from ORAS_USER / ORAS_PASS
    (or ORAS_PUSH_PASS) or `oras login`'s config.
    """
    from ..oci.digest_cache import DigestCache
    from ..oci.push import push_artifact

    annotations = parse_annotations(annotation or [])
    limits = timeouts(total=timeout, connect=connect_timeout, read=read_timeout)
    with target_for(reference, registry=registry, cache=cache, plain_http=plain_http, insecure=insecure,
                    kubeconfig=kubeconfig, context=context, namespace=namespace) as target:
        ref = target.reference(reference)
        client = make_client(target, push=True, limits=limits, what=f"push {target.named(str(ref))}")
        progress = TransferProgress(f"push {ref.repository}:{ref.tag}", enabled=stderr_is_terminal())
        try:
            result = push_artifact(client, ref, paths, annotations=annotations, artifact_type=artifact_type,
                                   concurrency=concurrency, progress=progress, cache=DigestCache())
        finally:
            progress.close()
    emit(output, {
        "reference": target.named(result.reference), **target.description,
        "digest": result.digest,
        "mediaType": result.manifest["mediaType"],
        "artifactType": result.manifest["artifactType"],
        "layers": [layer.descriptor() for layer in result.layers],
        "bytesSent": result.bytes_sent,
        "blobsSkipped": result.blobs_skipped,
    }, f"Pushed {target.named(result.reference)}{target.suffix} ({len(result.layers)} layers, "
       f"{human_bytes(result.bytes_sent)} sent, {result.blobs_skipped} already present)\nDigest: {result.digest}")


@handle_errors
def pull(
    reference: Annotated[str, typer.Argument(metavar="REF", help="repo[:tag] or repo@sha256:… to pull.")],
    output_dir: Annotated[str, typer.Option("--output", "-o", metavar="DIR", help="Directory to write into.")] = ".",
    registry: RegistryOption = None,
    plain_http: PlainHttpOption = False,
    insecure: InsecureOption = False,
    cache: CacheOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    timeout: TimeoutOption = None,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: ReadTimeoutOption = DEFAULT_READ_TIMEOUT,
    include: Annotated[list[str] | None, typer.Option("--include", metavar="GLOB",
                                                      help="Only pull layers whose title matches (repeatable).")] = None,
    no_unpack: Annotated[bool, typer.Option("--no-unpack", help="Keep directory layers as TITLE.tar.gz.")] = False,
    concurrency: ConcurrencyOption = 4,
    fmt: Annotated[Format, typer.Option("--format", help="Output format: text or json.")] = Format.text,
) -> None:
    """Pull an artifact's files into a directory (verified, all-or-nothing)."""
    from ..oci.errors import NotFound
    from ..oci.pull import pull_artifact

    limits = timeouts(total=timeout, connect=connect_timeout, read=read_timeout)
    with target_for(reference, registry=registry, cache=cache, plain_http=plain_http, insecure=insecure,
                    kubeconfig=kubeconfig, context=context, namespace=namespace) as target:
        ref = target.reference(reference)
        client = make_client(target, push=False, limits=limits, what=f"pull {target.named(str(ref))}")
        progress = TransferProgress(f"pull {ref.repository}:{ref.tag or ref.digest}", enabled=stderr_is_terminal())
        try:
            result = pull_artifact(client, ref, output_dir, include=include, unpack=not no_unpack,
                                   concurrency=concurrency, progress=progress)
        except NotFound as e:
            raise NotFound(f"{e}; {tags_said(client, ref)}", status=e.status, codes=e.codes) from e
        finally:
            progress.close()
    lines = [f"Pulled {target.named(result.reference)}{target.suffix}", f"Digest: {result.digest}"]
    lines += [f"  {f.path}" for f in result.files]
    if result.skipped_untitled:
        lines.append(f"  ({result.skipped_untitled} layers without a title skipped)")
    if include and not result.files:
        lines.append(f"  (no layer matched {', '.join(include)})")
    emit(fmt, {"reference": target.named(result.reference), **target.description, "digest": result.digest,
               "files": [asdict(f) for f in result.files], "skippedUntitled": result.skipped_untitled},
         "\n".join(lines))


@handle_errors
def tags(
    repository: Annotated[str, typer.Argument(metavar="REPO", help="Repository whose tags to list.")],
    registry: RegistryOption = None,
    plain_http: PlainHttpOption = False,
    insecure: InsecureOption = False,
    cache: CacheOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    timeout: TimeoutOption = None,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: ReadTimeoutOption = DEFAULT_READ_TIMEOUT,
    output: FormatOption = Format.text,
) -> None:
    """List the tags of a repository."""
    from ..oci.errors import InvalidReference

    limits = timeouts(total=timeout, connect=connect_timeout, read=read_timeout)
    with target_for(repository, registry=registry, cache=cache, plain_http=plain_http, insecure=insecure,
                    kubeconfig=kubeconfig, context=context, namespace=namespace) as target:
        ref = target.reference(repository, default_tag=None)
        if ref.tag or ref.digest:
            raise InvalidReference(f"{repository!r}: give a repository without a tag or digest")
        client = make_client(target, push=False, limits=limits,
                               what=f"list tags of {target.named(f'{ref.registry}/{ref.repository}')}")
        found = client.list_tags(ref.repository)
    emit(output, {"repository": ref.repository, **target.description, "tags": found}, "\n".join(found))


@handle_errors
def ls(
    registry: RegistryOption = None,
    plain_http: PlainHttpOption = False,
    insecure: InsecureOption = False,
    cache: CacheOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    timeout: TimeoutOption = None,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: ReadTimeoutOption = DEFAULT_READ_TIMEOUT,
    output: FormatOption = Format.text,
) -> None:
    """List the repositories in the registry."""
    from ..oci.reference import is_valid_repository

    limits = timeouts(total=timeout, connect=connect_timeout, read=read_timeout)
    with target_for(None, registry=registry, cache=cache, plain_http=plain_http, insecure=insecure,
                    kubeconfig=kubeconfig, context=context, namespace=namespace) as target:
        client = make_client(target, push=False, limits=limits, what=f"list repositories{target.suffix or ' of ' + target.host}")
        found = [r for r in client.list_repositories() if is_valid_repository(r)]
    emit(output, {**target.description, "repositories": found}, "\n".join(found))


@handle_errors
def rm(
    reference: Annotated[str, typer.Argument(metavar="REF", help="repo:tag or repo@sha256:… to delete.")],
    registry: RegistryOption = None,
    plain_http: PlainHttpOption = False,
    insecure: InsecureOption = False,
    cache: CacheOption = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    timeout: TimeoutOption = None,
    connect_timeout: ConnectTimeoutOption = DEFAULT_CONNECT_TIMEOUT,
    read_timeout: ReadTimeoutOption = DEFAULT_READ_TIMEOUT,
    output: FormatOption = Format.text,
) -> None:
    """Delete a tag (never other tags that share its manifest) or a manifest by digest."""
    from ..oci.delete import delete_artifact
    from ..oci.errors import InvalidReference

    limits = timeouts(total=timeout, connect=connect_timeout, read=read_timeout)
    with target_for(reference, registry=registry, cache=cache, plain_http=plain_http, insecure=insecure,
                    kubeconfig=kubeconfig, context=context, namespace=namespace) as target:
        ref = target.reference(reference, default_tag=None)
        if not ref.tag and not ref.digest:
            raise InvalidReference(f"{reference!r}: say which tag or digest to delete (repo:tag)")
        client = make_client(target, push=True, limits=limits, what=f"delete {target.named(str(ref))}")
        deleted = delete_artifact(client, ref)
    named = target.named(deleted.reference)
    emit(output, {**asdict(deleted), "reference": named, **target.description},
         f"Deleted {named}{target.suffix} ({deleted.digest}, by {deleted.by})")


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
    tags: examples("kubectl oras tags metric/hwloc", "kubectl oras tags metric/hwloc -r localhost:5000 --plain-http -o json"),
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
