"""`kubectl oras version`: the client's version, and the controller's when it can be asked."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..release import __version__
from .cluster_options import ContextOption, KubeconfigOption
from .common import OutputFormat, OutputOption, add_command, examples, handle_errors, print_data

EPILOG = examples("kubectl oras version", "kubectl oras version --client -o json",
                  note="Like kubectl version: the controller's version is read from its Deployment in "
                       "kubectl-oras-system (within 3 s; when it cannot be, the line says why). "
                       "--client (or kubectl oras --version) asks no cluster and starts in a fraction of the time.")


def controller_version(kubeconfig: str | None, context: str | None) -> tuple[str | None, str]:
    """The version of the controller in the cluster, or (None, why it cannot be said). The
    cluster stack is imported here, never at the top of this module: `version --client` starts
    without it."""
    from ..kube.kubeconfig_files import cluster_configured

    if not cluster_configured(kubeconfig):  # nothing to ask: no need to load the Kubernetes client
        return None, "no cluster to ask (no kubeconfig, not in a pod)"
    from ..cluster.version import ask_controller_version

    return ask_controller_version(kubeconfig=kubeconfig, context=context)


@handle_errors
def version(
    client: Annotated[bool, typer.Option("--client", help="Only this plugin's version; ask no cluster.")] = False,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    output: OutputOption = OutputFormat.text,
) -> None:
    """Print the version of this kubectl-oras, and of the controller in the cluster."""
    data: dict[str, Any] = {"client": {"version": __version__}}
    lines = [f"kubectl-oras {__version__}"]
    if not client:
        controller, why = controller_version(kubeconfig, context)
        data["controller"] = {"version": controller} if controller is not None else {"unknown": why}
        lines.append(f"controller {controller}" if controller is not None else f"controller unknown: {why}")
    print_data(output, data, "\n".join(lines))


def register(app: typer.Typer) -> None:
    add_command(app, version, epilog=EPILOG)
