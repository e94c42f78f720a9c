"""The cluster commands' pure parts: the OrasCache create-cache makes, the status summary, the
access contract's errors (with a stand-in Kube that answers from dicts)."""

from __future__ import annotations

import base64

import pytest

from kubectl_oras.cluster.caches import (
    CacheEndpoint,
    CacheError,
    CacheNotFound,
    CacheNotReady,
    cache_endpoint,
    cache_object,
    find_cache,
    require_ready,
    summary,
    summary_text,
    wait_ready,
    what_deleting_loses,
)
from kubectl_oras.kube.errors import ObjectNotFound


@pytest.mark.parametrize("options, spec", [
    ({}, {}),
    ({"storage": "10Gi"}, {"storage": {"pvc": {"size": "10Gi"}}}),
    ({"storage": "10Gi", "storage_class": "fast"}, {"storage": {"pvc": {"size": "10Gi", "storageClassName": "fast"}}}),
    ({"auth": False}, {"auth": {"enabled": False}}),
    ({"keep_last": 5}, {"retention": {"keepLast": 5}}),
    ({"keep_last": 0, "max_age": "720h"}, {"retention": {"keepLast": 0, "maxAge": "720h"}}),
    ({"max_age": "10m", "auth": False, "storage": "1Gi"},
     {"storage": {"pvc": {"size": "1Gi"}}, "auth": {"enabled": False}, "retention": {"maxAge": "10m"}}),
])
def test_the_cache_object_holds_only_what_was_asked(options, spec):
    cache = cache_object("oras", "lab", **options)
    assert cache == {"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache",
                     "metadata": {"name": "oras", "namespace": "lab"}, "spec": spec}


@pytest.mark.parametrize("options, words", [
    ({"storage_class": "fast"}, "--storage-class needs --storage"),
    ({"keep_last": -1}, "--keep-last"),
    ({"max_age": "soon"}, "--max-age"),
    ({"max_age": "0s"}, "--max-age: must be more than zero"),
    ({"max_age": "1d"}, "--max-age: '1d' is not a retention duration"),
    ({"max_age": " 10m"}, "--max-age: ' 10m' is not a retention duration"),
    ({"max_age": "10m\n"}, "--max-age"),
    ({"max_age": "-5m"}, "--max-age"),
    ({"storage": ""}, "--storage: '' is not a size"),
    ({"storage": "0"}, "--storage: '0' is not a size; give one more than zero"),
    ({"storage": "0Gi"}, "--storage"),
    ({"storage": "-1Gi"}, "--storage"),
    ({"storage": "ten gigs"}, "--storage"),
    ({"storage": "", "storage_class": "fast"}, "--storage"),
    ({"storage": "1Gi", "storage_class": ""}, "--storage-class"),
])
def test_bad_cache_options_are_refused_naming_the_flag(options, words):
    with pytest.raises(CacheError, match=words):
        cache_object("oras", "lab", **options)


@pytest.mark.parametrize("max_age", ["90", "90s", "10m", "720h", "1h30m", "1.5h", "500ms"])
def test_durations_the_crd_takes_are_sent(max_age):
    assert cache_object("oras", "lab", max_age=max_age)["spec"]["retention"]["maxAge"] == max_age


def _cache(*, ready="True", reason="RegistryReady", message="the registry answers at oras.lab.svc:5000", generation=2,
           observed=2, status_extra=None, spec=None):
    status = {"observedGeneration": observed, "endpoint": "oras.lab.svc:5000", "storage": "emptyDir",
              "authSecret": "oras-oras-auth",
              "conditions": [
                  {"type": "Ready", "status": ready, "reason": reason, "message": message, "observedGeneration": observed},
                  {"type": "Progressing", "status": "False", "reason": "Settled", "message": "s"},
                  {"type": "Degraded", "status": "False", "reason": "AsExpected", "message": "no problem seen"}]}
    status.update(status_extra or {})
    return {"metadata": {"name": "oras", "namespace": "lab", "generation": generation}, "spec": spec or {}, "status": status}


def test_the_summary_of_a_ready_cache():
    item = summary(_cache())
    assert item["ready"] is True and item["endpoint"] == "oras.lab.svc:5000" and item["auth"] is True
    assert "degraded" not in item and "progressing" not in item
    assert summary_text(item).splitlines() == [
        "lab/oras: Ready (RegistryReady: the registry answers at oras.lab.svc:5000)",
        "  endpoint: oras.lab.svc:5000", "  storage: emptyDir", "  auth: on (Secret oras-oras-auth)"]


