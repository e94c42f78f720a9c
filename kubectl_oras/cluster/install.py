"""`kubectl oras install` / `uninstall`: the manifests (the top-level manifests/ folder, shipped
inside the package as ``kubectl_oras/manifests``: setup.py maps it), rendered with this release's
image, applied by server-side apply, and waited for.

Rendering is pure (``render``); applying, waiting and deleting go through ``Kube``.
"""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import yaml

from ..errors import OrasError
from ..kube.api import (
    CONFIG_MAPS,
    MUTATING_WEBHOOK_CONFIGURATIONS,
    NAMESPACES,
    ORAS_CACHES,
    PODS,
    SERVICE_ACCOUNTS,
    Kube,
    Resource,
)
from ..kube.errors import ObjectNotFound
from ..pods.pod_state import pod_trouble
from ..release import RELEASE_IMAGE
from .polling import StatusLine, poll

NAMESPACE = "kubectl-oras-system"
DEPLOYMENT = "kubectl-oras"
WEBHOOK_SERVICE = "kubectl-oras-webhook"
CRD_NAME = f"{ORAS_CACHES.plural}.{ORAS_CACHES.api_version.split('/')[0]}"
FIELD_MANAGER = "kubectl-oras"
VERSION_LABEL = "app.kubernetes.io/version"
CONTROLLER_SELECTOR = "app.kubernetes.io/name=kubectl-oras,app.kubernetes.io/component=controller"

DEPLOYMENTS = Resource("apps/v1", "Deployment", "deployments")
CRDS = Resource("apiextensions.k8s.io/v1", "CustomResourceDefinition", "customresourcedefinitions", namespaced=False)
ENDPOINT_SLICES = Resource("discovery.k8s.io/v1", "EndpointSlice", "endpointslices")
# Every kind manifests/ holds; an unknown one is a programming error caught by the unit tests.
RESOURCES: dict[str, Resource] = {r.kind: r for r in (
    NAMESPACES,
    SERVICE_ACCOUNTS,
    CONFIG_MAPS,
    Resource("v1", "Service", "services"),
    CRDS,
    Resource("rbac.authorization.k8s.io/v1", "ClusterRole", "clusterroles", namespaced=False),
    Resource("rbac.authorization.k8s.io/v1", "ClusterRoleBinding", "clusterrolebindings", namespaced=False),
    Resource("rbac.authorization.k8s.io/v1", "Role", "roles"),
    Resource("rbac.authorization.k8s.io/v1", "RoleBinding", "rolebindings"),
    DEPLOYMENTS,
    Resource("policy/v1", "PodDisruptionBudget", "poddisruptionbudgets"),
    MUTATING_WEBHOOK_CONFIGURATIONS,
)}
# Every OrasCache in every namespace: the collection's path without a namespace.
ALL_ORAS_CACHES = Resource(ORAS_CACHES.api_version, ORAS_CACHES.kind, ORAS_CACHES.plural, namespaced=False)


class InstallTimeout(OrasError):
    """The controller did not become ready within --timeout; the message says what was missing."""


def manifest_dir() -> Path:
    """The manifests: inside the installed package, else the source tree's manifests/ (a checkout
    or an editable install, where kubectl_oras/manifests does not exist)."""
    package = Path(__file__).resolve().parent.parent
    for candidate in (package / "manifests", package.parent / "manifests"):
        if (candidate / "kustomization.yaml").is_file():
            return candidate
    raise OrasError(f"this kubectl-oras has no manifests (looked in {package / 'manifests'}): reinstall it")


_LABEL_VALUE = re.compile(r"[A-Za-z0-9]([-A-Za-z0-9_.]{0,61}[A-Za-z0-9])?")


def image_tag(image: str) -> str | None:
    """The tag of an image reference (``r.io:5000/kubectl-oras:1.2@sha256:…`` → ``1.2``), as the
    Deployment's version label says it: None when there is no tag (a digest alone) or it cannot be
    a label value."""
    tail = image.split("@", 1)[0].rsplit("/", 1)[-1]
    if ":" not in tail:
        return None
    tag = tail.rsplit(":", 1)[1]
    return tag if _LABEL_VALUE.fullmatch(tag) else None


