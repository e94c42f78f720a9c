"""`kubectl oras inject -f FILE`: print manifests with the cache's containers injected, as the
webhook would (like `istioctl kube-inject`), for clusters without the webhook or to review."""

from __future__ import annotations

import sys
from typing import Annotated

import typer
import yaml

from .. import __version__
from ..errors import OrasError
from ..pods.injection import InjectionConfig
from ..pods.workloads import inject_manifest
from .common import handle_errors

DEFAULT_IMAGE = f"kubectl-oras:{__version__}"


def _read(path: str) -> str:
    if path == "-":
        return sys.stdin.read()
    try:
        with open(path) as f:
            return f.read()
    except OSError as e:
        raise OrasError(f"{path}: {e.strerror}") from e


@handle_errors
def inject(
    filename: Annotated[str, typer.Option("--filename", "-f", metavar="FILE", help="Manifest(s) to inject; - for stdin.")],
    namespace: Annotated[str, typer.Option("--namespace", "-n",
                                           help="Namespace of the cache, when the manifest names none.")] = "default",
    image: Annotated[str, typer.Option("--image", envvar="KUBECTL_ORAS_IMAGE",
                                       help="The kubectl-oras image the agent runs from.")] = DEFAULT_IMAGE,
) -> None:
    """Print the manifests with the pull/push agent injected into every annotated pod."""
    try:
        documents = [d for d in yaml.safe_load_all(_read(filename)) if d is not None]
    except yaml.YAMLError as e:
        raise OrasError(f"{filename}: not valid YAML: {e}") from e
    out = []
    for doc in documents:
        ns = (doc.get("metadata") or {}).get("namespace") or namespace if isinstance(doc, dict) else namespace
        new, warnings = inject_manifest(doc, InjectionConfig(agent_image=image, namespace=ns))
        for warning in warnings:
            typer.echo(f"warning: {warning}", err=True)
        out.append(new)
    sys.stdout.write(yaml.safe_dump_all(out, sort_keys=False))


def register(app: typer.Typer) -> None:
    app.command("inject")(inject)
