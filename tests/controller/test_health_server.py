"""The controller's probes and metrics (controller/runtime/health.py, metrics.py) served for real
on loopback: what the kubelet and Prometheus get."""

from __future__ import annotations

import aiohttp
import pytest
from prometheus_client.parser import text_string_to_metric_families

from controller.runtime.health import bound_port, make_health_app, start_health_server
from controller.runtime.metrics import Metrics


@pytest.fixture
async def served():
    """A health server on a free loopback port with switchable checks."""
    state = {"live": True, "serving": False, "certificate": False, "leader": False}
    metrics = Metrics()

    def broken() -> bool:
        if state.get("broken"):
            raise RuntimeError("the check itself failed")
        return True

    app = make_health_app(metrics=metrics, live=lambda: state["live"],
                          ready={"webhook serving": lambda: state["serving"],
                                 "certificate loaded": lambda: state["certificate"], "probe": broken})
    runner = await start_health_server(app, "127.0.0.1", 0)
    base = f"http://127.0.0.1:{bound_port(runner)}"
    async with aiohttp.ClientSession() as session:
        yield session, base, state, metrics
    await runner.cleanup()


async def get(session: aiohttp.ClientSession, url: str, **kw) -> tuple[int, str, str]:
    async with session.get(url, **kw) as r:
        return r.status, await r.text(), r.headers.get("Content-Type", "")


def families(text: str) -> dict:
    return {f.name: f for f in text_string_to_metric_families(text)}


def sample(fams: dict, family: str, name: str, **labels: str) -> float:
    for s in fams[family].samples:
        if s.name == name and all(s.labels.get(k) == v for k, v in labels.items()):
            return s.value
    raise KeyError(f"{name}{labels}")


async def test_metrics_parse_and_move(served):
    session, base, state, metrics = served
    status, text, content_type = await get(session, f"{base}/metrics")
    assert status == 200 and content_type.startswith("text/plain; version=")
    fams = families(text)
    assert {"kubectl_oras_reconciles", "kubectl_oras_reconcile_seconds", "kubectl_oras_queue_depth",
            "kubectl_oras_webhook_request_seconds", "kubectl_oras_leader", "kubectl_oras_watch_restarts",
            "kubectl_oras_api_errors"} <= set(fams)
    assert fams["kubectl_oras_reconciles"].type == "counter"
    assert fams["kubectl_oras_reconcile_seconds"].type == "histogram"
    assert fams["kubectl_oras_queue_depth"].type == "gauge"
    # known series exist at zero before anything happened
    assert sample(fams, "kubectl_oras_reconciles", "kubectl_oras_reconciles_total", result="error") == 0
    assert sample(fams, "kubectl_oras_webhook_request_seconds", "kubectl_oras_webhook_request_seconds_count",
                  outcome="denied") == 0

    metrics.reconciled("ok", 0.2)
    metrics.reconciled("ok", 3.0)
    metrics.reconciled("error", 0.01)
    metrics.webhook_answered("mutated", 0.004)
    metrics.set_queue_depth(7)
    metrics.watch_restarted("orascaches", "expired")
    metrics.watch_restarted("orascaches", "expired")
    metrics.api_error("patch")
    metrics.track_leader(lambda: state["leader"])

    fams = families((await get(session, f"{base}/metrics"))[1])
    assert sample(fams, "kubectl_oras_reconciles", "kubectl_oras_reconciles_total", result="ok") == 2
    assert sample(fams, "kubectl_oras_reconciles", "kubectl_oras_reconciles_total", result="error") == 1
    assert sample(fams, "kubectl_oras_reconcile_seconds", "kubectl_oras_reconcile_seconds_count") == 3
    assert sample(fams, "kubectl_oras_reconcile_seconds", "kubectl_oras_reconcile_seconds_bucket", le="0.25") == 2
    assert sample(fams, "kubectl_oras_webhook_request_seconds", "kubectl_oras_webhook_request_seconds_count",
                  outcome="mutated") == 1
    assert sample(fams, "kubectl_oras_queue_depth", "kubectl_oras_queue_depth") == 7
    assert sample(fams, "kubectl_oras_watch_restarts", "kubectl_oras_watch_restarts_total",
                  resource="orascaches", reason="expired") == 2
    assert sample(fams, "kubectl_oras_api_errors", "kubectl_oras_api_errors_total", operation="patch") == 1
    assert sample(fams, "kubectl_oras_leader", "kubectl_oras_leader") == 0
    state["leader"] = True
    fams = families((await get(session, f"{base}/metrics"))[1])
    assert sample(fams, "kubectl_oras_leader", "kubectl_oras_leader") == 1