def render(image: str = RELEASE_IMAGE, directory: Path | None = None) -> list[dict[str, Any]]:
    """The objects of manifests/, in the kustomization's order, with ``image`` as the controller's
    and the agents' image, and its tag as the Deployment's version label (none without a tag).
    The webhook's empty ``caBundle`` is left out: the webhook process fills it in, and an apply
    that sets it would take it back."""
    folder = directory or manifest_dir()
    kustomization = yaml.safe_load((folder / "kustomization.yaml").read_text())
    docs: list[dict[str, Any]] = []
    for name in kustomization.get("resources") or []:
        docs += [doc for doc in yaml.safe_load_all((folder / name).read_text()) if doc]
    for doc in docs:
        if doc.get("kind") not in RESOURCES:
            raise OrasError(f"{folder}: {doc.get('kind')} is not a kind install knows how to apply")
        if doc["kind"] == "Deployment":
            labels = doc["metadata"].setdefault("labels", {})
            version = image_tag(image)
            if version is None:  # `version` falls back to the image, which says what it is
                labels.pop(VERSION_LABEL, None)
            else:
                labels[VERSION_LABEL] = version
            for container in doc["spec"]["template"]["spec"]["containers"]:
                container["image"] = image
                for env in container.get("env") or []:
                    if env.get("name") == "KUBECTL_ORAS_IMAGE":
                        env["value"] = image
        if doc["kind"] == "MutatingWebhookConfiguration":
            for webhook in doc.get("webhooks") or []:
                client = webhook.get("clientConfig") or {}
                if not client.get("caBundle"):
                    client.pop("caBundle", None)
    return docs


def to_yaml(docs: list[dict[str, Any]]) -> str:
    class NoAliases(yaml.SafeDumper):
        def ignore_aliases(self, data: Any) -> bool:
            return True

    return yaml.dump_all(docs, Dumper=NoAliases, sort_keys=False)


def _where(doc: dict[str, Any]) -> str:
    metadata = doc.get("metadata") or {}
    ns = metadata.get("namespace")
    return f"{doc['kind']} {ns + '/' if ns else ''}{metadata.get('name')}"


def trusting_the_live_ca(doc: dict[str, Any], live: dict[str, Any] | None) -> dict[str, Any]:
    """The webhook configuration ``doc`` with each entry given the CA it trusts now in ``live``, or,
    for one ``live`` lacks (new in this release) or that trusts none, the CA the live entries trust.
    The webhook process sets caBundle when it starts; a new entry applied without one trusts no CA
    until a replica restarts (never, when the Deployment is unchanged), and an entry that fails
    closed would refuse pods meanwhile. Every entry, not only the new one: a server-side apply that
    leaves out a field it set before removes it, so the next install would take the new entry's CA
    back (the webhook, finding the same CA there, writes nothing)."""
    webhooks = (live or {}).get("webhooks") or []
    bundle = next((b for w in webhooks if (b := (w.get("clientConfig") or {}).get("caBundle"))), None)
    if bundle is None:
        return doc
    trusted = {w.get("name"): b for w in webhooks if (b := (w.get("clientConfig") or {}).get("caBundle"))}
    out = copy.deepcopy(doc)
    for webhook in out.get("webhooks") or []:
        webhook.setdefault("clientConfig", {})["caBundle"] = trusted.get(webhook.get("name"), bundle)
    return out


async def apply(kube: Kube, docs: list[dict[str, Any]], progress: StatusLine) -> None:
    """Server-side apply of every object, as field manager kubectl-oras (forced: install makes
    the objects what this release says, over hand edits)."""
    for doc in docs:
        resource = RESOURCES[doc["kind"]]
        metadata = doc["metadata"]
        if resource is MUTATING_WEBHOOK_CONFIGURATIONS:
            try:
                live = await kube.get(resource, metadata["name"])
            except ObjectNotFound:
                live = None
            doc = trusting_the_live_ca(doc, live)
        await kube.patch(resource, metadata["name"], doc, namespace=metadata.get("namespace"), patch_type="apply",
                         field_manager=FIELD_MANAGER, force=True)
        progress(f"applied {_where(doc)}")


def crd_established(crd: dict[str, Any]) -> bool:
    return any(c.get("type") == "Established" and c.get("status") == "True"
               for c in (crd.get("status") or {}).get("conditions") or [])


def deployment_state(deployment: dict[str, Any]) -> tuple[bool, str]:
    """(available with the current spec, how it stands in words)."""
    spec, status = deployment.get("spec") or {}, deployment.get("status") or {}
    wanted = spec.get("replicas", 1)
    generation = (deployment.get("metadata") or {}).get("generation") or 0
    available, updated = status.get("availableReplicas") or 0, status.get("updatedReplicas") or 0
    current = (status.get("observedGeneration") or 0) >= generation
    words = f"{available}/{wanted} controller replicas available"
    if not current:
        words += " (the new spec is not picked up yet)"
    return current and available >= wanted and updated >= wanted, words


