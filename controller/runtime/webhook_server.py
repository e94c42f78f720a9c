"""The HTTPS server around admission.review_pod: /mutate and /healthz (aiohttp)."""

from __future__ import annotations

import json
import logging
import ssl
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web

from ..core.admission import MalformedReview, controlling_owner, request_of, review_pod

log = logging.getLogger("kubectl_oras.webhook")

OwnerLookup = Callable[[str, dict[str, Any]], Awaitable[dict[str, str] | None]]
MAX_BODY = 3 * 1024 * 1024  # a pod object is at most ~1.5 MiB (etcd's limit); reviews carry it plus oldObject


async def no_owner_lookup(namespace: str, owner: dict[str, Any]) -> dict[str, str] | None:
    return None


def make_app(*, agent_image: str, lookup_owner: OwnerLookup = no_owner_lookup) -> web.Application:
    async def mutate(request: web.Request) -> web.Response:
        try:
            review = json.loads(await request.read())
            admission = request_of(review)
        except (ValueError, MalformedReview) as e:  # JSONDecodeError is a ValueError
            return web.json_response({"error": f"not an AdmissionReview: {e}"}, status=400)
        obj = admission.get("object")
        pod: dict[str, Any] = obj if isinstance(obj, dict) else {}
        owner = controlling_owner(pod)
        owner_annotations = None
        if owner is not None:
            try:
                owner_annotations = await lookup_owner(admission.get("namespace") or "", owner)
            except Exception as e:  # the pod's own annotations still count; say why the owner's did not
                log.warning("could not read %s/%s: %s", owner.get("kind"), owner.get("name"), e)
        response = review_pod(review, owner_annotations=owner_annotations, agent_image=agent_image)
        result = response["response"]
        log.info("%s %s/%s: %s", admission.get("operation"), admission.get("namespace"),
                 (pod.get("metadata") or {}).get("name") or (pod.get("metadata") or {}).get("generateName"),
                 "patched" if "patch" in result
                 else ("allowed" if result["allowed"] else f"denied: {result['status']['message']}"))
        return web.json_response(response)

    async def healthz(request: web.Request) -> web.Response:
        return web.Response(text="ok")

    app = web.Application(client_max_size=MAX_BODY)
    app.router.add_post("/mutate", mutate)
    app.router.add_get("/healthz", healthz)
    return app


def server_ssl_context(cert_file: str, key_file: str) -> ssl.SSLContext:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    context.load_cert_chain(cert_file, key_file)
    return context
