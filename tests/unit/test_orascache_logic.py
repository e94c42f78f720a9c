"""The OrasCache's pure parts: its spec read, the objects it stands for, its status, the webhook's view."""

import base64
import json
from pathlib import Path

import pytest
import yaml

from controller.core import cache_objects as objects
from controller.core.admission import PodToInject, parse_review, read_pod, review_pod
from controller.core.cache_spec import InvalidCache, cache_spec, cache_view
from controller.core.cache_status import Note, cache_status
from kubectl_oras.orascache import DEFAULT_REGISTRY_IMAGE, MAX_NAME, auth_secret_name, registry_secret_name
from kubectl_oras.pods.annotations import PREFIX
from kubectl_oras.pods.caches import CacheView

NOW = "2026-11-23T12:00:00Z"
FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "predecessor"


def cache(spec=None, name="oras", namespace="lab", generation=1):
    return {"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache",
            "metadata": {"name": name, "namespace": namespace, "uid": "u-1", "generation": generation},
            "spec": spec if spec is not None else {}}


# -- the spec -------------------------------------------------------------------------------------

def test_an_empty_spec_runs_the_default_registry_with_auth_on_emptydir():
    spec = cache_spec(cache())
    assert (spec.image, spec.deploy, spec.auth, spec.storage.kind) == (DEFAULT_REGISTRY_IMAGE, True, True, "emptyDir")
    assert spec.endpoint == "oras.lab.svc:5000" and spec.auth_secret == "oras-oras-auth"


@pytest.mark.parametrize("fixture", sorted(p.name for p in FIXTURES.glob("*.yaml")))
def test_the_predecessors_examples_read(fixture):
    for doc in yaml.safe_load_all((FIXTURES / fixture).read_text()):
        if doc and doc.get("kind") == "OrasCache":
            doc["metadata"].setdefault("namespace", "lab")
            spec = cache_spec(doc)
            assert spec.name == doc["metadata"]["name"]


@pytest.mark.parametrize("spec, field", [
    ({"deploy": "yes"}, "spec.deploy"),
    ({"storage": {"pvc": {}}}, "spec.storage.pvc.size"),
    ({"storage": {"pvc": {"size": "1Gi"}, "emptyDir": {}}}, "spec.storage"),
    ({"storage": {"emptyDir": {"sizeLimit": -1}}}, "spec.storage.emptyDir.sizeLimit"),
    ({"resources": {"limits": {"memory": True}}}, "spec.resources.limits[memory]"),
    ({"auth": "off"}, "spec.auth"),
    ({"image": ""}, "spec.image"),
])
def test_a_spec_the_schema_would_refuse_is_named_by_field(spec, field):
    with pytest.raises(InvalidCache, match=f"^{field.replace('[', '.').replace(']', '.')}"):
        cache_spec(cache(spec))


@pytest.mark.parametrize("name", ["1abc", "a" * (MAX_NAME + 1), "a.b"])
def test_a_name_that_cannot_name_a_service_and_statefulset_is_refused(name):
    with pytest.raises(InvalidCache, match="metadata.name"):
        cache_spec(cache(name=name))


# -- the objects ----------------------------------------------------------------------------------

def test_every_object_is_owned_by_the_cache_and_labelled_ours():
    spec = cache_spec(cache())
    made = [objects.service(spec), objects.statefulset(spec), objects.auth_secret(spec, {"ORAS_USER": "u"}),
            objects.registry_secret(spec, {"htpasswd": "x"})]
    for obj in made:
        (ref,) = obj["metadata"]["ownerReferences"]
        assert ref == {"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache", "name": "oras",
                       "uid": "u-1", "controller": True, "blockOwnerDeletion": True}
        assert obj["metadata"]["labels"]["app.kubernetes.io/managed-by"] == "kubectl-oras"
        assert objects.owner_of(obj) == ("lab", "oras")
    assert [o["metadata"]["name"] for o in made] == ["oras", "oras", "oras-oras-auth", "oras-oras-registry"]


