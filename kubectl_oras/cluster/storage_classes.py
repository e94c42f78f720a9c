"""Whether a cache's claim can get a volume without a StorageClass named: `create-cache --storage`
warns, before making anything, when the cluster has no default StorageClass and `--storage-class`
is not given (the claim then binds only to a volume made by hand, else stays Pending). A pure
reading of the classes beside the one list that fetches them."""

from __future__ import annotations

from typing import Any

from ..kube.api import Kube, Resource
from ..kube.errors import Forbidden, ObjectNotFound

STORAGE_CLASSES = Resource("storage.k8s.io/v1", "StorageClass", "storageclasses", namespaced=False)
# The annotation that makes a class the default (the beta one is still honoured by the apiserver).
DEFAULT_CLASS_ANNOTATIONS = ("storageclass.kubernetes.io/is-default-class",
                             "storageclass.beta.kubernetes.io/is-default-class")


def default_classes(classes: list[dict[str, Any]]) -> list[str]:
    """The names of the classes marked default (more than one is the cluster admin's to settle)."""
    return sorted(str((c.get("metadata") or {}).get("name")) for c in classes
                  if any(((c.get("metadata") or {}).get("annotations") or {}).get(key) == "true"
                         for key in DEFAULT_CLASS_ANNOTATIONS))


def no_default_class_warning(storage: str | None, storage_class: str | None,
                             classes: list[dict[str, Any]] | None) -> str | None:
    """The warning for `create-cache --storage SIZE` without `--storage-class` in a cluster with no
    default StorageClass; None otherwise, and when the classes could not be read (None)."""
    if not storage or storage_class or classes is None or default_classes(classes):
        return None
    names = sorted(str((c.get("metadata") or {}).get("name")) for c in classes)
    there = f"name one of {', '.join(names)}" if names else "there is none; create one"
    return (f"the cluster has no default StorageClass and --storage-class is not given: the cache's "
            f"PersistentVolumeClaim ({storage}) binds only to a PersistentVolume of no class made by hand, and else "
            f"stays Pending; {there} with --storage-class CLASS")


async def storage_classes(kube: Kube) -> list[dict[str, Any]] | None:
    """The cluster's StorageClasses; None when this user may not list them (no warning then)."""
    try:
        listed = await kube.list(STORAGE_CLASSES)
    except (Forbidden, ObjectNotFound):
        return None
    return [c for c in listed.get("items") or [] if isinstance(c, dict)]
