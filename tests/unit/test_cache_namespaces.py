"""Which namespaces carry the label that makes the webhook fail closed for owned pods: exactly
those holding an OrasCache (controller/core/cache_namespaces.py), kept so by the leader's loop
(controller/runtime/namespace_labels.py), here against a fake apiserver that records patches."""

import asyncio

from controller.core.cache_namespaces import LABEL, VALUE, label_changes, label_patch
from controller.runtime.namespace_labels import NamespaceLabels
from kubectl_oras.backoff import Backoff
from kubectl_oras.kube.errors import KubeError, ObjectNotFound


def test_a_namespace_is_labelled_while_it_holds_a_cache_and_only_then():
    assert label_changes(holding=["lab", "lab", "prod"], labelled=["prod", "old"]) == {"lab": True, "old": False}
    assert label_changes(holding=[], labelled=[]) == {}
    assert label_changes(holding=["lab"], labelled=["lab"]) == {}


def test_the_patch_sets_the_label_or_removes_it():
    assert label_patch(True) == {"metadata": {"labels": {LABEL: VALUE}}}
    assert label_patch(False) == {"metadata": {"labels": {LABEL: None}}}  # null: a merge patch removes the key


class Stores:
    def __init__(self, keys):
        self.store = {key: {"metadata": {"namespace": key[0], "name": key[1], "uid": f"u-{key[1]}"}} for key in keys}


class Events:
    def __init__(self):
        self.sent = []

    async def emit(self, obj, kind, reason, message):
        self.sent.append((obj["metadata"]["namespace"], obj["metadata"]["name"], reason, message))


class Kube:
    def __init__(self, fail=()):
        self.patches, self.fail = [], list(fail)

    async def patch(self, resource, name, patch, **kw):
        if self.fail:
            raise self.fail.pop(0)
        self.patches.append((resource.plural, name, patch, kw.get("namespace")))
        return {}


def labeller(kube, caches, labelled):
    events = Events()
    return NamespaceLabels(kube, caches=Stores(caches), labelled=Stores(labelled), events=events,
                           backoff=Backoff(base=0.01, cap=0.01)), events


def test_sync_labels_the_namespaces_of_caches_and_says_so_on_a_cache():
    kube = Kube()
    labels, events = labeller(kube, [("lab", "oras"), ("lab", "big"), ("prod", "oras")], [("", "prod"), ("", "old")])
    asyncio.run(labels.sync())
    assert kube.patches == [("namespaces", "lab", label_patch(True), None), ("namespaces", "old", label_patch(False), None)]
    ((namespace, name, reason, message),) = events.sent
    assert (namespace, name, reason) == ("lab", "big", "WebhookRequired")
    assert "refused" in message and LABEL in message


def test_a_namespace_gone_meanwhile_is_no_failure():
    kube = Kube(fail=[ObjectNotFound("namespaces old not found")])
    labels, _ = labeller(kube, [], [("", "old"), ("", "older")])
    asyncio.run(labels.sync())
    assert [p[1] for p in kube.patches] == ["older"]


def test_a_failed_patch_is_tried_again_and_a_change_wakes_the_loop():
    async def scenario():
        kube = Kube(fail=[KubeError("the apiserver is busy")])
        labels, _ = labeller(kube, [("lab", "oras")], [])
        stop = asyncio.Event()
        loop = asyncio.create_task(labels.run(stop))
        for _ in range(200):
            if kube.patches:
                break
            await asyncio.sleep(0.01)
        assert [p[1] for p in kube.patches] == ["lab"]  # after the failure, without any change
        labels.labelled.store[("", "lab")] = {}
        labels.caches.store.clear()
        labels.changed("DELETED", {})
        for _ in range(200):
            if len(kube.patches) == 2:
                break
            await asyncio.sleep(0.01)
        assert kube.patches[1][1:3] == ("lab", label_patch(False))
        stop.set()
        await asyncio.wait_for(loop, 5)

    asyncio.run(scenario())


def test_nothing_is_written_before_the_namespaces_are_listed():
    async def scenario():
        kube = Kube()
        labels, _ = labeller(kube, [("lab", "oras")], [])
        stop, listed = asyncio.Event(), asyncio.Event()
        loop = asyncio.create_task(labels.run(stop, after=listed))
        labels.changed("ADDED", {})
        await asyncio.sleep(0.05)
        assert kube.patches == []
        listed.set()
        for _ in range(200):
            if kube.patches:
                break
            await asyncio.sleep(0.01)
        assert [p[1] for p in kube.patches] == ["lab"]
        stop.set()
        await asyncio.wait_for(loop, 5)

    asyncio.run(scenario())


def test_the_webhook_knows_the_namespaces_that_hold_a_cache():
    from controller.runtime.cache_directory import CacheDirectory

    directory = CacheDirectory(Stores([("lab", "oras"), ("prod", "big")]), kube=None)
    assert directory.holds_cache("lab") and directory.holds_cache("prod")
    assert not directory.holds_cache("elsewhere") and not directory.holds_cache("")