async def test_labels_stay_bounded(served):
    session, base, _, metrics = served
    metrics.watch_restarted("pods/my-pod-7f9c", "connection reset by peer")  # a name, a free text: not labels
    metrics.api_error("get secret lab/registry-auth")
    with pytest.raises(ValueError):
        metrics.reconciled("cache lab/x failed", 1.0)
    with pytest.raises(ValueError):
        metrics.webhook_answered("allowed-ish", 0.1)
    fams = families((await get(session, f"{base}/metrics"))[1])
    assert sample(fams, "kubectl_oras_watch_restarts", "kubectl_oras_watch_restarts_total",
                  resource="other", reason="other") == 1
    assert sample(fams, "kubectl_oras_api_errors", "kubectl_oras_api_errors_total", operation="other") == 1
    values = {v for f in fams.values() for s in f.samples for v in s.labels.values()}
    assert not any("my-pod" in v or "lab/" in v for v in values)


async def test_openmetrics_when_asked(served):
    session, base, _, _ = served
    status, text, content_type = await get(session, f"{base}/metrics",
                                           headers={"Accept": "application/openmetrics-text; version=1.0.0"})
    assert status == 200 and content_type.startswith("application/openmetrics-text")
    assert text.rstrip().endswith("# EOF")


async def test_readyz_names_what_is_missing_then_flips(served):
    session, base, state, _ = served
    status, text, _ = await get(session, f"{base}/readyz")
    assert status == 503 and "webhook serving" in text and "certificate loaded" in text
    state["serving"] = True
    status, text, _ = await get(session, f"{base}/readyz")
    assert status == 503 and "webhook serving" not in text and "certificate loaded" in text
    state["certificate"] = True
    assert (await get(session, f"{base}/readyz"))[:2] == (200, "ok\n")
    state["broken"] = True
    status, text, _ = await get(session, f"{base}/readyz")
    assert status == 503 and "probe: RuntimeError: the check itself failed" in text and "Traceback" not in text


async def test_healthz_follows_liveness(served):
    session, base, state, _ = served
    assert (await get(session, f"{base}/healthz"))[:2] == (200, "ok\n")
    state["live"] = False
    status, text, _ = await get(session, f"{base}/healthz")
    assert status == 503 and text.startswith("not live")


async def test_unknown_paths_and_methods(served):
    session, base, _, _ = served
    assert (await get(session, f"{base}/mutate"))[0] == 404
    assert (await get(session, f"{base}/metrics/extra"))[0] == 404
    async with session.post(f"{base}/metrics", data=b"x") as r:
        assert r.status == 405
    async with session.head(f"{base}/healthz") as r:
        assert r.status == 200


async def test_two_metrics_never_share_a_count():
    a, b = Metrics(), Metrics()
    a.reconciled("ok", 0.1)
    fa, fb = families(a.exposition()[0].decode()), families(b.exposition()[0].decode())
    assert sample(fa, "kubectl_oras_reconciles", "kubectl_oras_reconciles_total", result="ok") == 1
    assert sample(fb, "kubectl_oras_reconciles", "kubectl_oras_reconciles_total", result="ok") == 0


async def test_a_busy_port_fails_the_start_and_leaves_nothing_listening(served):
    _, base, _, metrics = served
    port = int(base.rsplit(":", 1)[1])
    with pytest.raises(OSError):
        await start_health_server(make_health_app(metrics=metrics, ready=lambda: True), "127.0.0.1", port)
