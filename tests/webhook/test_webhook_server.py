"""The webhook's HTTPS server on loopback: malformed input never crashes it, health answers."""

import json
import ssl

import aiohttp
import pytest

from kubectl_oras.pods.annotations import PREFIX
from tests.webhook.server import WebhookThread


@pytest.fixture(scope="module")
def hook():
    h = WebhookThread(agent_image="img").start()
    yield h
    h.stop()


def ssl_for(hook):
    context = ssl.create_default_context(cadata=hook.cert.ca_pem.decode())
    return context


async def post(hook, body: bytes):
    async with aiohttp.ClientSession() as s:
        async with s.post(hook.url, data=body, ssl=ssl_for(hook), headers={"Content-Type": "application/json"}) as r:
            return r.status, await r.text()


@pytest.mark.parametrize("body", [b"", b"{not json", b"[]", b'{"apiVersion": "admission.k8s.io/v1"}',
                                  json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                              "request": {"object": {}}}).encode()])
async def test_malformed_bodies_get_400_with_a_reason(hook, body):
    status, text = await post(hook, body)
    assert status == 400 and "not an AdmissionReview" in text


async def test_the_server_still_answers_after_garbage(hook):
    await post(hook, b"\xff\xfe garbage")
    review = {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
              "request": {"uid": "x", "operation": "CREATE", "kind": {"kind": "Pod"}, "namespace": "n",
                          "object": {"metadata": {"annotations": {PREFIX + "debug": "true"}},
                                     "spec": {"containers": [{"name": "c", "image": "i", "command": ["a"]}]}}}}
    status, text = await post(hook, json.dumps(review).encode())
    assert status == 200 and json.loads(text)["response"]["patchType"] == "JSONPatch"


async def test_healthz(hook):
    async with aiohttp.ClientSession() as s:
        async with s.get(hook.url.replace("/mutate", "/healthz"), ssl=ssl_for(hook)) as r:
            assert r.status == 200 and await r.text() == "ok"
