"""Keep the webhook's certificate in a Secret and its CA in the MutatingWebhookConfiguration.

Thin I/O around controller.core.certificates: read the Secret, renew when due (or missing, or
for other hosts), write it back, and patch caBundle into every webhook of our configuration.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from kubectl_oras.kube.api import MUTATING_WEBHOOK_CONFIGURATIONS, SECRETS, Kube
from kubectl_oras.kube.errors import Conflict, ObjectNotFound

from ..core.certificates import ServingCert, make_serving_cert, needs_renewal

log = logging.getLogger("kubectl_oras.certs")


async def ensure_serving_cert(kube: Kube, *, namespace: str, secret: str, hosts: list[str]) -> ServingCert:
    existing = None
    try:
        obj = await kube.get(SECRETS, secret, namespace=namespace)
        try:
            existing = ServingCert.from_secret_data(obj.get("data") or {})
        except (KeyError, ValueError):
            existing = None
    except ObjectNotFound:
        obj = None
    if existing and not needs_renewal(existing, hosts=hosts):
        return existing
    fresh = make_serving_cert(hosts=hosts)
    body: dict[str, Any] = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": secret, "namespace": namespace, "labels": {"app.kubernetes.io/name": "kubectl-oras"}},
            "data": fresh.secret_data()}
    if obj is None:
        try:
            await kube.create(SECRETS, body, namespace=namespace)
        except Conflict:
            # Another replica made one first: use it (the next check renews it if it must).
            return await ensure_serving_cert(kube, namespace=namespace, secret=secret, hosts=hosts)
    else:
        body["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"]  # lose a race rather than overwrite
        await kube.replace(SECRETS, secret, body, namespace=namespace)
    log.info("webhook certificate %s in %s/%s", "renewed" if existing else "created", namespace, secret)
    return fresh


async def inject_ca_bundle(kube: Kube, *, configuration: str, ca_pem: bytes) -> bool:
    """Set caBundle on every webhook of the configuration; True when something changed."""
    current = await kube.get(MUTATING_WEBHOOK_CONFIGURATIONS, configuration)
    bundle = base64.b64encode(ca_pem).decode()
    ops = []
    for i, webhook in enumerate(current.get("webhooks") or []):
        existing = (webhook.get("clientConfig") or {}).get("caBundle")
        if existing != bundle:
            ops.append({"op": "replace" if existing else "add", "path": f"/webhooks/{i}/clientConfig/caBundle",
                        "value": bundle})
    if not ops:
        return False
    await kube.patch(MUTATING_WEBHOOK_CONFIGURATIONS, configuration, ops, patch_type="json")
    return True
