"""The reconciler ends an ArtifactsLost condition once the cache's registry lists a repository
again: asked at the Service's cluster IP with the cache's credentials, only while the condition
stands and the registry is ready, and again after the key's back-off until then. The registry's
answer is a stand-in here; tests/controller/test_registry_access.py asks a real one."""

import pytest

from controller.runtime.events import EventRecorder
from controller.runtime.reconciler import LookAgain, Reconciler, Stores
from kubectl_oras.oci.auth import Credentials
from kubectl_oras.oci.errors import RegistryError
from tests.unit.test_reconciler_hostile_inputs import KEY, OWNER, DictStore, RecordingKube, a_cache, auth_secret

LOST = {"type": "ArtifactsLost", "status": "True", "reason": "RegistryPodReplaced", "message": "the pod was replaced",
        "observedGeneration": 2, "lastTransitionTime": "2026-12-07T10:00:00Z"}


class ReadyKube(RecordingKube):
    """A StatefulSet applied comes back with a ready registry pod, as the apiserver would show it."""

    async def patch(self, resource, name, patch, **kwargs):
        out = await super().patch(resource, name, patch, **kwargs)
        if resource.plural == "statefulsets":
            out["status"] = {"readyReplicas": 1}
        return out


def reconciler(answer, *, lost=True):
    asked = []

    def holds_artifacts(host, credentials):
        asked.append((host, credentials))
        if isinstance(answer, Exception):
            raise answer
        return answer

    cache = a_cache()
    cache["status"].update(registryPodUID="p-2")
    if lost:
        cache["status"]["conditions"].append(dict(LOST))
    service = {"metadata": {"name": "oras", "namespace": "lab", "ownerReferences": OWNER},
               "spec": {"clusterIP": "10.96.0.7"}}
    pod = {"metadata": {"name": "oras-0", "namespace": "lab", "uid": "p-2"}}
    kube = ReadyKube()
    stores = Stores(DictStore({KEY: cache}), DictStore(), DictStore({KEY: service}),
                    DictStore({("lab", "oras-oras-auth"): auth_secret("pw")}), pods=DictStore({("lab", "oras-0"): pod}))
    return kube, asked, Reconciler(kube, stores, EventRecorder(kube, instance="test"), holds_artifacts=holds_artifacts)


def written_conditions(kube):
    patches = [body for verb, what, _, body in kube.calls if verb == "patch" and what == "orascaches/status"]
    return [c["type"] for c in patches[-1]["status"]["conditions"]]


async def test_a_registry_that_lists_a_repository_again_ends_the_loss():
    kube, asked, r = reconciler(True)
    await r.reconcile(KEY)
    assert asked == [("10.96.0.7:5000", Credentials("oras", "pw"))]
    assert "ArtifactsLost" not in written_conditions(kube)


@pytest.mark.parametrize("answer", [False, RegistryError("list repositories of 10.96.0.7:5000: 503")])
async def test_an_empty_or_unanswering_registry_keeps_the_loss_and_is_asked_again_later(answer):
    kube, asked, r = reconciler(answer)
    with pytest.raises(LookAgain):
        await r.reconcile(KEY)
    assert len(asked) == 1 and "ArtifactsLost" in written_conditions(kube)


async def test_a_cache_that_lost_nothing_never_asks_its_registry():
    kube, asked, r = reconciler(True, lost=False)
    await r.reconcile(KEY)
    assert asked == [] and "ArtifactsLost" not in written_conditions(kube)
