"""The reconciler against what users do to the objects it made: a fake apiserver that records
every request, stores as dicts. What a real apiserver does with the objects of users is in
tests/cluster/test_orascache_hostile_objects.py."""

import asyncio
import base64
import copy
import logging

import pytest

from controller.runtime.events import EventRecorder
from controller.runtime.reconciler import Reconciler, Stores, run_workers
from controller.runtime.work_queue import WorkQueue
from kubectl_oras.backoff import Backoff

KEY = ("lab", "oras")
OWNER = [{"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache", "name": "oras",
          "uid": "u-1", "controller": True}]


class DictStore(dict):
    def get(self, namespace, name):
        return super().get((namespace, name))


class RecordingKube:
    def __init__(self):
        self.calls = []
        self.version = 0

    async def list(self, resource, *, namespace=None, label_selector=None, field_selector=None):
        self.calls.append(("list", resource.plural, field_selector, None))
        return {"items": []}

    async def create(self, resource, body, *, namespace=None):
        self.calls.append(("create", resource.plural, body["metadata"].get("name"), body))
        return body

    async def patch(self, resource, name, patch, *, namespace=None, subresource=None, **_):
        self.calls.append(("patch", resource.plural + (f"/{subresource}" if subresource else ""), name, patch))
        self.version += 1
        out = copy.deepcopy(patch)
        out.setdefault("metadata", {})["resourceVersion"] = str(self.version)
        return out

    async def delete(self, resource, name, *, namespace=None):
        self.calls.append(("delete", resource.plural, name, None))
        return {}


def b64(text):
    return base64.b64encode(text.encode()).decode()


def a_cache(spec=None):
    return {"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache",
            "metadata": {"name": "oras", "namespace": "lab", "uid": "u-1", "generation": 2, "resourceVersion": "7"},
            "spec": spec or {},
            "status": {"observedGeneration": 1, "conditions": [
                {"type": "Ready", "status": "True", "reason": "RegistryReady", "message": "",
                 "observedGeneration": 1, "lastTransitionTime": "2026-11-23T12:00:00Z"}]}}


def auth_secret(password):
    return {"metadata": {"name": "oras-oras-auth", "namespace": "lab", "ownerReferences": OWNER},
            "data": {"ORAS_USER": b64("oras"), "ORAS_PASS": b64(password)}}


def reconciler(secrets, spec=None):
    kube = RecordingKube()
    stores = Stores(DictStore({KEY: a_cache(spec)}), DictStore(), DictStore(), DictStore(secrets))
    return kube, Reconciler(kube, stores, EventRecorder(kube, instance="test"))


@pytest.mark.parametrize("password", ["two\nlines", "x" * 73, ""])
async def test_an_auth_secret_the_registry_cannot_take_is_reported_on_the_cache(password, caplog):
    """A user who edits the auth Secret into something htpasswd cannot hold (a line break, over
    bcrypt's 72 bytes, an empty password) gets told on the cache: a Degraded condition and a
    Warning event, the same as any other failure, instead of a traceback in the controller's log
    every back-off while the status still says the registry is Ready."""
    kube, r = reconciler({("lab", "oras-oras-auth"): auth_secret(password)})
    queue: WorkQueue = WorkQueue(backoff=Backoff(base=0.01, cap=0.02))
    stopping = asyncio.Event()
    queue.add(KEY)
    workers = asyncio.create_task(run_workers(r, queue, stopping, workers=1))
    await asyncio.sleep(0.3)
    stopping.set()
    queue.close()
    await workers
    statuses = [patch["status"] for verb, what, _, patch in kube.calls if what == "orascaches/status"]
    assert statuses, f"no status written; requests: {[c[:3] for c in kube.calls]}"
    degraded = next(c for c in statuses[-1]["conditions"] if c["type"] == "Degraded")
    assert degraded["status"] == "True" and "ORAS_PASS" in degraded["message"]
    assert any(verb == "create" and what == "events" and body["type"] == "Warning" for verb, what, _, body in kube.calls)
    assert not [rec for rec in caplog.records if rec.levelno >= logging.ERROR and rec.exc_info]
    assert password == "" or password not in caplog.text


