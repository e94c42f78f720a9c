"""The controller's probes and metrics over plain HTTP, on a port of their own (8080 by default),
apart from the webhook's HTTPS port: the kubelet and Prometheus need no certificate, and a busy
or broken webhook listener does not hide the process's health.

GET /healthz  200 "ok" while the event loop answers and every liveness check holds; 503 otherwise
GET /readyz   200 "ok" when every readiness check holds (the webhook serving, its certificate
              loaded); 503 naming the checks that do not, and why
GET /metrics  the Metrics registry in Prometheus' text format (OpenMetrics when asked for)

A check is a callable returning a bool, alone or named in a mapping (the names appear in the 503
answer); one that raises counts as failing, its error as the reason. No answer ever carries a
traceback.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping

from aiohttp import web

from .metrics import Metrics

log = logging.getLogger("kubectl_oras.health")

Check = Callable[[], bool]
Checks = Check | Mapping[str, Check]
DEFAULT_PORT = 8080


def _named(checks: Checks, default_name: str) -> dict[str, Check]:
    return dict(checks) if isinstance(checks, Mapping) else {default_name: checks}


def failing(checks: Mapping[str, Check]) -> list[str]:
    """"name" for each check that does not hold, "name: error" for one that raised."""
    out = []
    for name, check in checks.items():
        try:
            if not check():
                out.append(name)
        except Exception as e:  # a broken check is a failing check, never a 500
            out.append(f"{name}: {type(e).__name__}: {e}" if str(e) else f"{name}: {type(e).__name__}")
    return out


def _probe(checks: dict[str, Check], what: str) -> Callable[[web.Request], web.Response]:
    def handler(request: web.Request) -> web.Response:
        failed = failing(checks)
        if failed:
            log.debug("%s: %s", what, ", ".join(failed))
            return web.Response(status=503, text=f"not {what}: " + "; ".join(failed) + "\n")
        return web.Response(text="ok\n")
    return handler


def make_health_app(*, metrics: Metrics, live: Checks = lambda: True, ready: Checks) -> web.Application:
    live_checks, ready_checks = _named(live, "live"), _named(ready, "ready")
    healthz, readyz = _probe(live_checks, "live"), _probe(ready_checks, "ready")

    async def get_healthz(request: web.Request) -> web.Response:
        return healthz(request)

    async def get_readyz(request: web.Request) -> web.Response:
        return readyz(request)

    async def get_metrics(request: web.Request) -> web.Response:
        body, content_type = metrics.exposition(request.headers.get("Accept", ""))
        return web.Response(body=body, headers={"Content-Type": content_type})

    app = web.Application()
    app.router.add_get("/healthz", get_healthz)
    app.router.add_get("/readyz", get_readyz)
    app.router.add_get("/metrics", get_metrics)
    return app


async def start_health_server(app: web.Application, host: str = "0.0.0.0", port: int = DEFAULT_PORT) -> web.AppRunner:
    """Serve ``app`` on plain HTTP; stop it with ``runner.cleanup()``. Port 0 picks a free port
    (``bound_port(runner)`` says which)."""
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, host, port)
    try:
        await site.start()
    except BaseException:
        await runner.cleanup()
        raise
    return runner


def bound_port(runner: web.AppRunner) -> int:
    for address in runner.addresses:
        if isinstance(address, tuple):
            return int(address[1])
    raise RuntimeError("the health server is not listening on TCP")
