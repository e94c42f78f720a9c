"""Moving results out of a cache, or anywhere else: ``cp`` copies an artifact between registries
and caches, each side with its own options and credentials; ``tag`` puts an artifact under more
tags of its repository (a retention ``keep`` pattern then protects it).

Light: the engine is imported when a command runs (docs/architecture.md).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import replace
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import OrasError
from ..orascache import is_cache_name
from ..transfers.options import TransferOptions
from ..transfers.session import Session
from .common import (
    ConcurrencyOption,
    OutputFormat,
    OutputOption,
    add_command,
    examples,
    handle_errors,
    print_data,
    stderr_is_terminal,
)
from .progress import TransferProgress, human_bytes
from .targets import session, transfer_command

if TYPE_CHECKING:
    from ..oci.client import Credentials

NAMESPACE_RE = re.compile(r"[a-z0-9]([-a-z0-9]{0,61}[a-z0-9])?")  # a namespace is a DNS label
# Each side's registry credentials (a cache's come from its Secret); else ORAS_USER / ORAS_PASS,
# else what `oras login` saved for the registry's host.
SIDE_CREDENTIALS = {"from": ("ORAS_FROM_USER", "ORAS_FROM_PASS"), "to": ("ORAS_TO_USER", "ORAS_TO_PASS")}


def _cache_help(where: str) -> str:
    return (f"The OrasCache {where} is in, when it names no registry host (default: oras in -n), reached through a "
            "port-forward with its Secret's credentials.")


FromCacheOption = Annotated[str | None, typer.Option("--from-cache", metavar="[NS/]NAME", help=_cache_help("SRC"))]
ToCacheOption = Annotated[str | None, typer.Option("--to-cache", metavar="[NS/]NAME", help=_cache_help("DST"))]
FromPlainHttpOption = Annotated[bool, typer.Option("--from-plain-http", help="Use HTTP for SRC's registry.")]
ToPlainHttpOption = Annotated[bool, typer.Option("--to-plain-http", help="Use HTTP for DST's registry.")]
FromInsecureOption = Annotated[bool, typer.Option("--from-insecure", help="Do not verify SRC's registry certificate.")]
ToInsecureOption = Annotated[bool, typer.Option("--to-insecure", help="Do not verify DST's registry certificate.")]


def split_cache(flag: str, given: str | None, namespace: str | None) -> tuple[str | None, str | None]:
    """``--from-cache lab/oras`` as (cache, namespace); ``oras`` keeps -n. A part that cannot be a
    name is refused naming the flag."""
    if given is None:
        return None, namespace
    space, slash, name = given.rpartition("/")
    if not is_cache_name(name) or (slash and not NAMESPACE_RE.fullmatch(space)):
        raise OrasError(f"{flag} {given!r}: give a cache NAME or NAMESPACE/NAME")
    return name, space or namespace


def side_credentials(side: str, environ: Mapping[str, str] | None = None) -> Credentials | None:
    """The credentials ``ORAS_FROM_USER``/``ORAS_FROM_PASS`` (or ``TO``) give, or None."""
    from ..oci.client import Credentials

    env = os.environ if environ is None else environ
    user, password = (env.get(name) for name in SIDE_CREDENTIALS[side])
    if bool(user) != bool(password):
        given, missing = SIDE_CREDENTIALS[side] if user else SIDE_CREDENTIALS[side][::-1]
        raise OrasError(f"{given} is set and {missing} is not: set both, or neither")
    return Credentials(user, password) if user and password else None


@handle_errors
@transfer_command
def cp(
    source: Annotated[str, typer.Argument(metavar="SRC", help="[HOST:PORT/]repo:tag or repo@sha256:… to copy.")],
    destination: Annotated[str, typer.Argument(metavar="DST",
                                               help="[HOST:PORT/]repo[:tag] (without a tag: SRC's tag).")],
    options: TransferOptions,
    from_cache: FromCacheOption = None,
    to_cache: ToCacheOption = None,
    from_plain_http: FromPlainHttpOption = False,
    to_plain_http: ToPlainHttpOption = False,
    from_insecure: FromInsecureOption = False,
    to_insecure: ToInsecureOption = False,
    concurrency: ConcurrencyOption = 4,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Copy an artifact between registries and caches (same digest).

    Each side is a registry when its reference starts with HOST:PORT/ (or by --registry, for both),
    else a cache by name (--from-cache, --to-cache, or --cache for both; default: oras in -n). A
    registry's credentials come from ORAS_FROM_USER/ORAS_FROM_PASS (SRC) and ORAS_TO_USER/ORAS_TO_PASS
    (DST), else ORAS_USER/ORAS_PASS, else `oras login`'s config. Blobs stream from one side to the
    other; a blob DST has already is skipped, and within one registry it is mounted from SRC's
    repository instead of sent.
    """
    from ..transfers.copying import copy

    reading = session(side_options(options, "--from-cache", from_cache, plain_http=from_plain_http,
                                   insecure=from_insecure))
    reading.credentials = side_credentials("from")
    writing = Session(side_options(options, "--to-cache", to_cache, plain_http=to_plain_http, insecure=to_insecure),
                      credentials=side_credentials("to"))
    with reading, writing:
        src = reading.locate(source, default_tag="latest")
        dst = writing.locate(destination, default_tag=None)
        progress = TransferProgress(f"cp {src.name}", enabled=stderr_is_terminal())
        try:
            result = copy(reading, src, writing, dst, concurrency=concurrency, progress=progress)
        finally:
            progress.close()
        came, went = reading.reached(src.place), writing.reached(dst.place)
    for left in result.referrers_left:
        typer.echo(f"warning: not copied: {left['problem']}", err=True)
    referred = ""
    if result.referrers or result.referrers_left:
        referred = f"\nReferrers: {result.referrers} copied"
        if result.referrers_left:
            referred += f", {len(result.referrers_left)} not (see above)"
    print_data(output, {
        "source": result.source, **{f"source{k.title()}": v for k, v in came.description.items()},
        "reference": result.reference, **went.description,
        "digest": result.digest, "mediaType": result.media_type, "manifests": result.manifests,
        "blobs": result.blobs, "bytesSent": result.bytes_sent, "blobsSkipped": result.blobs_skipped,
        "blobsMounted": result.blobs_mounted, "referrers": result.referrers,
        "referrersNotCopied": result.referrers_left,
    }, f"Copied {result.source}{came.suffix} to {result.reference}{went.suffix} ({result.blobs} blobs: "
       f"{human_bytes(result.bytes_sent)} sent, {result.blobs_skipped} already there, {result.blobs_mounted} mounted)\n"
       f"Digest: {result.digest}{referred}", names=[result.reference])