def test_the_summary_shows_retention_and_its_last_run_but_lists_no_repositories():
    """firstSeen holds only the tags with no `created` time: counted as the registry's repositories, it
    showed none for the artifacts kubectl-oras pushes, and a part of them for others."""
    last = {"time": "2026-03-01T12:00:00Z", "dryRun": False, "tagsSeen": 4, "tagsDeleted": 1, "errors": [],
            "firstSeen": {"a/b:v1": {}, "a/b:v2": {}, "c:x": {}}}
    item = summary(_cache(spec={"retention": {"keepLast": 2}}, status_extra={"lastRetention": last}))
    assert "repositories" not in item and "firstSeen" not in item["lastRetention"]
    lines = summary_text(item).splitlines()
    assert lines[-3:-1] == [
        "  retention: keepLast=2", "  last retention run: at 2026-03-01T12:00:00Z, 4 tags seen, 1 deleted"]
    assert lines[-1].startswith("  warning: spec.retention.keepLast 2 counts tags, not runs")
    assert not any("repositories" in line for line in lines)


def test_a_degraded_cache_says_why():
    cache = _cache(ready="False", reason="InvalidSpec", message="bad name")
    cache["status"]["conditions"][2].update(status="True", reason="NameTaken", message="Service oras is someone else's")
    item = summary(cache)
    assert item["ready"] is False and item["degraded"]["reason"] == "NameTaken"
    assert "  degraded: NameTaken: Service oras is someone else's" in summary_text(item)


def test_require_ready_passes_a_ready_cache_and_refuses_others_with_the_conditions_message():
    require_ready(_cache())
    with pytest.raises(CacheNotReady) as e:
        require_ready(_cache(ready="False", reason="RegistryNotReady", message="waiting for the registry pod oras-0"))
    assert str(e.value) == "cache 'oras' in namespace lab is not ready (RegistryNotReady): waiting for the registry pod oras-0"


def test_a_ready_condition_of_an_older_generation_is_not_ready():
    with pytest.raises(CacheNotReady, match="Outdated.*not caught up"):
        require_ready(_cache(generation=3, observed=2))


def test_a_cache_without_status_is_not_ready_and_the_message_suggests_the_install():
    with pytest.raises(CacheNotReady, match="kubectl oras install"):
        require_ready({"metadata": {"name": "oras", "namespace": "lab", "generation": 1}})


def test_what_deleting_a_cache_takes_with_it():
    assert "every artifact" in what_deleting_loses({"spec": {}})
    assert "PersistentVolumeClaim go with it" in what_deleting_loses({"spec": {"storage": {"pvc": {"size": "1Gi"}}}})
    assert "nothing else" in what_deleting_loses({"spec": {"deploy": False}})


class FakeKube:
    """Answers get/list from dicts, as Kube does: ObjectNotFound for what is not there."""

    def __init__(self, caches, secrets=None):
        self.caches, self.secrets = caches, secrets or {}

    async def get(self, resource, name, *, namespace=None, timeout=None):
        store = self.caches if resource.plural == "orascaches" else self.secrets
        if name not in store:
            raise ObjectNotFound(f"get {resource.plural} {namespace}/{name}: not found", status=404)
        return store[name]

    async def list(self, resource, *, namespace=None, **kw):
        return {"items": list(self.caches.values())}


def _named(name):
    cache = _cache()
    cache["metadata"]["name"] = name
    return cache


async def test_a_missing_cache_is_reported_with_the_caches_that_exist():
    kube = FakeKube({"b": _named("b"), "a": _named("a")})
    with pytest.raises(CacheNotFound) as e:
        await find_cache(kube, "lab", "x")
    assert str(e.value) == 'no cache \'x\' in namespace lab; caches here: a, b'
    with pytest.raises(CacheNotFound) as e:
        await find_cache(FakeKube({}), "lab", "x")
    assert str(e.value) == "no cache 'x' in namespace lab; there are none: kubectl oras create-cache"


def _b64(text):
    return base64.b64encode(text.encode()).decode()


