"""Tier 2 works: a real kube-apiserver validates CRDs, streams watches, enforces RBAC, and calls
a webhook registered by URL — only for the pods its matchConditions select."""

from __future__ import annotations

import asyncio
import base64
import json
import ssl
import threading
import uuid

import pytest
from aiohttp import web
from kubernetes_asyncio import client, config, watch
from kubernetes_asyncio.client.rest import ApiException

from localcluster import pki
from tests.support.net import free_port

CRD = {
    "apiVersion": "apiextensions.k8s.io/v1",
    "kind": "CustomResourceDefinition",
    "metadata": {"name": "widgets.smoke.example"},
    "spec": {
        "group": "smoke.example",
        "scope": "Namespaced",
        "names": {"plural": "widgets", "singular": "widget", "kind": "Widget"},
        "versions": [{
            "name": "v1", "served": True, "storage": True,
            "schema": {"openAPIV3Schema": {"type": "object", "properties": {"spec": {
                "type": "object", "required": ["size"],
                "properties": {"size": {"type": "integer", "minimum": 1}},
            }}}},
        }],
    },
}


async def api_client(kubeconfig) -> client.ApiClient:
    return await config.new_client_from_config(config_file=str(kubeconfig))


async def wait_established(ext: client.ApiextensionsV1Api, name: str) -> None:
    for _ in range(100):
        crd = await ext.read_custom_resource_definition(name)
        if any(c.type == "Established" and c.status == "True" for c in (crd.status.conditions or [])):
            return
        await asyncio.sleep(0.1)
    raise AssertionError(f"CRD {name} never became Established")


async def test_crd_schema_is_enforced_and_watches_stream_changes(control_plane):
    async with await api_client(control_plane.kubeconfig) as api:
        ext = client.ApiextensionsV1Api(api)
        try:
            await ext.create_custom_resource_definition(CRD)
        except ApiException as e:
            assert e.status == 409
        await wait_established(ext, CRD["metadata"]["name"])
        custom = client.CustomObjectsApi(api)
        name = f"w-{uuid.uuid4().hex[:6]}"

        with pytest.raises(ApiException) as bad:
            await custom.create_namespaced_custom_object("smoke.example", "v1", "default", "widgets",
                                                         {"apiVersion": "smoke.example/v1", "kind": "Widget",
                                                          "metadata": {"name": name + "-bad"}, "spec": {"size": 0}})
        assert bad.value.status == 422 and "spec.size" in bad.value.body

        created = await custom.create_namespaced_custom_object(
            "smoke.example", "v1", "default", "widgets",
            {"apiVersion": "smoke.example/v1", "kind": "Widget", "metadata": {"name": name}, "spec": {"size": 1}})
        start_rv = created["metadata"]["resourceVersion"]

        async def bump():
            await asyncio.sleep(0.3)
            await custom.patch_namespaced_custom_object("smoke.example", "v1", "default", "widgets", name,
                                                        [{"op": "replace", "path": "/spec/size", "value": 2}])

        bumper = asyncio.create_task(bump())
        w = watch.Watch()
        events = []
        async with w.stream(custom.list_namespaced_custom_object, "smoke.example", "v1", "default", "widgets",
                            resource_version=start_rv, field_selector=f"metadata.name={name}", timeout_seconds=10) as stream:
            async for event in stream:
                events.append((event["type"], event["object"]["spec"]["size"], event["object"]["metadata"]["resourceVersion"]))
                if event["type"] == "MODIFIED":
                    break
        await bumper
        assert events[0][:2] == ("MODIFIED", 2)
        assert int(events[0][2]) > int(start_rv)


async def test_rbac_limits_a_service_account_to_its_role(control_plane):
    ns = f"rbac-{uuid.uuid4().hex[:6]}"
    async with await api_client(control_plane.kubeconfig) as api:
        core, rbac = client.CoreV1Api(api), client.RbacAuthorizationV1Api(api)
        await core.create_namespace({"metadata": {"name": ns}})
        await core.create_namespaced_service_account(ns, {"metadata": {"name": "reader"}})
        await rbac.create_namespaced_role(ns, {"metadata": {"name": "read-configmaps"}, "rules": [
            {"apiGroups": [""], "resources": ["configmaps"], "verbs": ["get", "list"]}]})
        await rbac.create_namespaced_role_binding(ns, {
            "metadata": {"name": "reader"},
            "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "read-configmaps"},
            "subjects": [{"kind": "ServiceAccount", "name": "reader", "namespace": ns}]})

    sa_kubeconfig = control_plane.kubeconfig_for_service_account(ns, "reader")
    async with await api_client(sa_kubeconfig) as api:
        core = client.CoreV1Api(api)
        assert (await core.list_namespaced_config_map(ns)).items is not None
        with pytest.raises(ApiException) as denied:
            await core.list_namespaced_secret(ns)
        assert denied.value.status == 403
        assert f"system:serviceaccount:{ns}:reader" in denied.value.body


