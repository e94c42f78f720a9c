"""`kubectl oras annotate TYPE/NAME` (or `-f FILE`): mark a workload's pods for the cache."""

from __future__ import annotations

import inspect
import sys
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from ..errors import OrasError
from ..pods.annotation_schema import FLAGGED
from .cluster_options import Cluster, ContextOption, KubeconfigOption, NamespaceOption, progress
from .common import add_command, examples, handle_errors

if TYPE_CHECKING:
    from ..kube.api import Kube

EPILOG = examples(
    "# a suspended Job: annotate, then let it run",
    "kubectl oras annotate job/train --input data/mnist:v1 --output models/mnist:v1 --output-path model/",
    "kubectl patch job train -p '{\"spec\":{\"suspend\":false}}'",
    "",
    "# every replicated job of a JobSet, two inputs, the step in container \"trainer\"",
    "kubectl oras annotate jobset/sweep --input data/a:v1 --input data/b:v1 --container trainer \\",
    "    --output results/sweep:v1 --output-path out/",
    "",
    "# a manifest, without a cluster",
    "kubectl oras annotate -f job.yaml --output results/x:v1 --output-pipe log.txt | kubectl apply -f -",
    note="A Job is annotated on the Job itself (the webhook reads it for the Job's pods); other workloads on "
         "their pod templates. Pods made before the annotation do not change. A different value already "
         "there is kept unless --overwrite.",
)


F = TypeVar("F", bound=Callable[..., Any])


def with_annotation_flags(command: F) -> F:
    """``command`` with an option for each key of the annotation schema's table that has a flag,
    in the table's order after -f, received in its ``**flags`` by the key's field: typer reads
    the options from the signature set here."""
    signature = inspect.signature(command, eval_str=True)  # the annotations as typer reads them, not as strings
    parameters = [p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in signature.parameters.values()
                  if p.kind != inspect.Parameter.VAR_KEYWORD]
    after = next(i for i, p in enumerate(parameters) if p.name == "filename") + 1
    flags = []
    for entry in FLAGGED:
        assert entry.flag is not None
        kind = list[str] | None if entry.flag.repeatable else str | None
        option = typer.Option(*entry.flag.names, metavar=entry.flag.metavar, help=entry.help)
        flags.append(inspect.Parameter(entry.field, inspect.Parameter.KEYWORD_ONLY, default=None,
                                       annotation=Annotated[kind, option]))
    parameters[after:after] = flags
    command.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
    return command


@with_annotation_flags
@handle_errors
def annotate(
    target: Annotated[str | None, typer.Argument(metavar="TYPE/NAME", help="job/x, deploy/x, jobset/x, cronjob/x, …")] = None,
    name: Annotated[str | None, typer.Argument(metavar="[NAME]", help="The name, when TYPE is given apart.",
                                               show_default=False)] = None,
    filename: Annotated[str | None, typer.Option("--filename", "-f", metavar="FILE",
                                                 help="Annotate a manifest (- for stdin) and print it; no cluster.")] = None,
    overwrite: Annotated[bool, typer.Option("--overwrite", help="Replace different values already there.")] = False,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
    **flags: Any,
) -> None:
    """Annotate a workload so that its pods pull inputs from, and push outputs to, the cache."""
    from ..pods.annotate import Request, parse_target

    values = Request.from_flags(flags).values()
    if filename is not None:
        if target is not None:
            raise OrasError("give TYPE/NAME or -f FILE, not both")
        try:
            _annotate_file(filename, values, overwrite=overwrite, namespace=namespace or "default")
        except RecursionError:
            raise OrasError(f"{filename}: nested too deeply to be a Kubernetes manifest") from None
        return
    if target is None:
        raise OrasError("say what to annotate: TYPE/NAME (job/train) or -f FILE")
    kind, object_name = parse_target(target, name)

    async def body(kube: Kube) -> tuple[str, list[str]]:
        from ..cluster.annotate import annotate_live

        _, warnings = await annotate_live(kube, kind, object_name, kube.namespace, values, overwrite=overwrite)
        return kube.namespace, warnings

    where, warnings = Cluster(kubeconfig, context, namespace).run(body)
    for warning in warnings:
        progress(f"warning: {warning}")
    typer.echo(f"{kind.lower()}/{object_name} annotated in namespace {where}")


def _annotate_file(filename: str, values: dict[str, str], *, overwrite: bool, namespace: str) -> None:
    import yaml

    from ..pods.annotate import annotate_documents
    from .manifest_files import read_documents

    documents = read_documents(filename)
    out, warnings = annotate_documents(documents, values, overwrite=overwrite, namespace=namespace)
    for warning in warnings:
        progress(f"warning: {warning}")
    sys.stdout.write(yaml.safe_dump_all(out, sort_keys=False))


def register(app: typer.Typer) -> None:
    add_command(app, annotate, epilog=EPILOG)