async def test_auth_turned_off_writes_the_registry_secret_once():
    """An apply of ``data`` owns its keys, so the htpasswd it no longer sends goes (the tier-2 test
    shows the real apiserver does that); here the watch bringing the written Secret back is played
    by the test."""
    registry = {"metadata": {"name": "oras-oras-registry", "namespace": "lab", "ownerReferences": OWNER},
                "data": {"REGISTRY_HTTP_SECRET": b64("s"), "htpasswd": b64("oras:$2b$04$x\n"),
                         "password-sha256": b64("0" * 64)}}
    kube, r = reconciler({("lab", "oras-oras-registry"): registry}, spec={"auth": {"enabled": False}})
    for i in range(3):
        await r.reconcile(KEY)  # each a change the watch brought (a StatefulSet's status, a label)
        written = [c for c in kube.calls if c[1] == "secrets" and c[0] in ("create", "patch")]
        if written:
            body = written[-1][3]
            assert "htpasswd" not in body["data"] and "stringData" not in body
            r.stores.secrets[("lab", "oras-oras-registry")] = {
                "metadata": {**registry["metadata"], "labels": body["metadata"]["labels"], "resourceVersion": str(10 + i)},
                "data": body["data"]}
    writes = [c[:3] for c in kube.calls if c[1] == "secrets" and c[0] in ("create", "patch")]
    assert len(writes) == 1, writes


def test_the_caches_password_wins_over_an_oras_env_secret_in_the_predecessors_shape():
    """A pod of a cache with auth on gets only the cache's Secret: an oras-env Secret's ORAS_PUSH_PASS
    would otherwise win over the cache's ORAS_PASS (Credentials prefer the predecessor's keys), and
    the cache's registry takes no password but its own. The pod is told so in a warning."""
    from kubectl_oras.pods.annotations import parse_settings
    from kubectl_oras.pods.caches import CacheView
    from kubectl_oras.pods.injection import agent_secrets

    settings = parse_settings({"oras-env": "mine", "output-uri": "a/b:c", "output-path": "out"})
    secrets, warnings = agent_secrets(settings, CacheView("oras", auth_secret="oras-oras-auth"))
    assert secrets == ["oras-oras-auth"] and "oras-env" in warnings[0]
    secrets, warnings = agent_secrets(settings, CacheView("oras"))  # auth off: the pod's own Secret counts
    assert secrets == ["mine"] and warnings == []
    secrets, _ = agent_secrets(parse_settings({"output-uri": "a/b:c", "output-path": "out"}),
                               CacheView("oras", oras_env="cache-wide"))  # the cache's spec.secrets.orasEnv
    assert secrets == ["cache-wide"]


class NamespaceGoneKube(RecordingKube):
    """The apiserver after the cache's namespace was deleted while it was reconciled: every write
    is refused with 'namespaces "lab" not found'; the namespace may since have been made again,
    holding a new cache of the same name (``now``) or none."""

    def __init__(self, now):
        super().__init__()
        self.now = now

    async def get(self, resource, name, *, namespace=None, **_):
        from kubectl_oras.kube.errors import ObjectNotFound

        self.calls.append(("get", resource.plural, name, None))
        if self.now is None or resource.plural != "orascaches":
            raise ObjectNotFound(f'{resource.plural} "{name}" not found')
        return self.now

    async def create(self, resource, body, *, namespace=None):
        from kubectl_oras.kube.errors import ObjectNotFound

        if resource.plural == "events":  # the namespace is there again: the event would land in it
            return await super().create(resource, body, namespace=namespace)
        raise ObjectNotFound(f'create {resource.plural}: namespaces "{namespace}" not found')

    async def patch(self, resource, name, patch, *, namespace=None, subresource=None, **_):
        from kubectl_oras.kube.errors import ObjectNotFound

        raise ObjectNotFound(f'patch {resource.plural}: namespaces "{namespace}" not found')


@pytest.mark.parametrize("now", [None, {**a_cache(), "metadata": {**a_cache()["metadata"], "uid": "u-2"}}],
                         ids=["namespace-gone", "namespace-made-again"])
async def test_a_cache_gone_with_its_namespace_leaves_no_stale_warning(now):
    """A reconcile that fails because the cache's namespace was deleted under it said so in a
    Warning (ReconcileFailed 'namespaces "lab" not found') on the cache: when the namespace was
    made again, the new namespace got that stale Warning. A cache that is no longer there (or is
    another one of its name) gets no event and no status."""
    kube = NamespaceGoneKube(now)
    r = Reconciler(kube, Stores(DictStore({KEY: a_cache()}), DictStore(), DictStore(), DictStore()),
                   EventRecorder(kube, instance="test"))
    from kubectl_oras.kube.errors import KubeError

    try:
        await r.reconcile(KEY)
    except KubeError:
        pass  # retried or not: what counts is what was written
    assert [c[3]["message"] for c in kube.calls if c[1] == "events"] == []
    assert ("get", "orascaches", "oras", None) in kube.calls
