"""`create-cache --storage` warns up front when the cluster has no default StorageClass and
--storage-class is not given (kubectl_oras/cluster/storage_classes.py): the apiserver's answer to a
dry run of the cache's claim says whether a default class would be given to it."""

import pytest
from kubernetes_asyncio.client.exceptions import ApiException

from kubectl_oras.cluster.storage_classes import admitted_claim, no_default_class_warning, trial_claim
from kubectl_oras.kube.api import PERSISTENT_VOLUME_CLAIMS, Kube
from kubectl_oras.kube.errors import ClusterUnreachable, Forbidden, KubeError
from tests.unit.test_watch_stream import Recorder


def admitted(storage_class_name=None):
    spec = {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "1Gi"}}}
    return {"kind": "PersistentVolumeClaim", "spec": {**spec, "storageClassName": storage_class_name}
            if storage_class_name is not None else spec}


@pytest.mark.parametrize("answer", [admitted(), admitted("")])
def test_a_claim_admitted_without_a_class_gets_a_warning_naming_the_flag_and_how_to_see_the_classes(answer):
    warning = no_default_class_warning("1Gi", None, answer)
    assert warning.startswith("the cluster has no default StorageClass and --storage-class is not given")
    assert "PersistentVolumeClaim (1Gi)" in warning
    assert warning.endswith("name a class with --storage-class CLASS (kubectl get storageclass lists them)")


@pytest.mark.parametrize("storage, storage_class, answer", [
    ("1Gi", None, admitted("standard")),  # the default class was given: the claim gets its volume from it
    ("1Gi", "fast", admitted()),  # a class named: its own errors are the volume controller's to say
    (None, None, admitted()),  # an emptyDir cache has no claim
    ("1Gi", None, None),  # no answer from the apiserver: no warning
])
def test_no_warning_when_the_claim_has_a_class_or_none_is_needed_or_there_was_no_answer(storage, storage_class, answer):
    assert no_default_class_warning(storage, storage_class, answer) is None


def test_the_trial_claim_is_the_caches_size_and_access_mode_with_no_class_and_a_generated_name():
    claim = trial_claim("5Gi")
    assert claim["metadata"] == {"generateName": "kubectl-oras-storage-check-"}
    assert claim["spec"] == {"accessModes": ["ReadWriteOnce"], "resources": {"requests": {"storage": "5Gi"}}}


async def test_the_claim_is_sent_as_a_server_side_dry_run_in_the_users_namespace():
    api = Recorder(admitted("standard"))
    assert await admitted_claim(Kube(api, namespace="lab"), "1Gi") == admitted("standard")  # type: ignore[arg-type]
    call = api.calls[0]
    assert call["method"] == "POST" and call["path"] == "/api/v1/namespaces/lab/persistentvolumeclaims"
    assert call["query_params"] == [("dryRun", "All")] and call["body"] == trial_claim("1Gi")


async def test_a_plain_create_sends_no_dry_run():
    api = Recorder({"kind": "PersistentVolumeClaim"})
    kube = Kube(api, namespace="lab")  # type: ignore[arg-type]
    await kube.create(PERSISTENT_VOLUME_CLAIMS, trial_claim("1Gi"), namespace="lab")
    assert api.calls[0]["query_params"] == []


class Refusing:
    namespace = "lab"

    def __init__(self, error):
        self.error = error

    async def create(self, resource, body, *, namespace=None, dry_run=False):
        assert resource.plural == "persistentvolumeclaims" and namespace == "lab" and dry_run
        raise self.error


@pytest.mark.parametrize("error", [
    Forbidden("create persistentvolumeclaims in lab: forbidden", status=403),
    ClusterUnreachable("cannot reach the Kubernetes API"),
    KubeError("create persistentvolumeclaims in lab: internal error", status=500),
])
async def test_any_failure_of_the_dry_run_is_no_answer_not_a_failure(error):
    assert await admitted_claim(Refusing(error), "1Gi") is None  # type: ignore[arg-type]


async def test_a_5xx_from_the_apiserver_is_no_answer():
    api = Recorder(ApiException(status=503, reason="Service Unavailable"))
    assert await admitted_claim(Kube(api, namespace="lab"), "1Gi") is None  # type: ignore[arg-type]
