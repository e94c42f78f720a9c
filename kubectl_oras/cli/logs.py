"""`kubectl oras logs TYPE/NAME`: a step's log and its agent's together, pod by pod."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Annotated

import typer

from ..errors import OrasError
from .cluster_options import Cluster, ContextOption, KubeconfigOption, NamespaceOption, progress
from .common import add_command, examples, handle_errors

if TYPE_CHECKING:
    from ..kube.api import Kube

EPILOG = examples(
    "# every pod of a Job: the inputs' pull, the step, the outputs' push",
    "kubectl oras logs job/train",
    "",
    "# follow one pod as it runs",
    "kubectl oras logs pod/train-x7k2p -f",
    "",
    "# only the agent's sidecar, in another namespace",
    "kubectl oras logs jobset/sweep -c oras-push -n lab",
    note="Pods are shown in the order they were made; in each, the containers in the order they ran, each "
         "under a header naming it: oras-pull (the agent's pull, when the pod has that init container), the "
         "pod's own init containers, the step and its other containers, then oras-push (the agent's sidecar: "
         "the push, and the pull before it when the pod has no oras-pull). A container that has not started "
         "is said so on stderr; with -f it is waited for.",
)


@handle_errors
def logs(
    target: Annotated[str, typer.Argument(metavar="TYPE/NAME",
                                          help="pod/x, job/x, cronjob/x, jobset/x, deploy/x, sts/x, ds/x, rs/x")],
    name: Annotated[str | None, typer.Argument(metavar="[NAME]", help="The name, when TYPE is given apart.",
                                               show_default=False)] = None,
    follow: Annotated[bool, typer.Option("--follow", "-f", help="Follow each log until its container ends.")] = False,
    container: Annotated[str | None, typer.Option("--container", "-c", metavar="NAME",
                                                  help="Only this container of each pod.")] = None,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
) -> None:
    """Show a workload's step and agent logs together, pod by pod, container by container."""
    from ..pods.annotate import parse_target

    kind, object_name = parse_target(target, name, command="logs")

    def write(text: str) -> None:
        sys.stdout.write(text)
        sys.stdout.flush()

    async def body(kube: Kube) -> None:
        from ..cluster.step_logs import workload_pods, write_logs

        pods = await workload_pods(kube, kind, object_name, kube.namespace)
        if not pods:
            raise OrasError(f"{kind.lower()}/{object_name} in namespace {kube.namespace} has no pods (yet)")
        await write_logs(kube, pods, kube.namespace, container=container, follow=follow, write=write, say=progress)

    Cluster(kubeconfig, context, namespace).run(body)


def register(app: typer.Typer) -> None:
    add_command(app, logs, epilog=EPILOG)
