"""`kubectl oras version`: the client's version, and the controller's when it can be asked."""

from __future__ import annotations

from typing import Annotated, Any

import typer

from ..release import __version__
from .cluster_options import ContextOption, KubeconfigOption
from .common import OutputFormat, OutputOption, add_command, examples, handle_errors, print_data

EPILOG = examples("kubectl oras version", "kubectl oras version --client -o json",
                  note="Like kubectl version: the controller's version is read from its Deployment in "
                       "kubectl-oras-system (within 3 s; left out when the cluster cannot be asked). "
                       "--client asks no cluster and starts in a fraction of the time.")


def controller_version(kubeconfig: str | None, context: str | None) -> str | None:
    """The version of the controller in the cluster, when it is reachable; None when it is not, or
    cannot be asked. The cluster stack is imported here, never at the top of this module:
    `version --client` starts without it."""
    from ..kube.kubeconfig_files import cluster_configured

    if not cluster_configured(kubeconfig):  # nothing to ask: no need to load the Kubernetes client
        return None
    from ..cluster.version import read_controller_version

    return read_controller_version(kubeconfig=kubeconfig, context=context)


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
    controller = None if client else controller_version(kubeconfig, context)
    if controller is not None:
        data["controller"] = {"version": controller}
        lines.append(f"controller {controller}")
    print_data(output, data, "\n".join(lines))


def register(app: typer.Typer) -> None:
    add_command(app, version, epilog=EPILOG)
