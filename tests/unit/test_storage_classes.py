"""`create-cache --storage` warns up front when the cluster has no default StorageClass and
--storage-class is not given (kubectl_oras/cluster/storage_classes.py)."""

import pytest

from kubectl_oras.cluster.storage_classes import default_classes, no_default_class_warning, storage_classes
from kubectl_oras.kube.errors import ClusterUnreachable, Forbidden


def a_class(name, default=None, *, beta=False):
    key = "storageclass.beta.kubernetes.io/is-default-class" if beta else "storageclass.kubernetes.io/is-default-class"
    return {"metadata": {"name": name, "annotations": {key: default} if default is not None else {}}}


def test_the_default_class_is_the_one_annotated_true_either_way():
    assert default_classes([a_class("slow"), a_class("fast", "true"), a_class("off", "false")]) == ["fast"]
    assert default_classes([a_class("old", "true", beta=True)]) == ["old"]


def test_a_cluster_without_a_default_class_gets_a_warning_naming_the_flag_and_the_classes_there():
    warning = no_default_class_warning("1Gi", None, [a_class("slow"), a_class("fast", "false")])
    assert warning.startswith("the cluster has no default StorageClass and --storage-class is not given")
    assert "PersistentVolumeClaim (1Gi)" in warning and warning.endswith("name one of fast, slow with --storage-class CLASS")
    assert no_default_class_warning("1Gi", None, []).endswith("there is none; create one with --storage-class CLASS")


@pytest.mark.parametrize("storage, storage_class, classes", [
    ("1Gi", None, [a_class("fast", "true")]),  # a default: the claim gets its volume from it
    ("1Gi", "fast", []),  # a class named: its own errors are the volume controller's to say
    (None, None, []),  # an emptyDir cache has no claim
    ("1Gi", None, None),  # classes that could not be read: no warning
])
def test_no_warning_when_the_claim_has_a_class_or_none_is_needed_or_none_could_be_read(storage, storage_class, classes):
    assert no_default_class_warning(storage, storage_class, classes) is None


class Refusing:
    def __init__(self, error):
        self.error = error

    async def list(self, resource, **kw):
        assert resource.plural == "storageclasses" and not resource.namespaced
        raise self.error


async def test_a_user_who_may_not_list_storage_classes_reads_none_and_other_errors_are_said():
    assert await storage_classes(Refusing(Forbidden("list storageclasses: forbidden", status=403))) is None
    with pytest.raises(ClusterUnreachable):
        await storage_classes(Refusing(ClusterUnreachable("cannot reach the Kubernetes API")))