def pod_problems(pods: list[dict[str, Any]]) -> str:
    """Why the controller's pods are not ready, in a few words per pod (pods/pod_state.py)."""
    said = []
    for pod in pods:
        name = (pod.get("metadata") or {}).get("name")
        trouble = pod_trouble(pod)
        said.append(f"{name}: {trouble.words if trouble else (pod.get('status') or {}).get('phase') or 'Pending'}")
    return "; ".join(said)


def endpoints_ready(slices: list[dict[str, Any]]) -> int:
    return sum(1 for s in slices for e in s.get("endpoints") or [] if (e.get("conditions") or {}).get("ready"))


async def wait_ready(kube: Kube, progress: StatusLine, *, timeout: float, interval: float = 1.0) -> None:
    """Until the CRD is established, the Deployment available and the webhook's Service has a
    ready endpoint; a progress line whenever the state changes; InstallTimeout saying what was
    missing after ``timeout`` seconds."""

    async def look() -> str | None:
        missing = []
        if not crd_established(await kube.get(CRDS, CRD_NAME)):
            missing.append(f"the CustomResourceDefinition {CRD_NAME} is not established")
        available, words = deployment_state(await kube.get(DEPLOYMENTS, DEPLOYMENT, namespace=NAMESPACE))
        if not available:
            pods = (await kube.list(PODS, namespace=NAMESPACE, label_selector=CONTROLLER_SELECTOR)).get("items") or []
            problems = pod_problems(pods)
            missing.append(words + (f" ({problems})" if problems else " (no pods yet)"))
        slices = (await kube.list(ENDPOINT_SLICES, namespace=NAMESPACE,
                                  label_selector=f"kubernetes.io/service-name={WEBHOOK_SERVICE}")).get("items") or []
        if not endpoints_ready(slices):
            missing.append(f"the webhook (Service {NAMESPACE}/{WEBHOOK_SERVICE}) has no ready endpoint")
        return "; ".join(missing) or None

    state = await poll(look, progress, timeout=timeout, interval=interval)
    if state is not None:
        raise InstallTimeout(f"not ready after {timeout:g}s: {state} (kubectl -n {NAMESPACE} get pods,events says more)")
    progress("the controller is available and the webhook answers")


async def existing_caches(kube: Kube) -> list[str]:
    """namespace/name of every OrasCache; none when the CRD is not there."""
    try:
        listed = await kube.list(ALL_ORAS_CACHES)
    except ObjectNotFound:
        return []
    return sorted(f"{(i.get('metadata') or {}).get('namespace')}/{(i.get('metadata') or {}).get('name')}"
                  for i in listed.get("items") or [])


async def uninstall(kube: Kube, progress: StatusLine, *, force: bool, image: str = RELEASE_IMAGE) -> list[str]:
    """Delete what install made (the webhook configuration first, so no pod is refused meanwhile,
    then the rest in reverse order); what was deleted, one line each. Refuses while OrasCaches
    exist unless ``force``: deleting the CRD deletes every cache, its registry and its artifacts."""
    caches = await existing_caches(kube)
    if caches and not force:
        raise OrasError(f"{len(caches)} OrasCache(s) exist ({', '.join(caches)}): uninstalling deletes the "
                        "CustomResourceDefinition and with it every cache, its registry and its artifacts; "
                        "delete them first (kubectl oras delete-cache NAME -n NS) or give --force")
    if caches:
        progress(f"--force: deleting {len(caches)} cache(s) with the CustomResourceDefinition: {', '.join(caches)}")
    docs = render(image)
    ordered = [d for d in docs if d["kind"] == "MutatingWebhookConfiguration"] + \
        [d for d in reversed(docs) if d["kind"] != "MutatingWebhookConfiguration"]
    done = []
    for doc in ordered:
        metadata = doc["metadata"]
        try:
            await kube.delete(RESOURCES[doc["kind"]], metadata["name"], namespace=metadata.get("namespace"))
        except ObjectNotFound:
            line = f"{_where(doc)} was not there"
        else:
            line = f"deleted {_where(doc)}"
        progress(line)
        done.append(line)
    return done
