"""The webhook's HTTPS server on loopback: malformed input never crashes it, health answers."""

import asyncio
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


def review_of(obj, **request):
    return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
            "request": {"uid": "x", "operation": "CREATE", "kind": {"kind": "Pod"}, "namespace": "n", "object": obj,
                        **request}}


MARK = {PREFIX + "output-uri": "a/b:c", PREFIX + "output-path": "out"}


@pytest.mark.parametrize(
    "obj, culprit",
    [
        ({"metadata": {"annotations": [PREFIX + "debug"]}}, "metadata.annotations must be a map"),
        ({"metadata": {"annotations": {**MARK, PREFIX + "debug": True}}}, PREFIX + "debug: the value must be a string"),
        ({"metadata": {"ownerReferences": ["x"]}}, "metadata.ownerReferences[0] must be a map"),
        ({"metadata": {"annotations": MARK}, "spec": []}, "spec must be a map"),
        ({"metadata": {"annotations": MARK}, "spec": {"containers": {"name": "c"}}}, "spec.containers must be a list"),
        ({"metadata": {"annotations": MARK},
          "spec": {"containers": [{"name": "c", "image": "i", "command": ["a"], "env": ["A=1"]}]}},
         "spec.containers[0].env[0] must be a map"),
        ({"metadata": {"annotations": MARK},
          "spec": {"containers": [{"name": "c", "image": "i", "command": ["a"]}], "volumes": [None]}},
         "spec.volumes[0] must be a map"),
    ],
)
async def test_a_structurally_wrong_pod_is_denied_naming_the_field_not_a_500(hook, obj, culprit):
    status, text = await post(hook, json.dumps(review_of(obj)).encode())
    assert status == 200, text
    response = json.loads(text)["response"]
    assert response["allowed"] is False and culprit in response["status"]["message"]


@pytest.mark.parametrize(
    "body, culprit",
    [
        (b"[" * 100_000 + b"]" * 100_000, "nested too deeply"),
        (json.dumps(review_of({}, kind="Pod")).encode(), "request.kind is not an object"),
        (json.dumps(review_of("a pod")).encode(), "request.object is not an object"),
    ],
)
async def test_a_structurally_wrong_review_is_a_400_not_a_500(hook, body, culprit):
    status, text = await post(hook, body)
    assert status == 400 and culprit in text, (status, text)


async def healthz_answers(hook, *, within: float) -> bool:
    """/healthz answers ok within ``within`` seconds (retrying: the server frees slots asynchronously)."""
    url = hook.url.replace("/mutate", "/healthz")
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while loop.time() < deadline:
        try:
            async with aiohttp.ClientSession() as s:
                async with s.get(url, ssl=ssl_for(hook), timeout=aiohttp.ClientTimeout(total=2)) as r:
                    if r.status == 200 and await r.text() == "ok":
                        return True
        except (aiohttp.ClientError, TimeoutError):
            pass
        await asyncio.sleep(0.2)
    return False


async def slow_client(hook, first_bytes: bytes):
    """A TLS connection that sends ``first_bytes`` and then nothing."""
    reader, writer = await asyncio.open_connection("127.0.0.1", hook.port, ssl=ssl_for(hook))
    writer.write(first_bytes)
    await writer.drain()
    return reader, writer


