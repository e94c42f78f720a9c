"""The cluster commands: install, uninstall, create-cache, delete-cache, status (docs/cli.md).

Each is a thin shell over ``kubectl_oras/cluster/``; the cluster modules are imported inside
the functions, so `kubectl oras --help` loads none of the Kubernetes client.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Annotated, Any

import typer

from ..errors import OrasError
from ..orascache import DEFAULT_CACHE
from ..release import RELEASE_IMAGE, __version__
from .cluster_options import Cluster, ContextOption, KubeconfigOption, NamespaceOption, progress, seconds
from .common import OutputFormat, OutputOption, add_command, examples, handle_errors, print_data

if TYPE_CHECKING:
    from ..kube.api import Kube

DEFAULT_IMAGE = RELEASE_IMAGE

INSTALL_EPILOG = examples(
    "# install the controller and webhook of this release, and wait for them",
    "kubectl oras install",
    "",
    "# another image (a registry mirror), waiting at most 10 minutes",
    "kubectl oras install --image registry.example.com/kubectl-oras:0.2.0 --timeout 10m",
    "",
    "# print what would be applied",
    "kubectl oras install --dry-run > kubectl-oras.yaml",
    note="Applies with server-side apply (field manager kubectl-oras) into kubectl-oras-system; "
         "needs cluster-admin rights.",
)

UNINSTALL_EPILOG = examples(
    "kubectl oras uninstall",
    "",
    "# also when caches exist: deletes every OrasCache, its registry and its artifacts",
    "kubectl oras uninstall --force",
)

CREATE_EPILOG = examples(
    "# a cache named oras (what pods use by default) in the context's namespace, and wait for it",
    "kubectl oras create-cache --wait",
    "",
    "# 50Gi on a PersistentVolumeClaim, newest 10 tags per repository kept",
    "kubectl oras create-cache results -n lab --storage 50Gi --storage-class fast --keep-last 10",
    "",
    "# no password (any pod that can reach the Service may push), tags deleted after 30 days",
    "kubectl oras create-cache scratch --no-auth --max-age 720h",
)

DELETE_EPILOG = examples(
    "kubectl oras delete-cache scratch -n lab",
    note="The cache's registry, its Secrets and its artifacts go with it (a PersistentVolumeClaim included).",
)

STATUS_EPILOG = examples(
    "kubectl oras status                 # every cache in the namespace",
    "kubectl oras status oras -n lab",
    "kubectl oras status -o json",
    "kubectl oras status -A             # every cache in every namespace",
    "kubectl oras status -A -o jsonpath='{.items[*].name}'",
)


@handle_errors
def install(
    image: Annotated[str, typer.Option("--image", envvar="KUBECTL_ORAS_IMAGE",
                                       help="The controller's (and the agents') image.")] = DEFAULT_IMAGE,
    dry_run: Annotated[bool, typer.Option("--dry-run", help="Print the YAML instead of applying it.")] = False,
    wait: Annotated[bool, typer.Option("--wait/--no-wait", help="Wait for the controller and the webhook.")] = True,
    timeout: Annotated[str, typer.Option("--timeout", metavar="DURATION", help="How long to wait.")] = "5m",
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
) -> None:
    """Install the OrasCache resource, the controller and the webhook into the cluster."""
    from ..cluster import install as installing

    limit = seconds("--timeout", timeout)
    docs = installing.render(image)
    if dry_run:
        typer.echo(installing.to_yaml(docs), nl=False)
        return

    async def body(kube: Kube) -> None:
        await installing.apply(kube, docs, progress)
        if wait:
            await installing.wait_ready(kube, progress, timeout=limit)

    Cluster(kubeconfig, context).run(body)
    typer.echo(f"kubectl-oras {__version__} installed ({image})" if wait else
               f"kubectl-oras {__version__} applied ({image}); not waited for")


@handle_errors
def uninstall(
    force: Annotated[bool, typer.Option("--force", help="Also when OrasCaches exist (they are deleted, "
                                                        "with their registries and artifacts).")] = False,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
) -> None:
    """Delete what install made: the controller, the webhook, the OrasCache resource."""
    from ..cluster import install as installing

    async def body(kube: Kube) -> list[str]:
        return await installing.uninstall(kube, progress, force=force)

    done = Cluster(kubeconfig, context).run(body)
    deleted = sum(1 for line in done if line.startswith("deleted"))
    typer.echo(f"uninstalled: {deleted} object(s) deleted")


@handle_errors
def create_cache(
    name: Annotated[str, typer.Argument(
        help=f"The cache's name (pods use '{DEFAULT_CACHE}' unless annotated otherwise).")] = DEFAULT_CACHE,
    storage: Annotated[str | None, typer.Option("--storage", metavar="SIZE",
                                                help="Keep artifacts on a PersistentVolumeClaim of this size "
                                                     "(default: an emptyDir, lost with the registry pod).")] = None,
    storage_class: Annotated[str | None, typer.Option("--storage-class", metavar="CLASS",
                                                      help="The claim's StorageClass.")] = None,
    no_auth: Annotated[bool, typer.Option("--no-auth", help="No password on the registry.")] = False,
    keep_last: Annotated[int | None, typer.Option("--keep-last", metavar="N",
                                                  help="Retention: keep the newest N tags per repository.")] = None,
    max_age: Annotated[str | None, typer.Option("--max-age", metavar="DURATION",
                                                help="Retention: delete tags older than this (720h).")] = None,
    keep_last_runs: Annotated[int | None, typer.Option(
        "--keep-last-runs", metavar="N", help="Retention: keep the newest N runs (one Job's tags each) per repository.")] = None,
    min_age: Annotated[str | None, typer.Option("--min-age", metavar="DURATION",
                                                help="Retention: delete no tag younger than this (default 1h).")] = None,
    wait: Annotated[bool, typer.Option("--wait", help="Wait until the cache is Ready.")] = False,
    timeout: Annotated[str, typer.Option("--timeout", metavar="DURATION", help="How long --wait waits.")] = "5m",
    output: OutputOption = OutputFormat.text,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
) -> None:
    """Create an OrasCache: a registry in the namespace for workflow steps to pass files through."""
    from ..cluster import caches, storage_classes

    limit = seconds("--timeout", timeout)
    # Every option is checked before the cluster is asked anything; the namespace comes from it.
    cache = caches.cache_object(name, "", storage=storage, storage_class=storage_class, auth=not no_auth,
                                keep_last=keep_last, max_age=max_age, keep_last_runs=keep_last_runs, min_age=min_age)
    for warning in caches.retention_warnings(cache["spec"].get("retention")):
        typer.echo(f"warning: {warning}", err=True)

    async def body(kube: Kube) -> dict[str, Any]:
        if storage and not storage_class:
            warning = storage_classes.no_default_class_warning(
                storage, storage_class, await storage_classes.admitted_claim(kube, storage))
            if warning:
                progress(f"warning: {warning}")
        made = await caches.create_cache(kube, {**cache, "metadata": {**cache["metadata"], "namespace": kube.namespace}})
        progress(f"created cache {name!r} in namespace {kube.namespace}")
        if wait:
            made = await caches.wait_ready(kube, kube.namespace, name, progress, timeout=limit)
        return made

    made = Cluster(kubeconfig, context, namespace).run(body)
    item = caches.summary(made)
    print_data(output, made, caches.summary_text(item) if wait else
               f"orascache {item['namespace']}/{name} created (kubectl oras status {name} -n {item['namespace']})",
               names=[f"orascache/{name}"])


@handle_errors
def delete_cache(
    name: Annotated[str, typer.Argument(help="The cache to delete.")],
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
) -> None:
    """Delete an OrasCache, its registry, and every artifact in it."""
    from ..cluster import caches

    async def body(kube: Kube) -> tuple[str, str]:
        return kube.namespace, await caches.delete_cache(kube, kube.namespace, name)

    where, lost = Cluster(kubeconfig, context, namespace).run(body)
    typer.echo(f"orascache {where}/{name} deleted: {lost}")


@handle_errors
def status(
    name: Annotated[str | None, typer.Argument(help="One cache (default: every cache in the namespace).")] = None,
    output: OutputOption = OutputFormat.text,
    all_namespaces: Annotated[bool, typer.Option("--all-namespaces", "-A",
                                                 help="Every cache in every namespace (not with a NAME).")] = False,
    kubeconfig: KubeconfigOption = None,
    context: ContextOption = None,
    namespace: NamespaceOption = None,
) -> None:
    """Show caches: ready or why not, endpoint, storage, auth, retention."""
    from ..cluster import caches
    from ..kube.api import ORAS_CACHES

    if name and all_namespaces:  # kubectl's refusal too: a name is looked up in one namespace
        raise OrasError(f"status {name} -A: a cache is named in one namespace; give -n NS, not --all-namespaces")

    async def body(kube: Kube) -> tuple[str, list[dict[str, Any]]]:
        if name:
            return kube.namespace, [await caches.find_cache(kube, kube.namespace, name)]
        listed = await kube.list(ORAS_CACHES, namespace=kube.namespace, all_namespaces=all_namespaces)
        return kube.namespace, sorted(listed.get("items") or [],
                                      key=lambda c: (str(c["metadata"].get("namespace")), str(c["metadata"]["name"])))

    where, found = Cluster(kubeconfig, context, namespace).run(body)
    items = [caches.summary(c) for c in found]
    text = "\n".join(caches.summary_text(i) for i in items) or \
        ("no caches in any namespace" if all_namespaces else f"no caches in namespace {where}") + \
        " (kubectl oras create-cache)"
    print_data(output, items[0] if name else items, text, names=[f"orascache/{i['name']}" for i in items])


def register(app: typer.Typer) -> None:
    add_command(app, install, epilog=INSTALL_EPILOG)
    add_command(app, uninstall, epilog=UNINSTALL_EPILOG)
    add_command(app, create_cache, epilog=CREATE_EPILOG, name="create-cache")
    add_command(app, delete_cache, epilog=DELETE_EPILOG, name="delete-cache")
    add_command(app, status, epilog=STATUS_EPILOG)
