"""A registry pod replaced on an emptyDir loses every artifact: the status says so (pure parts)."""

from controller.core.cache_spec import cache_spec
from controller.core.cache_status import cache_status
from kubectl_oras.cluster.caches import summary, summary_text

T0, T1, T2 = "2026-12-07T10:00:00Z", "2026-12-07T10:05:00Z", "2026-12-07T10:09:00Z"


def spec_of(storage=None, deploy=True):
    body = {"deploy": deploy, **({"storage": storage} if storage else {})}
    return cache_spec({"metadata": {"name": "oras", "namespace": "lab", "uid": "c-1", "generation": 1}, "spec": body})


def pod(uid):
    return {"metadata": {"name": "oras-0", "namespace": "lab", "uid": uid}}


def lost(status):
    return next((c for c in status["conditions"] if c["type"] == "ArtifactsLost"), None)


def test_the_first_registry_pod_of_a_cache_is_no_loss_and_its_uid_is_remembered():
    status = cache_status(spec_of(), generation=1, previous=None, now=T0, pod=pod("p-1"))
    assert lost(status) is None and status["registryPodUID"] == "p-1"


def test_the_same_pod_seen_again_as_by_a_restarted_controller_is_no_loss():
    first = cache_status(spec_of(), generation=1, previous=None, now=T0, pod=pod("p-1"))
    again = cache_status(spec_of(), generation=1, previous=first, now=T1, pod=pod("p-1"))
    assert lost(again) is None and again["registryPodUID"] == "p-1"


def test_a_replaced_emptydir_pod_says_artifacts_lost_with_the_time_and_both_pods():
    first = cache_status(spec_of(), generation=1, previous=None, now=T0, pod=pod("p-1"))
    gone = cache_status(spec_of(), generation=1, previous=first, now=T1)  # deleted, not made again yet
    assert lost(gone) is None and gone["registryPodUID"] == "p-1"
    replaced = cache_status(spec_of(), generation=1, previous=gone, now=T1, pod=pod("p-2"))
    condition = lost(replaced)
    assert (condition["status"], condition["reason"], condition["lastTransitionTime"]) == ("True", "RegistryPodReplaced", T1)
    assert "registry pod oras-0 was replaced (pod uid p-1, now p-2)" in condition["message"]
    assert "emptyDir" in condition["message"] and replaced["registryPodUID"] == "p-2"


def test_the_loss_stays_until_the_cache_holds_artifacts_again():
    first = cache_status(spec_of(), generation=1, previous=None, now=T0, pod=pod("p-1"))
    replaced = cache_status(spec_of(), generation=1, previous=first, now=T1, pod=pod("p-2"))
    later = cache_status(spec_of(), generation=2, previous=replaced, now=T2, pod=pod("p-2"))
    assert lost(later)["lastTransitionTime"] == T1 and lost(later)["observedGeneration"] == 2
    unread = cache_status(None, generation=3, previous=later, now=T2)  # a spec that cannot be read keeps it
    assert lost(unread)["lastTransitionTime"] == T1 and unread["registryPodUID"] == "p-2"
    pushed = cache_status(spec_of(), generation=2, previous=later, now=T2, pod=pod("p-2"), holds_artifacts=True)
    assert lost(pushed) is None and pushed["registryPodUID"] == "p-2"


def test_a_pvc_cache_never_says_it_and_a_new_loss_replaces_an_old_one():
    pvc = spec_of({"pvc": {"size": "1Gi"}})
    first = cache_status(pvc, generation=1, previous=None, now=T0, pod=pod("p-1"))
    replaced = cache_status(pvc, generation=1, previous=first, now=T1, pod=pod("p-2"))
    assert lost(replaced) is None and replaced["registryPodUID"] == "p-2"
    once = cache_status(spec_of(), generation=1, previous=first, now=T1, pod=pod("p-2"))
    twice = cache_status(spec_of(), generation=1, previous=once, now=T2, pod=pod("p-3"))
    assert lost(twice)["lastTransitionTime"] == T2 and "pod uid p-2, now p-3" in lost(twice)["message"]


def test_status_shows_the_loss_and_when():
    first = cache_status(spec_of(), generation=1, previous=None, now=T0, pod=pod("p-1"))
    replaced = cache_status(spec_of(), generation=1, previous=first, now=T1, pod=pod("p-2"))
    item = summary({"metadata": {"name": "oras", "namespace": "lab", "generation": 1}, "spec": {}, "status": replaced})
    assert item["artifactsLost"]["since"] == T1
    line = next(x for x in summary_text(item).splitlines() if "artifacts lost" in x)
    assert line.startswith(f"  artifacts lost at {T1}: the registry pod oras-0 was replaced")
    assert "artifactsLost" not in summary({"metadata": {"name": "oras", "namespace": "lab"}, "status": first})