PARTIAL_BODY = b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{"
PARTIAL_HEADERS = b"POST /mutate HTTP/1.1\r\nHost: x\r\nContent-Le"


async def test_a_slow_loris_is_cut_off_while_healthz_answers():
    """Clients that send part of a request and then nothing were held for as long as they liked."""
    hook = WebhookThread(agent_image="img", request_timeout=1).start()
    try:
        clients = [await slow_client(hook, PARTIAL_BODY) for _ in range(5)]
        clients += [await slow_client(hook, PARTIAL_HEADERS) for _ in range(5)]
        assert await healthz_answers(hook, within=5)
        for i, (reader, writer) in enumerate(clients):
            answer = await asyncio.wait_for(reader.read(), 10)  # EOF: the server closed the connection
            if i < 5:
                assert answer.startswith(b"HTTP/1.1 408"), answer
            writer.close()
        assert await healthz_answers(hook, within=5)
    finally:
        hook.stop()


async def test_connections_past_the_cap_are_closed_at_once_and_slots_come_back():
    hook = WebhookThread(agent_image="img", max_connections=3, request_timeout=60).start()
    try:
        held = [await slow_client(hook, PARTIAL_HEADERS) for _ in range(3)]
        # the fourth is closed before its TLS handshake, long before the 60 s request timeout
        with pytest.raises((ConnectionError, ssl.SSLError, OSError)):
            await asyncio.wait_for(slow_client(hook, PARTIAL_HEADERS), 10)
        for _, writer in held:
            writer.close()
        assert await healthz_answers(hook, within=10)
    finally:
        hook.stop()


async def lookup_broken_or_missing(namespace, name):
    """The caches the server is told of: 'broken' cannot be read, 'missing' does not exist."""
    from kubectl_oras.pods.caches import CacheView

    if name == "broken":
        raise RuntimeError("the apiserver did not answer")
    return CacheView(name, exists=name != "missing")


async def answers_by_cache(path, review, seen):
    """The server's answer at ``path`` to ``review(cache)`` for each cache, its outcomes in ``seen``."""
    from aiohttp.test_utils import TestClient, TestServer

    from controller.runtime.webhook_server import make_app

    app = make_app(agent_image="img", lookup_cache=lookup_broken_or_missing,
                   observe=lambda outcome, seconds: seen.append(outcome))
    async with TestClient(TestServer(app)) as client:
        answers = {}
        for cache in ("broken", "missing", "here"):
            r = await client.post(path, json=review(cache))
            assert r.status == 200
            answers[cache] = (await r.json())["response"]
    return answers


async def test_the_cache_lookup_decides_and_its_failure_denies_naming_the_cache():
    def review(cache):
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {"uid": cache, "operation": "CREATE", "kind": {"kind": "Pod"}, "namespace": "lab",
                            "object": {"metadata": {"annotations": {PREFIX + "oras-cache": cache,
                                                                    PREFIX + "output-uri": "a/b:c",
                                                                    PREFIX + "output-path": "out"}},
                                       "spec": {"containers": [{"name": "c", "image": "i", "command": ["a"]}]}}}}

    seen = []
    answers = await answers_by_cache("/mutate", review, seen)
    assert answers["broken"]["uid"] == "broken" and not answers["broken"]["allowed"]
    assert answers["broken"]["status"]["code"] == 503
    assert "cannot read OrasCache 'broken' in lab" in answers["broken"]["status"]["message"]
    assert "the apiserver did not answer" in answers["broken"]["status"]["message"]
    assert "kubectl oras create-cache missing" in answers["missing"]["status"]["message"]
    assert answers["here"]["allowed"] and answers["here"]["patchType"] == "JSONPatch"
    assert seen == ["denied", "denied", "mutated"]


async def test_an_owner_that_cannot_be_read_denies_its_pod_where_a_cache_is():
    """The owner's annotations may mark the pod for the cache: in a namespace that holds one, a
    pod admitted without them would run without its agent. Elsewhere it is admitted as it is."""
    from aiohttp.test_utils import TestClient, TestServer

    from controller.runtime.webhook_server import make_app
    from kubectl_oras.kube.errors import ClusterUnreachable, ObjectNotFound

    async def lookup_owner(namespace, owner):
        if owner["name"] == "gone":
            raise ObjectNotFound("jobs lab/gone not found")
        raise ClusterUnreachable("the apiserver did not answer within 2 s")

    seen = []
    app = make_app(agent_image="img", lookup_owner=lookup_owner, holds_cache=lambda namespace: namespace == "lab",
                   observe=lambda outcome, seconds: seen.append(outcome))

    def review(namespace, owner):
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {"uid": f"{namespace}-{owner}", "operation": "CREATE", "kind": {"kind": "Pod"},
                            "namespace": namespace,
                            "object": {"metadata": {"ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                                                         "name": owner, "uid": "u", "controller": True}]},
                                       "spec": {"containers": [{"name": "c", "image": "i", "command": ["a"]}]}}}}

    async with TestClient(TestServer(app)) as client:
        answers = []
        for namespace, owner in (("lab", "train"), ("elsewhere", "train"), ("lab", "gone")):
            r = await client.post("/mutate", json=review(namespace, owner))
            assert r.status == 200
            answers.append((await r.json())["response"])
    denied, elsewhere, gone = answers
    assert not denied["allowed"] and denied["status"]["code"] == 503
    assert denied["status"]["message"].startswith("cannot read the pod's owner Job train in lab")
    assert "the apiserver did not answer within 2 s" in denied["status"]["message"]
    assert elsewhere["allowed"] and "patch" not in elsewhere
    assert gone["allowed"] and "patch" not in gone
    assert seen == ["denied", "allowed", "allowed"]


