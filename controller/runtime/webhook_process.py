"""Run the webhook: keep its certificate (Secret + caBundle), serve /mutate, renew in time."""

from __future__ import annotations

import asyncio
import logging
import os
import ssl
import tempfile
from dataclasses import dataclass

from kubectl_oras.kube.api import Kube
from kubectl_oras.kube.config import connect
from kubectl_oras.kube.errors import KubeError
from kubectl_oras.kube.owners import read_owner_annotations

from ..core.certificates import ServingCert, service_hosts
from .cert_store import ensure_serving_cert, inject_ca_bundle
from .image_commands import ImageCommands
from .webhook_server import CacheLookup, HoldsCache, Observer, default_cache, make_app, no_caches, start_server

log = logging.getLogger("kubectl_oras.webhook")
RENEW_CHECK_SECONDS = 3600
TRUST_PROPAGATION_SECONDS = 10
CONFIGURATION_RETRY_SECONDS = 5  # the apiserver reads webhook configurations through an informer


@dataclass(frozen=True)
class WebhookSettings:
    namespace: str
    agent_image: str
    listen_host: str = "0.0.0.0"
    listen_port: int = 8443
    service: str = "kubectl-oras-webhook"
    secret: str = "kubectl-oras-webhook-tls"
    configuration: str = "kubectl-oras"
    extra_hosts: tuple[str, ...] = ()
    kubeconfig: str | None = None

    @property
    def hosts(self) -> list[str]:
        return service_hosts(self.service, self.namespace) + list(self.extra_hosts)


def _load(context: ssl.SSLContext, cert: ServingCert) -> None:
    """Swap the serving certificate in place: new TLS handshakes use it, open ones carry on."""
    with tempfile.TemporaryDirectory() as d:
        cert_file, key_file = os.path.join(d, "tls.crt"), os.path.join(d, "tls.key")
        with open(cert_file, "wb") as f:
            f.write(cert.cert_pem)
        with open(os.open(key_file, os.O_WRONLY | os.O_CREAT, 0o600), "wb") as f:
            f.write(cert.key_pem)
        context.load_cert_chain(cert_file, key_file)


async def _trusted(kube: Kube, settings: WebhookSettings, ca_pem: bytes, stop: asyncio.Event) -> None:
    said = ""
    while not stop.is_set():
        try:
            await inject_ca_bundle(kube, configuration=settings.configuration, ca_pem=ca_pem)
            if said:
                log.info("caBundle set on MutatingWebhookConfiguration %s", settings.configuration)
            return
        except KubeError as e:
            if str(e) != said:
                log.warning("cannot set caBundle on MutatingWebhookConfiguration %s (retrying every %d s): %s",
                            settings.configuration, CONFIGURATION_RETRY_SECONDS, e)
                said = str(e)
        try:
            await asyncio.wait_for(stop.wait(), CONFIGURATION_RETRY_SECONDS)
        except TimeoutError:
            pass


async def serve(settings: WebhookSettings, *, stop: asyncio.Event | None = None) -> None:
    """The webhook alone, every cache taken with its defaults (`python -m controller webhook`)."""
    async with await connect(kubeconfig=settings.kubeconfig) as kube:
        await serve_webhook(kube, settings, stop=stop or asyncio.Event())


async def serve_webhook(kube: Kube, settings: WebhookSettings, *, stop: asyncio.Event,
                        lookup_cache: CacheLookup = default_cache, holds_cache: HoldsCache = no_caches,
                        observe: Observer | None = None, serving: asyncio.Event | None = None) -> None:
    """Serve /mutate until ``stop``, keeping the certificate fresh; ``serving`` is set once the
    apiserver has been told to trust it."""
    cert = await ensure_serving_cert(kube, namespace=settings.namespace, secret=settings.secret, hosts=settings.hosts)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    _load(context, cert)
    app = make_app(agent_image=settings.agent_image,
                   lookup_owner=lambda ns, owner: read_owner_annotations(kube, ns, owner),
                   lookup_cache=lookup_cache, holds_cache=holds_cache, observe=observe,
                   lookup_image=ImageCommands(kube.get, namespace=settings.namespace).resolve)
    runner, _ = await start_server(app, host=settings.listen_host, port=settings.listen_port, ssl_context=context)
    log.info("serving /mutate on %s:%d", settings.listen_host, settings.listen_port)
    try:
        # After we listen: the apiserver may call as soon as it trusts the CA. A configuration
        # not there yet (applied after us, or deleted) is waited for, not a crash: /readyz says so.
        await _trusted(kube, settings, cert.ca_pem, stop)
        if serving is not None and not stop.is_set():
            serving.set()
        while not stop.is_set():
            try:
                await asyncio.wait_for(stop.wait(), RENEW_CHECK_SECONDS)
            except TimeoutError:
                pass
            if stop.is_set():
                break
            fresh = await ensure_serving_cert(kube, namespace=settings.namespace, secret=settings.secret,
                                              hosts=settings.hosts)
            if fresh != cert:
                # Trust both CAs first (a caBundle may hold several), give the apiserver time
                # to see that, then serve the new certificate and drop the old CA: no moment
                # in which the apiserver trusts only the CA we are not serving from.
                await inject_ca_bundle(kube, configuration=settings.configuration, ca_pem=cert.ca_pem + fresh.ca_pem)
                await asyncio.sleep(TRUST_PROPAGATION_SECONDS)
                _load(context, fresh)
                await inject_ca_bundle(kube, configuration=settings.configuration, ca_pem=fresh.ca_pem)
                cert = fresh
    finally:
        await runner.cleanup()
