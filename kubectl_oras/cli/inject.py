"""`kubectl oras inject -f FILE`: print manifests with the cache's containers injected, as the
webhook would (like `istioctl kube-inject`), for clusters without the webhook or to review."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from ..errors import OrasError
from ..release import RELEASE_IMAGE
from .common import add_command, examples, handle_errors
from .manifest_files import read_documents


@handle_errors
def inject(
    filename: Annotated[str, typer.Option("--filename", "-f", metavar="FILE", help="Manifest(s) to inject; - for stdin.")],
    namespace: Annotated[str, typer.Option("--namespace", "-n",
                                           help="Namespace of the cache, when the manifest names none.")] = "default",
    image: Annotated[str, typer.Option("--image", envvar="KUBECTL_ORAS_IMAGE",
                                       help="The kubectl-oras image the agent runs from.")] = RELEASE_IMAGE,
) -> None:
    """Print the manifests with the pull/push agent injected into every annotated pod."""
    import yaml

    from ..pods.injection import InjectionConfig
    from ..pods.workloads import inject_manifest

    documents = read_documents(filename)
    config = InjectionConfig(agent_image=image, namespace=namespace)
    out = []
    for number, doc in enumerate(documents, start=1):
        try:
            new, warnings = inject_manifest(doc, config, document=number)
        except RecursionError:
            raise OrasError(f"{filename}: document {number} is nested too deeply to be a Kubernetes object") from None
        for warning in warnings:
            typer.echo(f"warning: {warning}", err=True)
        out.append(new)
    sys.stdout.write(yaml.safe_dump_all(out, sort_keys=False))


EPILOG = examples(
    "kubectl oras inject -f job.yaml | kubectl apply -f -",
    "",
    "# review what the webhook would do to a workflow's pods",
    "kubectl oras inject -f workflow.yaml -n ml | less",
)


def register(app: typer.Typer) -> None:
    add_command(app, inject, epilog=EPILOG)