async def test_validate_answers_workloads_without_a_patch_and_a_cache_it_cannot_read_is_a_warning():
    """/validate fails open, as its entry does: a cache it cannot read is said in a warning (each
    pod is checked against it when made), a cache that does not exist denies the workload."""
    def review(cache):
        template = {"metadata": {"annotations": {PREFIX + "oras-cache": cache, PREFIX + "output-uri": "a/b:c",
                                                 PREFIX + "output-path": "out"}},
                    "spec": {"restartPolicy": "Never", "containers": [{"name": "c", "image": "i", "command": ["a"]}]}}
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {"uid": cache, "operation": "CREATE", "kind": {"kind": "Job"}, "namespace": "lab",
                            "object": {"kind": "Job", "metadata": {"name": "j"}, "spec": {"template": template}}}}

    seen = []
    answers = await answers_by_cache("/validate", review, seen)
    assert answers["broken"] == {"uid": "broken", "allowed": True, "warnings": [
        "cannot read OrasCache 'broken' in lab (the apiserver did not answer): the workload's pods are checked "
        "against it when they are made"]}
    assert not answers["missing"]["allowed"]
    assert answers["missing"]["status"]["message"].startswith("spec.template: no OrasCache named 'missing'")
    assert answers["here"] == {"uid": "here", "allowed": True}
    assert seen == ["allowed", "denied", "allowed"]


async def test_a_launcher_without_command_is_looked_up_in_the_time_the_other_lookups_left():
    """The owner's lookup took 1.5 s of the review's 4.5: the image's gets what is left, and its
    failure denies the pod with its message (503 when trying again may help)."""
    from aiohttp.test_utils import TestClient, TestServer

    from controller.runtime.image_commands import ImageLookupFailed
    from controller.runtime.webhook_server import REVIEW_SECONDS, make_app

    async def lookup_owner(namespace, owner):
        await asyncio.sleep(1.5)
        return {}

    given = []

    async def lookup_image(namespace, pod, container, image, seconds):
        given.append((container, image, seconds))
        raise ImageLookupFailed(f"container {container!r}: {image} could not be read", transient=image == "slow")

    app = make_app(agent_image="img", lookup_owner=lookup_owner, lookup_image=lookup_image)

    def review(image):
        return {"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                "request": {"uid": image, "operation": "CREATE", "kind": {"kind": "Pod"}, "namespace": "lab",
                            "object": {"metadata": {"annotations": {PREFIX + "output-uri": "a/b:c",
                                                                    PREFIX + "output-path": "out"},
                                                    "ownerReferences": [{"apiVersion": "batch/v1", "kind": "Job",
                                                                         "name": "j", "uid": "u", "controller": True}]},
                                       "spec": {"containers": [{"name": "c", "image": image}]}}}}

    async with TestClient(TestServer(app)) as client:
        answers = [(await (await client.post("/mutate", json=review(image))).json())["response"]
                   for image in ("slow", "private")]
    assert [(c, i) for c, i, _ in given] == [("c", "slow"), ("c", "private")]
    assert all(REVIEW_SECONDS - 1.5 - 0.5 < seconds <= REVIEW_SECONDS - 1.5 for _, _, seconds in given)
    assert [(a["allowed"], a["status"]["code"]) for a in answers] == [(False, 503), (False, 400)]
    assert answers[1]["status"]["message"] == "container 'c': private could not be read"