async def test_the_endpoint_of_a_ready_cache_carries_its_credentials_and_never_shows_the_password():
    kube = FakeKube({"oras": _cache()}, {"oras-oras-auth": {"data": {"ORAS_USER": _b64("oras"), "ORAS_PASS": _b64("s3cret")}}})
    endpoint = await cache_endpoint(kube, "lab", "oras")
    assert endpoint == CacheEndpoint("lab", "oras", "oras", 5000, "oras", "s3cret")
    assert endpoint.host == "oras.lab.svc:5000"
    assert "s3cret" not in repr(endpoint) and "s3cret" not in str(endpoint)


async def test_the_endpoint_of_a_cache_without_auth_has_no_credentials():
    cache = _cache()
    del cache["status"]["authSecret"]
    endpoint = await cache_endpoint(FakeKube({"oras": cache}), "lab", "oras")
    assert endpoint.username is None and endpoint.password is None


async def test_the_endpoint_of_a_cache_not_ready_or_not_deployed_is_refused():
    with pytest.raises(CacheNotReady, match="Creating"):
        await cache_endpoint(FakeKube({"oras": _cache(ready="False", reason="Creating", message="x")}), "lab", "oras")
    with pytest.raises(CacheError, match="deploy: false"):
        await cache_endpoint(FakeKube({"oras": _cache(spec={"deploy": False})}), "lab", "oras")


def _stuck(reason, message, observed=2):
    cache = _cache(ready="False", reason="RegistryNotReady", message=message)
    cache["status"]["conditions"][2].update(status="True", reason=reason, message=message, observedGeneration=observed)
    return cache


async def test_create_cache_wait_gives_up_at_once_naming_why_the_registry_cannot_start():
    """A registry pod that cannot start (here its image cannot be pulled) kept `create-cache
    --wait` waiting its whole timeout, then saying "waiting for the registry pod". It stops at the
    first look that finds the cache Degraded so, with the pod's reason."""
    words = 'the registry pod oras-0 cannot start: ImagePullBackOff: Back-off pulling image "nope.invalid/r:1"'
    said = []
    with pytest.raises(CacheNotReady) as e:
        await wait_ready(FakeKube({"oras": _stuck("RegistryCannotStart", words)}), "lab", "oras", said.append,
                         timeout=2, interval=0.01)
    assert str(e.value) == (f"cache 'oras' in namespace lab cannot become ready (RegistryCannotStart): {words} "
                            "(kubectl describe orascache oras -n lab)")
    assert said == []


@pytest.mark.parametrize("cache", [
    _stuck("NameTaken", "a Service named oras belongs to an earlier cache of this name"),  # goes by itself
    _stuck("RegistryCannotStart", "an older spec's pod", observed=1),  # said of the spec before this one
])
async def test_create_cache_wait_keeps_waiting_for_what_may_pass(cache):
    with pytest.raises(CacheNotReady, match="is not ready after 0.2s"):
        await wait_ready(FakeKube({"oras": cache}), "lab", "oras", lambda line: None, timeout=0.2, interval=0.05)


class ReportingLater(FakeKube):
    """The controller writes the cache's first status at the third look."""

    def __init__(self):
        super().__init__({"oras": _cache()})
        self.looks = 0

    async def get(self, resource, name, *, namespace=None, timeout=None):
        self.looks += 1
        cache = await super().get(resource, name, namespace=namespace, timeout=timeout)
        return cache if self.looks >= 3 else {"metadata": cache["metadata"], "spec": {}}


@pytest.mark.parametrize("patience, asked", [(60.0, False), (0.0, True)])
async def test_create_cache_wait_asks_whether_the_controller_is_installed_only_once_it_stays_silent(patience, asked):
    """A healthy `create-cache --wait` printed "is it installed?" before the controller's first status."""
    said = []
    await wait_ready(ReportingLater(), "lab", "oras", said.append, timeout=5, interval=0.01, patience=patience)
    assert said == ["waiting: cache 'oras' NoStatus: the controller has not reported on this cache yet"
                    + (" (is it installed? kubectl oras install)" if asked else "")]


async def test_a_wait_that_gives_up_before_its_patience_still_asks_whether_the_controller_is_installed():
    """`create-cache --wait --timeout 3s` with no controller: the progress lines hold the question
    back for NO_STATUS_PATIENCE, the final error does not."""
    silent = FakeKube({"oras": {**_cache(), "status": {}}})
    with pytest.raises(CacheNotReady, match=r"not ready after 0\.2s \(NoStatus\): .*is it installed\? kubectl oras install"):
        await wait_ready(silent, "lab", "oras", lambda line: None, timeout=0.2, interval=0.05, patience=60.0)