def side_options(options: TransferOptions, flag: str, cache: str | None, *, plain_http: bool,
                 insecure: bool) -> TransferOptions:
    """One side's options: the shared ones, with its own cache (in place of --cache or
    --registry), and HTTP or an unverified certificate for it alone when asked."""
    options = replace(options, plain_http=options.plain_http or plain_http, insecure=options.insecure or insecure)
    if cache is None:
        return options
    name, namespace = split_cache(flag, cache, options.namespace)
    return replace(options, cache=name, namespace=namespace, registry=None, default_registry=None)


@handle_errors
@transfer_command
def tag(
    reference: Annotated[str, typer.Argument(metavar="REF", help="repo:tag or repo@sha256:… to tag.")],
    new_tags: Annotated[list[str], typer.Argument(metavar="NEWTAG...", help="The tags to add, in REF's repository.")],
    options: TransferOptions,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Put an artifact under more tags of its repository (no blob moves)."""
    with session(options) as transfers:
        where = transfers.locate(reference)
        digest, _ = transfers.tag(where, new_tags)
        reached = transfers.reached(where.place)
    print_data(output, {"reference": where.name, **reached.description, "digest": digest, "tags": list(new_tags)},
               f"Tagged {where.name}{reached.suffix} as {', '.join(new_tags)}\nDigest: {digest}",
               names=[f"{where.reference.repository}:{new}" for new in new_tags])


CP_EXAMPLES = examples(
    "# a result out of the cache oras in namespace lab, to a registry (its credentials from ORAS_TO_USER/PASS)",
    "kubectl oras cp metric/hwloc:iter-7 registry.example.com/team/hwloc:iter-7 -n lab",
    "",
    "# from the cache results in lab to the cache oras in prod (no tag on DST: SRC's)",
    "kubectl oras cp metric/hwloc:iter-7 metric/hwloc --from-cache lab/results --to-cache prod/oras",
    "",
    "# between two registries, or two repositories of one (then mounted, not sent)",
    "kubectl oras cp localhost:5000/metric/hwloc:iter-7 localhost:5001/hwloc:best --plain-http -o json",
    "kubectl oras cp localhost:5000/metric/hwloc:iter-7 localhost:5000/archive/hwloc --plain-http",
)
TAG_EXAMPLES = examples(
    "# keep a result from retention: a keep pattern (say best-*) protects the new tag",
    "kubectl oras tag metric/hwloc:iter-7 best-hwloc -n lab",
    "kubectl oras tag localhost:5000/metric/hwloc:iter-7 v1 stable --plain-http -o json",
)


def register(app: typer.Typer) -> None:
    add_command(app, cp, epilog=CP_EXAMPLES)
    add_command(app, tag, epilog=TAG_EXAMPLES)
