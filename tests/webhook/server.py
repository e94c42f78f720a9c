"""Run our webhook server (controller.runtime.webhook_server) in a background thread with its own event loop."""

from __future__ import annotations

import asyncio
import base64
import tempfile
import threading
from pathlib import Path

from aiohttp import web

from controller.core.certificates import make_serving_cert
from controller.runtime.webhook_server import CacheLookup, Observer, make_app, server_ssl_context, start_server
from kubectl_oras.kube.config import connect
from kubectl_oras.kube.owners import read_owner_annotations
from tests.support.net import free_port


class WebhookThread:
    def __init__(self, *, agent_image: str, kubeconfig: Path | None = None, lookup_cache: CacheLookup | None = None,
                 observe: Observer | None = None, **limits: float) -> None:
        """``limits``: request_timeout (make_app), max_connections and handshake_timeout (start_server);
        ``lookup_cache`` and ``observe`` go to make_app (by default every cache exists)."""
        self.cert = make_serving_cert(hosts=["127.0.0.1"])
        self.port = free_port()
        self.url = f"https://127.0.0.1:{self.port}/mutate"
        self.ca_bundle = base64.b64encode(self.cert.ca_pem).decode()
        self.agent_image = agent_image
        self.kubeconfig = kubeconfig
        self.loop = asyncio.new_event_loop()
        self.runner: web.AppRunner | None = None
        self.api = None
        self.limits = limits
        self.app_options = {k: v for k, v in (("lookup_cache", lookup_cache), ("observe", observe)) if v is not None}

    async def _start(self) -> None:
        lookup = None
        if self.kubeconfig:
            self.api = await connect(kubeconfig=str(self.kubeconfig))
            lookup = lambda ns, owner: read_owner_annotations(self.api, ns, owner)  # noqa: E731
        app_limits = {k: v for k, v in self.limits.items() if k == "request_timeout"}
        site_limits = {k: v for k, v in self.limits.items() if k != "request_timeout"}
        app = make_app(agent_image=self.agent_image, **({"lookup_owner": lookup} if lookup else {}), **app_limits,
                       **self.app_options)
        d = Path(tempfile.mkdtemp())
        (d / "tls.crt").write_bytes(self.cert.cert_pem)
        (d / "tls.key").write_bytes(self.cert.key_pem)
        self.runner, _ = await start_server(app, host="127.0.0.1", port=self.port,
                                            ssl_context=server_ssl_context(str(d / "tls.crt"), str(d / "tls.key")),
                                            **site_limits)

    def start(self) -> WebhookThread:
        ready = threading.Event()
        failure: list[BaseException] = []

        def serve() -> None:
            asyncio.set_event_loop(self.loop)
            try:
                self.loop.run_until_complete(self._start())
            except BaseException as e:
                failure.append(e)
                ready.set()
                return
            ready.set()
            self.loop.run_forever()

        threading.Thread(target=serve, daemon=True).start()
        assert ready.wait(20)
        if failure:
            raise failure[0]
        return self

    def stop(self) -> None:
        async def shutdown() -> None:
            if self.runner:
                await self.runner.cleanup()
            if self.api:
                await self.api.close()

        asyncio.run_coroutine_threadsafe(shutdown(), self.loop).result(10)
        self.loop.call_soon_threadsafe(self.loop.stop)