class RecordingWebhook:
    """An HTTPS mutating webhook that labels every pod it is asked about and records the calls."""

    def __init__(self, tmp_path):
        ca_pair, ca = pki.authority(tmp_path, "webhook-ca")
        self.ca_pem = ca_pair.cert_pem()
        serving = pki.certificate(tmp_path, "webhook", ca, common_name="webhook", server=True, hosts=("127.0.0.1",))
        self.ssl = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.ssl.load_cert_chain(serving.cert, serving.key)
        self.port = free_port()
        self.calls: list[dict] = []
        self._loop = asyncio.new_event_loop()
        self._runner: web.AppRunner | None = None

    async def mutate(self, request: web.Request) -> web.Response:
        review = await request.json()
        self.calls.append(review["request"])
        patch = [{"op": "add", "path": "/metadata/labels", "value": {"smoke-mutated": "yes"}}]
        return web.json_response({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "response": {
            "uid": review["request"]["uid"], "allowed": True, "patchType": "JSONPatch",
            "patch": base64.b64encode(json.dumps(patch).encode()).decode()}})

    def start(self) -> None:
        app = web.Application()
        app.router.add_post("/mutate", self.mutate)
        self._runner = web.AppRunner(app)
        ready = threading.Event()

        def serve():
            asyncio.set_event_loop(self._loop)
            self._loop.run_until_complete(self._runner.setup())
            self._loop.run_until_complete(web.TCPSite(self._runner, "127.0.0.1", self.port, ssl_context=self.ssl).start())
            ready.set()
            self._loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        assert ready.wait(10)

    def stop(self) -> None:
        asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)


async def test_apiserver_calls_a_url_webhook_only_for_matching_pods(control_plane, tmp_path):
    hook = RecordingWebhook(tmp_path)
    hook.start()
    name = f"smoke-{uuid.uuid4().hex[:6]}"
    try:
        async with await api_client(control_plane.kubeconfig) as api:
            adm = client.AdmissionregistrationV1Api(api)
            await adm.create_mutating_webhook_configuration({
                "metadata": {"name": name},
                "webhooks": [{
                    "name": "smoke.example.test",
                    "clientConfig": {"url": f"https://127.0.0.1:{hook.port}/mutate",
                                     "caBundle": base64.b64encode(hook.ca_pem).decode()},
                    "rules": [{"apiGroups": [""], "apiVersions": ["v1"], "operations": ["CREATE"],
                               "resources": ["pods"], "scope": "Namespaced"}],
                    "matchConditions": [{"name": "annotated", "expression":
                        "has(object.metadata.annotations) && "
                        "object.metadata.annotations.exists(k, k.startsWith('smoke.example/'))"}],
                    "admissionReviewVersions": ["v1"], "sideEffects": "None",
                    "failurePolicy": "Fail", "timeoutSeconds": 5,
                }],
            })
            core = client.CoreV1Api(api)
            pod = lambda n, ann: {"metadata": {"name": n, "annotations": ann},  # noqa: E731
                                  "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["true"]}]}}
            # The configuration takes effect once the apiserver's webhook informer has seen it.
            marked = None
            for attempt in range(50):
                marked = await core.create_namespaced_pod("default", pod(f"{name}-m{attempt}", {"smoke.example/mark": "1"}))
                if marked.metadata.labels:
                    break
                await asyncio.sleep(0.2)
            assert marked.metadata.labels == {"smoke-mutated": "yes"}
            plain = await core.create_namespaced_pod("default", pod(f"{name}-plain", {"other": "x"}))
            assert not plain.metadata.labels
            asked_about = {c["object"]["metadata"]["name"] for c in hook.calls}
            assert marked.metadata.name in asked_about
            assert f"{name}-plain" not in asked_about
            assert all(c["operation"] == "CREATE" and c["kind"]["kind"] == "Pod" for c in hook.calls)
            await adm.delete_mutating_webhook_configuration(name)
    finally:
        hook.stop()
