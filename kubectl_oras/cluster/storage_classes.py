"""Whether a cache's claim can get a volume without a StorageClass named: `create-cache --storage`
warns, before making anything, when the cluster has no default StorageClass and `--storage-class`
is not given (the claim then binds only to a volume made by hand, else stays Pending).

The apiserver is asked, not the classes listed: a server-side dry run of the cache's claim in the
user's namespace, which the DefaultStorageClass admission plugin gives the default class's name
when there is one. It needs only what `edit` gives (create claims in the namespace), stores
nothing, and any failure means no warning. A pure reading of the answer beside the one call."""

from __future__ import annotations

from typing import Any

from ..kube.api import PERSISTENT_VOLUME_CLAIMS, Kube
from ..kube.errors import KubeError


def trial_claim(storage: str) -> dict[str, Any]:
    """The claim sent in the dry run: the cache's size and access mode, no class."""
    return {"apiVersion": "v1", "kind": "PersistentVolumeClaim",
            "metadata": {"generateName": "kubectl-oras-storage-check-"},
            "spec": {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": storage}}}}


def no_default_class_warning(storage: str | None, storage_class: str | None,
                             admitted: dict[str, Any] | None) -> str | None:
    """The warning for `create-cache --storage SIZE` without `--storage-class` when the dry-run
    claim came back (``admitted``) with no class; None otherwise, and when there was no answer."""
    if not storage or storage_class or admitted is None or (admitted.get("spec") or {}).get("storageClassName"):
        return None
    return (f"the cluster has no default StorageClass and --storage-class is not given: the cache's "
            f"PersistentVolumeClaim ({storage}) binds only to a PersistentVolume of no class made by hand, and else "
            f"stays Pending; name a class with --storage-class CLASS (kubectl get storageclass lists them)")


async def admitted_claim(kube: Kube, storage: str) -> dict[str, Any] | None:
    """The claim as the apiserver would store it in this namespace (a dry run: nothing is made);
    None when it cannot say (refused, unreachable, failing: no warning then)."""
    try:
        return await kube.create(PERSISTENT_VOLUME_CLAIMS, trial_claim(storage), namespace=kube.namespace,
                                 dry_run=True)
    except KubeError:
        return None