def test_the_service_is_clusterip_on_5000_selecting_the_registry_pod():
    spec = cache_spec(cache())
    svc, sts = objects.service(spec), objects.statefulset(spec)
    assert svc["spec"]["type"] == "ClusterIP" and svc["spec"]["ports"][0]["port"] == 5000
    assert svc["spec"]["selector"] == sts["spec"]["selector"]["matchLabels"]
    assert set(svc["spec"]["selector"].items()) <= set(sts["spec"]["template"]["metadata"]["labels"].items())


def test_the_registry_pod_is_non_root_read_only_without_service_links_or_token():
    pod = objects.statefulset(cache_spec(cache()))["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert pod["securityContext"]["runAsNonRoot"] and pod["securityContext"]["runAsUser"] != 0
    assert pod["enableServiceLinks"] is False and pod["automountServiceAccountToken"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["image"] == DEFAULT_REGISTRY_IMAGE
    names = {e["name"] for e in container["env"]}
    assert "REGISTRY_STORAGE_DELETE_ENABLED" in names and "REGISTRY_AUTH" in names
    assert not any("ORAS_PASS" in json.dumps(e) for e in container["env"])  # the password never in the pod spec
    (http_secret,) = [e for e in container["env"] if e["name"] == "REGISTRY_HTTP_SECRET"]
    assert http_secret["valueFrom"]["secretKeyRef"]["name"] == "oras-oras-registry"  # a reference, not the value
    htpasswd = next(v for v in pod["volumes"] if v["name"] == "htpasswd")
    assert htpasswd["secret"]["secretName"] == "oras-oras-registry"


def test_probes_use_v2_without_auth_and_the_unauthenticated_root_with_it():
    with_auth = objects.statefulset(cache_spec(cache()))["spec"]["template"]["spec"]["containers"][0]
    without = objects.statefulset(cache_spec(cache({"auth": {"enabled": False}})))["spec"]["template"]["spec"]["containers"][0]
    assert with_auth["readinessProbe"]["httpGet"]["path"] == "/"
    assert without["readinessProbe"]["httpGet"]["path"] == "/v2/"
    assert {"name": "REGISTRY_AUTH", "value": ""} in without["env"]
    assert not any(v["name"] == "htpasswd" for v in
                   objects.statefulset(cache_spec(cache({"auth": {"enabled": False}})))["spec"]["template"]["spec"]["volumes"])


def test_emptydir_storage_with_a_size_limit_and_pvc_storage_through_claim_templates():
    small = objects.statefulset(cache_spec(cache({"storage": {"emptyDir": {"sizeLimit": "2Gi"}}})))
    data = next(v for v in small["spec"]["template"]["spec"]["volumes"] if v["name"] == "data")
    assert data == {"name": "data", "emptyDir": {"sizeLimit": "2Gi"}} and "volumeClaimTemplates" not in small["spec"]
    kept = objects.statefulset(cache_spec(cache({"storage": {"pvc": {"size": "10Gi", "storageClassName": "fast"}}})))
    (claim,) = kept["spec"]["volumeClaimTemplates"]
    assert claim["metadata"]["name"] == "data"
    assert claim["spec"]["resources"]["requests"]["storage"] == "10Gi" and claim["spec"]["storageClassName"] == "fast"
    assert not any(v["name"] == "data" for v in kept["spec"]["template"]["spec"]["volumes"])
    assert kept["spec"]["persistentVolumeClaimRetentionPolicy"]["whenDeleted"] == "Delete"


def test_resources_from_the_spec_replace_the_defaults():
    spec = cache_spec(cache({"resources": {"limits": {"memory": "1Gi"}}}))
    container = objects.statefulset(spec)["spec"]["template"]["spec"]["containers"][0]
    assert container["resources"] == {"limits": {"memory": "1Gi"}}


def test_the_spec_hash_follows_what_of_the_spec_shapes_the_pod_only():
    def hashed(spec=None, **kw):
        return objects.statefulset(cache_spec(cache(spec, **kw)), **({"build_mark": "next"} if "mark" in kw else {}))[
            "metadata"]["annotations"][objects.SPEC_HASH]
    a = hashed()
    for changed in ({"image": "registry:2"}, {"auth": {"enabled": False}}, {"resources": {"limits": {"memory": "1Gi"}}},
                    {"storage": {"emptyDir": {"sizeLimit": "1Gi"}}}):
        assert hashed(changed) != a, changed
    for same in ({"retention": {"keepLast": 3}}, {"secrets": {"registryHttp": "s"}}, {"storage": {"emptyDir": {}}}):
        assert hashed(same) == a, same
    assert hashed(generation=7) == a
    # quantities by value: the apiserver gives back its own canonical form
    assert hashed({"resources": {"limits": {"memory": "1Gi", "cpu": "0.5"}}}) == \
        hashed({"resources": {"limits": {"cpu": "500m", "memory": "1024Mi"}}})


def as_stored(sts):
    """A StatefulSet as the apiserver gives it back: defaults filled in, its metadata grown."""
    stored = json.loads(json.dumps(sts))
    stored["metadata"].update(generation=3, resourceVersion="41", uid="s-1")
    stored["spec"]["template"]["metadata"]["creationTimestamp"] = None
    pod = stored["spec"]["template"]["spec"]
    pod.update(dnsPolicy="ClusterFirst", restartPolicy="Always", schedulerName="default-scheduler")
    for container in pod["containers"]:
        container.update(imagePullPolicy="IfNotPresent", terminationMessagePath="/dev/termination-log")
    stored["status"] = {"observedGeneration": 3, "currentRevision": "oras-1", "updateRevision": "oras-1"}
    return stored


def test_another_build_of_the_controller_keeps_the_registry_pod_of_an_unchanged_spec():
    spec = cache_spec(cache())
    running = as_stored(objects.statefulset(spec))
    upgraded = objects.statefulset(spec, build_mark="next")
    # the other build writes another script and template, as a release would ...
    assert upgraded["spec"]["template"] != objects.statefulset(spec)["spec"]["template"]
    assert upgraded["spec"]["template"]["spec"]["containers"][0]["command"] != \
        running["spec"]["template"]["spec"]["containers"][0]["command"]
    # ... and applies the template the StatefulSet has: the pod is not replaced
    applied, replaces = objects.statefulset_update(upgraded, running)
    assert not replaces
    assert applied["spec"]["template"] == running["spec"]["template"]
    assert {k: v for k, v in applied["spec"].items() if k != "template"} == \
        {k: v for k, v in upgraded["spec"].items() if k != "template"}
    assert applied["metadata"] == upgraded["metadata"]
    assert upgraded["spec"]["template"] != running["spec"]["template"]  # nothing of the caller's changed


def test_a_spec_change_that_shapes_the_pod_takes_the_builds_whole_template():
    running = as_stored(objects.statefulset(cache_spec(cache())))
    for changed in ({"image": "registry:2"}, {"resources": {"limits": {"memory": "1Gi"}}}):
        upgraded = objects.statefulset(cache_spec(cache(changed)), build_mark="next")
        applied, replaces = objects.statefulset_update(upgraded, running)
        assert replaces and applied == upgraded, changed
    retention = objects.statefulset(cache_spec(cache({"retention": {"keepLast": 1}})), build_mark="next")
    assert objects.statefulset_update(retention, running)[1] is False


def test_what_the_apiserver_will_not_change_in_a_statefulset_is_kept_as_it_is():
    spec = cache_spec(cache({"storage": {"pvc": {"size": "1Gi"}}}))
    running = as_stored(objects.statefulset(spec))
    running["spec"]["volumeClaimTemplates"][0]["status"] = {"phase": "Pending"}
    upgraded = objects.statefulset(spec, build_mark="next")
    upgraded["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"]["added-by"] = "a-later-build"
    upgraded["spec"]["selector"]["matchLabels"]["added-by"] = "a-later-build"
    changed = objects.statefulset(cache_spec(cache({"storage": {"pvc": {"size": "1Gi"}}, "image": "registry:2"})),
                                  build_mark="next")
    changed["spec"]["volumeClaimTemplates"][0]["metadata"]["labels"]["added-by"] = "a-later-build"
    for update in (upgraded, changed):  # the pod kept, and the pod replaced
        applied, _ = objects.statefulset_update(update, running)
        for name in ("selector", "serviceName", "volumeClaimTemplates"):
            assert applied["spec"][name] == running["spec"][name], name


@pytest.mark.parametrize("spec", [{}, {"auth": {"enabled": False}}, {"resources": {"limits": {"memory": "1Gi"}}},
                                  {"storage": {"emptyDir": {"sizeLimit": "2Gi"}}},
                                  {"storage": {"pvc": {"size": "1Gi"}}}, {"image": "registry:2.8"}])
def test_a_statefulset_an_earlier_build_made_without_the_spec_hash_is_read_back_from_its_template(spec):
    earlier = as_stored(objects.statefulset(cache_spec(cache(spec)), build_mark="earlier"))
    del earlier["metadata"]["annotations"][objects.SPEC_HASH]
    assert objects.pod_inputs_of(earlier["spec"]["template"]) == objects.pod_inputs(cache_spec(cache(spec)))
    applied, replaces = objects.statefulset_update(objects.statefulset(cache_spec(cache(spec))), earlier)
    assert not replaces and applied["spec"]["template"] == earlier["spec"]["template"]
    assert applied["metadata"]["annotations"][objects.SPEC_HASH]  # recorded from now on
    other = {**spec, "image": "registry:3.1"}
    assert objects.statefulset_update(objects.statefulset(cache_spec(cache(other))), earlier)[1] is True


def test_a_rollback_to_a_build_before_the_spec_hash_finds_its_own_template_hash():
    """The builds before the spec hash announced a restart (ArtifactsLost on an emptyDir cache) when
    the StatefulSet's template-hash annotation differed from the hash of the template they would
    write. An upgrade that keeps the pod keeps that annotation too: applied without it, it was
    removed, and a rollback to such a build warned every emptyDir cache that its artifacts were
    lost, for a template it then applied unchanged."""
    spec = cache_spec(cache())
    earlier = as_stored(objects.statefulset(spec, build_mark="earlier"))
    del earlier["metadata"]["annotations"][objects.SPEC_HASH]
    earlier_hash = objects.template_hash(objects.pod_template(spec, build_mark="earlier"))  # as that build wrote it
    earlier["metadata"]["annotations"][objects.EARLIER_TEMPLATE_HASH] = earlier_hash
    applied, replaces = objects.statefulset_update(objects.statefulset(spec), earlier)
    assert not replaces and applied["metadata"]["annotations"][objects.EARLIER_TEMPLATE_HASH] == earlier_hash
    changed, replaces = objects.statefulset_update(objects.statefulset(cache_spec(cache({"image": "registry:3.1"}))),
                                                   earlier)
    assert replaces and objects.EARLIER_TEMPLATE_HASH not in changed["metadata"]["annotations"]  # not its template


def test_a_template_with_no_registry_container_to_read_is_replaced():
    odd = as_stored(objects.statefulset(cache_spec(cache())))
    del odd["metadata"]["annotations"][objects.SPEC_HASH]
    odd["spec"]["template"]["spec"]["containers"][0]["name"] = "renamed"
    assert objects.pod_inputs_of(odd["spec"]["template"]) is None
    assert objects.statefulset_update(objects.statefulset(cache_spec(cache())), odd)[1] is True


def test_a_storage_change_is_refused_in_place_naming_both():
    empty = objects.statefulset(cache_spec(cache()))
    pvc = objects.statefulset(cache_spec(cache({"storage": {"pvc": {"size": "1Gi"}}})))
    bigger = objects.statefulset(cache_spec(cache({"storage": {"pvc": {"size": "2Gi"}}})))
    assert objects.storage_change(pvc, pvc) is None and objects.storage_change(empty, empty) is None
    assert "from emptyDir to pvc 1Gi" in objects.storage_change(pvc, empty)
    assert "from pvc 1Gi to pvc 2Gi" in objects.storage_change(bigger, pvc)
    assert objects.storage_change(empty, pvc) is not None


def test_a_long_cache_name_still_gives_valid_secret_names():
    name = "c" * 250
    for made in (auth_secret_name(name), registry_secret_name(name)):
        assert len(made) <= 253 and made != auth_secret_name("c" * 249)


# -- the status -----------------------------------------------------------------------------------

def sts(ready=0, generation=1, observed=1, current="r1", update="r1"):
    return {"metadata": {"generation": generation},
            "status": {"observedGeneration": observed, "readyReplicas": ready, "currentRevision": current,
                       "updateRevision": update}}


def conditions(status):
    return {c["type"]: (c["status"], c["reason"]) for c in status["conditions"]}


def test_status_while_creating_then_ready():
    spec = cache_spec(cache())
    creating = cache_status(spec, generation=1, previous=None, now=NOW)
    assert conditions(creating) == {"Ready": ("False", "Creating"), "Progressing": ("True", "Creating"),
                                    "Degraded": ("False", "AsExpected")}
    assert creating["endpoint"] == "oras.lab.svc:5000" and creating["authSecret"] == "oras-oras-auth"
    assert creating["observedGeneration"] == 1 and creating["storage"] == "emptyDir"
    starting = cache_status(spec, generation=1, previous=creating, now=NOW, statefulset=sts(0), service={})
    assert conditions(starting)["Ready"] == ("False", "RegistryNotReady")
    ready = cache_status(spec, generation=1, previous=starting, now="2026-11-23T12:01:00Z", statefulset=sts(1), service={})
    assert conditions(ready) == {"Ready": ("True", "RegistryReady"), "Progressing": ("False", "Settled"),
                                 "Degraded": ("False", "AsExpected")}
    times = {c["type"]: c["lastTransitionTime"] for c in ready["conditions"]}
    assert times["Ready"] == "2026-11-23T12:01:00Z" and times["Degraded"] == NOW  # moved only when its status did


def test_a_rolling_registry_is_not_ready():
    spec = cache_spec(cache())
    for rolling in (sts(1, generation=2, observed=1), sts(1, current="r1", update="r2")):
        status = cache_status(spec, generation=2, previous=None, now=NOW, statefulset=rolling, service={})
        assert conditions(status)["Ready"] == ("False", "Rolling") and conditions(status)["Progressing"][0] == "True"


def test_a_problem_degrades_and_an_invalid_spec_says_why():
    bad = cache_status(None, generation=3, previous=None, now=NOW, problem=Note("InvalidSpec", "spec.deploy must be"))
    assert conditions(bad)["Ready"] == ("False", "InvalidSpec") and conditions(bad)["Degraded"][0] == "True"
    assert [c["message"] for c in bad["conditions"] if c["type"] == "Ready"] == ["spec.deploy must be"]


def test_a_refused_storage_change_shows_the_storage_that_runs_and_stays_ready_while_the_registry_answers():
    """After StorageImmutable the registry keeps the storage it was made with: the status (and the
    Storage column) says that one, not the spec's, and the cache stays Ready while its registry
    answers, so `kubectl oras pull` can save the artifacts before the cache is re-created."""
    running = {**objects.statefulset(cache_spec(cache())), **sts(1)}
    spec = cache_spec(cache({"storage": {"pvc": {"size": "2Gi"}}}))
    refused = Note("StorageImmutable", objects.storage_change(objects.statefulset(spec), running))
    status = cache_status(spec, generation=1, previous=None, now=NOW, statefulset=running, service={}, problem=refused)
    assert conditions(status) == {"Ready": ("True", "RegistryReady"), "Progressing": ("False", "StorageImmutable"),
                                  "Degraded": ("True", "StorageImmutable")}
    assert status["storage"] == "emptyDir" and "from emptyDir to pvc 2Gi" in refused.message
    assert "(emptyDir), not spec.storage's" in next(c["message"] for c in status["conditions"] if c["type"] == "Ready")
    down = cache_status(spec, generation=1, previous=None, now=NOW, statefulset={**running, **sts(0)}, service={},
                        problem=refused)
    assert conditions(down)["Ready"] == ("False", "RegistryNotReady") and down["storage"] == "emptyDir"


def test_a_name_taken_is_degraded_and_not_also_progressing():
    """A cache whose names are taken makes nothing until they are free: Progressing said "Creating"
    beside Degraded NameTaken, for ever."""
    taken = Note("NameTaken", "a Service named oras exists in lab that this cache did not make")
    status = cache_status(cache_spec(cache()), generation=1, previous=None, now=NOW, problem=taken)
    assert conditions(status) == {"Ready": ("False", "Creating"), "Progressing": ("False", "NameTaken"),
                                  "Degraded": ("True", "NameTaken")}


def registry_pod(*containers, scheduled=None, node="n1"):
    status = {"phase": "Pending", "containerStatuses": list(containers)}
    if scheduled is not None:
        status["conditions"] = [{"type": "PodScheduled", "status": "False", "reason": "Unschedulable",
                                 "message": scheduled}]
    return {"metadata": {"name": "oras-0", "namespace": "lab"}, "spec": {"nodeName": node} if node else {},
            "status": status}


PULL_BACKOFF = {"name": "registry", "state": {"waiting": {
    "reason": "ImagePullBackOff", "message": 'Back-off pulling image "nope.invalid/registry:3"'}}}
LONG_RUN = {"startedAt": "2026-11-23T12:00:00Z", "finishedAt": "2026-11-30T12:00:00Z"}
PENDING_CLAIM = {"metadata": {"name": "data-oras-0"}, "status": {"phase": "Pending"}}
OOM_LOOP = {"name": "registry", "restartCount": 4,
            "state": {"waiting": {"reason": "CrashLoopBackOff", "message": "back-off 40s restarting failed container"}},
            "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}}


@pytest.mark.parametrize("pod, claim, claim_events, words", [
    (registry_pod(PULL_BACKOFF), None, [],
     'the registry pod oras-0 cannot start: ImagePullBackOff: container registry: Back-off pulling image '
     '"nope.invalid/registry:3"'),
    (registry_pod(OOM_LOOP), None, [],
     "the registry pod oras-0 cannot start: CrashLoopBackOff: container registry: its last run ended OOMKilled, "
     "exit code 137 (back-off 40s restarting failed container)"),
    (registry_pod({**OOM_LOOP, "state": {"running": {}}, "ready": False}), None, [],  # between two back-offs
     "the registry pod oras-0 cannot start: CrashLoopBackOff: container registry: restarted 4 times, its last run "
     "ended OOMKilled, exit code 137"),
    (registry_pod({**OOM_LOOP, "lastState": {"terminated": {  # a run of 30 s: the back-off goes on
        "reason": "OOMKilled", "exitCode": 137, "startedAt": "2026-11-23T12:00:00Z", "finishedAt": "2026-11-23T12:00:30Z"}}}),
     None, [], "the registry pod oras-0 cannot start: CrashLoopBackOff: container registry: its last run ended OOMKilled, "
               "exit code 137 (back-off 40s restarting failed container)"),
    (registry_pod(scheduled="0/2 nodes are available: 2 Insufficient memory.", node=None), None, [],
     "the registry pod oras-0 cannot start: Unschedulable: 0/2 nodes are available: 2 Insufficient memory."),
    (registry_pod(node=None), PENDING_CLAIM,
     [{"type": "Normal", "reason": "FailedBinding", "lastTimestamp": "2026-11-23T12:00:01Z",
       "message": "no persistent volumes available for this claim and no storage class is set"},
      {"type": "Warning", "reason": "ProvisioningFailed", "lastTimestamp": "2026-11-23T11:00:00Z", "message": "older"}],
     "its PersistentVolumeClaim data-oras-0 is Pending: FailedBinding: no persistent volumes available for this "
     "claim and no storage class is set"),
    (registry_pod(node=None), PENDING_CLAIM,
     [{"type": "Warning", "reason": "ProvisioningFailed", "lastTimestamp": "2026-11-23T12:00:01Z",
       "message": 'storageclass.storage.k8s.io "fast" not found'}],
     'its PersistentVolumeClaim data-oras-0 is Pending: ProvisioningFailed: storageclass.storage.k8s.io "fast" '
     'not found'),
])
def test_a_registry_that_cannot_start_is_degraded_naming_the_pods_or_the_claims_reason(pod, claim, claim_events, words):
    """An image that cannot be pulled, a registry killed for memory over and over, a pod no node
    can take, a claim no volume binds: the status said "waiting for the registry pod" and
    "no problem seen" for ever. Now Degraded (RegistryCannotStart) and Ready's message name it,
    Progressing stops, and the webhook's view of the cache denies its steps with it."""
    spec = cache_spec(cache({"storage": {"pvc": {"size": "1Gi"}}} if claim else {}))
    status = cache_status(spec, generation=1, previous=None, now=NOW, statefulset=sts(0), service={}, pod=pod,
                          claim=claim, claim_events=claim_events)
    assert conditions(status) == {"Ready": ("False", "RegistryNotReady"), "Progressing": ("False", "RegistryCannotStart"),
                                  "Degraded": ("True", "RegistryCannotStart")}
    messages = {c["type"]: c["message"] for c in status["conditions"]}
    assert messages["Ready"] == messages["Degraded"] == words
    view = cache_view({**cache(), "status": status}, "oras")
    out = review_pod(review(MARK), owner_annotations=None, agent_image="img", cache=view)
    assert not out["response"]["allowed"] and words in out["response"]["status"]["message"]


@pytest.mark.parametrize("pod, claim, claim_events", [
    (None, None, []),  # not made yet
    (registry_pod(node=None), None, []),  # waiting for the scheduler
    (registry_pod({"name": "registry", "state": {"waiting": {"reason": "ContainerCreating"}}}), None, []),
    (registry_pod({"name": "registry", "state": {"running": {}}, "lastState": {"terminated": {"reason": "OOMKilled"}}}),
     None, []),  # killed once, running again: on its way
    (registry_pod(node=None), PENDING_CLAIM, []),  # nothing said yet
    (registry_pod(node=None), PENDING_CLAIM,  # what the volume controller says on the way
     [{"type": "Normal", "reason": "WaitForFirstConsumer", "message": "waiting for first consumer to be created"},
      {"type": "Normal", "reason": "ExternalProvisioning", "message": "Waiting for a volume to be created"}]),
    (registry_pod(node=None), {**PENDING_CLAIM, "status": {"phase": "Bound"}},
     [{"type": "Warning", "reason": "ProvisioningFailed", "message": "said before it was bound"}]),
    ({**registry_pod(PULL_BACKOFF), "metadata": {"name": "oras-0", "deletionTimestamp": NOW}}, None, []),  # going
    # A registry that served for a week, restarted 4 times in its life, killed once more: the
    # kubelet resets its back-off after a run of 10 minutes, so it is not crash-looping (it was
    # said to be, and the webhook denied the cache's steps, while the new run got ready).
    (registry_pod({**OOM_LOOP, "state": {"running": {"startedAt": "2026-11-30T12:00:11Z"}}, "ready": False,
                   "lastState": {"terminated": {**LONG_RUN, "reason": "OOMKilled", "exitCode": 137}}}), None, []),
    (registry_pod({**OOM_LOOP, "lastState": {"terminated": {**LONG_RUN, "reason": "OOMKilled", "exitCode": 137}}}),
     None, []),
    # The same week, its times written in other forms RFC 3339 allows (one without a zone raised TypeError)
    (registry_pod({**OOM_LOOP, "lastState": {"terminated": {"startedAt": "2026-11-23T12:00:00.5",
                                                            "finishedAt": "2026-11-30T13:00:00.123456789+01:00",
                                                            "reason": "OOMKilled", "exitCode": 137}}}), None, []),
])
def test_a_registry_on_its_way_is_not_degraded(pod, claim, claim_events):
    spec = cache_spec(cache())
    status = cache_status(spec, generation=1, previous=None, now=NOW, statefulset=sts(0), service={}, pod=pod,
                          claim=claim, claim_events=claim_events)
    assert conditions(status) == {"Ready": ("False", "RegistryNotReady"), "Progressing": ("True", "RegistryNotReady"),
                                  "Degraded": ("False", "AsExpected")}


def test_deploy_false_is_ready_with_nothing_deployed():
    status = cache_status(cache_spec(cache({"deploy": False})), generation=1, previous=None, now=NOW)
    assert conditions(status)["Ready"] == ("True", "NotDeployed") and "endpoint" not in status


# -- the webhook's view of a cache ----------------------------------------------------------------

def review(annotations):
    return parse_review({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "u", "operation": "CREATE", "kind": {"kind": "Pod"}, "namespace": "lab",
                        "object": {"metadata": {"name": "p", "annotations": annotations},
                                   "spec": {"containers": [{"name": "c", "image": "x", "command": ["run"]}]}}}})


MARK = {PREFIX + "output-uri": "a/b:c", PREFIX + "output-path": "out"}


def patch_of(out):
    return json.loads(base64.b64decode(out["response"]["patch"]))


def test_the_cache_to_look_up_is_the_pods_or_none():
    def cache_to_look_up(annotations):
        marked = read_pod(review(annotations), owner_annotations=None)
        return (marked.namespace, marked.cache) if isinstance(marked, PodToInject) else marked["response"]["allowed"]

    assert cache_to_look_up(MARK) == ("lab", "oras")
    assert cache_to_look_up({**MARK, PREFIX + "oras-cache": "c2"}) == ("lab", "c2")
    assert cache_to_look_up({**MARK, PREFIX + "registry": "r:5000"}) == ("lab", None)
    assert cache_to_look_up({}) is True  # not marked: allowed with no lookup
    assert cache_to_look_up({PREFIX + "nonsense": "x"}) is False  # denied with no lookup


def test_a_missing_cache_is_denied_saying_how_to_create_it():
    out = review_pod(review(MARK), owner_annotations=None, agent_image="img", cache=CacheView("oras", exists=False))
    assert out["response"]["allowed"] is False
    assert "kubectl oras create-cache oras" in out["response"]["status"]["message"]


def test_a_cache_without_a_registry_is_denied_unless_the_pod_names_one():
    out = review_pod(review(MARK), owner_annotations=None, agent_image="img", cache=CacheView("oras", deploy=False))
    assert not out["response"]["allowed"] and "deploy: false" in out["response"]["status"]["message"]


def test_the_caches_auth_secret_is_wired_by_envfrom_alone_and_oras_env_is_said_to_be_ignored():
    out = review_pod(review({**MARK, PREFIX + "oras-env": "mine"}), owner_annotations=None, agent_image="img",
                     cache=CacheView("oras", auth_secret="oras-oras-auth"))
    (init,) = [op for op in patch_of(out) if op["path"] == "/spec/initContainers"]
    for container in init["value"]:
        assert container["envFrom"] == [{"secretRef": {"name": "oras-oras-auth"}}]
    assert any("oras-env" in w and "ignored" in w for w in out["response"]["warnings"])


def test_a_cache_that_cannot_run_its_registry_denies_its_pods_saying_why():
    broken = cache(name="oras")
    broken["status"] = {"conditions": [{"type": "Degraded", "status": "True", "reason": "NameTaken", "observedGeneration": 1,
                                        "message": "a Service named oras exists in lab that this cache did not make"}]}
    out = review_pod(review(MARK), owner_annotations=None, agent_image="img", cache=cache_view(broken, "oras"))
    assert not out["response"]["allowed"]
    assert "cannot run its registry: a Service named oras exists" in out["response"]["status"]["message"]
    broken["metadata"]["generation"] = 2  # changed since: the condition speaks of an older spec
    assert cache_view(broken, "oras").problem is None


def test_quantities_compare_by_value_as_the_apiserver_rewrites_them():
    from controller.core.cache_objects import same_quantity
    from kubectl_oras.orascache import quantity

    assert same_quantity("1Gi", "1024Mi") and same_quantity("0.5", "500m") and same_quantity(2, "2")
    assert same_quantity("1Ei", "1024Pi") and same_quantity("1Ei", "1Ei")  # Ei is a suffix, not an exponent
    assert not same_quantity("1Gi", "1G") and quantity("lots") is None and quantity(True) is None
    pvc = objects.statefulset(cache_spec(cache({"storage": {"pvc": {"size": "1024Mi"}}})))
    stored = objects.statefulset(cache_spec(cache({"storage": {"pvc": {"size": "1Gi"}}})))
    assert objects.storage_change(pvc, stored) is None
    off = review_pod(review(MARK), owner_annotations=None, agent_image="img", cache=CacheView("oras"))
    (init,) = [op for op in patch_of(off) if op["path"] == "/spec/initContainers"]
    assert all("envFrom" not in c for c in init["value"])


def test_cache_view_of_objects():
    assert cache_view(None, "x") == CacheView("x", exists=False)
    assert cache_view(cache(), "oras") == CacheView("oras", auth_secret="oras-oras-auth")
    assert cache_view(cache({"auth": {"enabled": False}, "deploy": False}), "oras") == CacheView("oras", deploy=False)
    assert cache_view(cache({"auth": "garbage"}), "oras").auth_secret == "oras-oras-auth"
