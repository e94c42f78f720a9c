"""Keep the webhook's certificate in a Secret and its CA in the MutatingWebhookConfiguration.

Thin I/O around controller.certs: read the Secret, renew when due (or missing, or for other
hosts), write it back, and patch caBundle into every webhook of our configuration.
"""

from __future__ import annotations

import base64
import logging

from kubernetes_asyncio import client
from kubernetes_asyncio.client.rest import ApiException

from .certs import ServingCert, make_serving_cert, needs_renewal

log = logging.getLogger("kubectl_oras.certs")


async def ensure_serving_cert(api: client.ApiClient, *, namespace: str, secret: str, hosts: list[str]) -> ServingCert:
    core = client.CoreV1Api(api)
    existing = None
    try:
        obj = await core.read_namespaced_secret(secret, namespace)
        try:
            existing = ServingCert.from_secret_data(obj.data or {})
        except (KeyError, ValueError):
            existing = None
    except ApiException as e:
        if e.status != 404:
            raise
        obj = None
    if existing and not needs_renewal(existing, hosts=hosts):
        return existing
    fresh = make_serving_cert(hosts=hosts)
    body = {"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/tls",
            "metadata": {"name": secret, "namespace": namespace, "labels": {"app.kubernetes.io/name": "kubectl-oras"}},
            "data": fresh.secret_data()}
    if obj is None:
        try:
            await core.create_namespaced_secret(namespace, body)
        except ApiException as e:
            if e.status != 409:
                raise
            # Another replica made one first: use it (the next check renews it if it must).
            return await ensure_serving_cert(api, namespace=namespace, secret=secret, hosts=hosts)
    else:
        body["metadata"]["resourceVersion"] = obj.metadata.resource_version  # lose a race rather than overwrite
        await core.replace_namespaced_secret(secret, namespace, body)
    log.info("webhook certificate %s in %s/%s", "renewed" if existing else "created", namespace, secret)
    return fresh


async def inject_ca_bundle(api: client.ApiClient, *, configuration: str, ca_pem: bytes) -> bool:
    """Set caBundle on every webhook of the configuration; True when something changed."""
    adm = client.AdmissionregistrationV1Api(api)
    current = await adm.read_mutating_webhook_configuration(configuration)
    bundle = base64.b64encode(ca_pem).decode()
    ops = [{"op": "replace" if (w.client_config.ca_bundle) else "add",
            "path": f"/webhooks/{i}/clientConfig/caBundle", "value": bundle}
           for i, w in enumerate(current.webhooks or []) if w.client_config.ca_bundle != bundle]
    if not ops:
        return False
    await adm.patch_mutating_webhook_configuration(configuration, ops)
    return True
