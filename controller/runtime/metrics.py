"""The controller's Prometheus metrics, in a registry of their own (not the library's global one),
so two instances (two tests, two servers in one process) never share a count.

Every label takes values from a small fixed set, or a resource type's plural: never the name of a
cache, a pod or a namespace, which would make one time series per object. A value outside its set
is counted as "other" (or refused, for the two sets the code alone chooses from).
"""

from __future__ import annotations

import re
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
from prometheus_client.exposition import choose_encoder

RESULTS = ("ok", "error")
OUTCOMES = ("allowed", "mutated", "denied", "error")
# Why an informer started its list or watch again (kube/watch.py: restart_reason); expired: 410 Gone.
WATCH_REASONS = ("expired", "continue-expired", "unreachable", "unauthorized", "forbidden", "throttled", "server-error",
                 "bad-answer", "error", "bug")
OPERATIONS = ("get", "list", "watch", "create", "replace", "patch", "delete")
OTHER = "other"
_PLURAL = re.compile(r"[a-z][a-z0-9]{0,62}")  # what a resource's plural looks like

RECONCILE_BUCKETS = (0.01, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0)
WEBHOOK_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)  # the apiserver waits 10 s


class Metrics:
    """The controller's metrics. Record through the methods; ``exposition`` renders them."""

    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry if registry is not None else CollectorRegistry()
        r = self.registry
        self.reconciles = Counter("kubectl_oras_reconciles", "OrasCache reconciles, by result.", ["result"], registry=r)
        self.reconcile_seconds = Histogram("kubectl_oras_reconcile_seconds", "Time one reconcile took.",
                                           buckets=RECONCILE_BUCKETS, registry=r)
        self.queue_depth = Gauge("kubectl_oras_queue_depth", "OrasCaches waiting to be reconciled.", registry=r)
        self.webhook_request_seconds = Histogram(
            "kubectl_oras_webhook_request_seconds", "Time the webhook took to answer an admission review, by outcome.",
            ["outcome"], buckets=WEBHOOK_BUCKETS, registry=r)
        self.leader = Gauge("kubectl_oras_leader", "1 while this replica holds the leader lease.", registry=r)
        self.watch_restarts = Counter("kubectl_oras_watch_restarts", "Watches started again, by resource and reason.",
                                      ["resource", "reason"], registry=r)
        self.api_errors = Counter("kubectl_oras_api_errors", "Kubernetes API calls that failed, by operation.",
                                  ["operation"], registry=r)
        self.api_requests = Counter("kubectl_oras_api_requests", "Kubernetes API calls (but watches), by operation and resource.",
                                    ["operation", "resource"], registry=r)
        self.retention_runs = Counter("kubectl_oras_retention_runs", "Retention runs, by result (ok, failed).",
                                      ["result"], registry=r)
        self.retention_tags_deleted = Counter("kubectl_oras_retention_tags_deleted", "Tags retention deleted.", registry=r)
        self.retention_bytes = Counter("kubectl_oras_retention_bytes_freed",
                                       "Bytes of blobs only deleted tags listed (freed by the registry's garbage collector).",
                                       registry=r)
        self.retention_seconds = Histogram("kubectl_oras_retention_seconds", "Time one retention run took.",
                                           buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 1800), registry=r)
        # Known series start at zero, so a rate() over them exists before the first event.
        for result in ("ok", "failed"):
            self.retention_runs.labels(result=result)
        for result in RESULTS:
            self.reconciles.labels(result=result)
        for outcome in OUTCOMES:
            self.webhook_request_seconds.labels(outcome=outcome)

    # -- recording ----------------------------------------------------------------------------

    def reconciled(self, result: str, seconds: float) -> None:
        if result not in RESULTS:
            raise ValueError(f"reconcile result {result!r} is not one of {RESULTS}")
        self.reconciles.labels(result=result).inc()
        self.reconcile_seconds.observe(seconds)

    def retention_ran(self, result: str, deleted: int, freed: int, seconds: float) -> None:
        self.retention_runs.labels(result=result).inc()
        self.retention_tags_deleted.inc(deleted)
        self.retention_bytes.inc(freed)
        self.retention_seconds.observe(seconds)

    def webhook_answered(self, outcome: str, seconds: float) -> None:
        if outcome not in OUTCOMES:
            raise ValueError(f"webhook outcome {outcome!r} is not one of {OUTCOMES}")
        self.webhook_request_seconds.labels(outcome=outcome).observe(seconds)

    def watch_restarted(self, resource: str, reason: str) -> None:
        """``resource``: the type's plural ("orascaches", "pods")."""
        self.watch_restarts.labels(resource=resource if _PLURAL.fullmatch(resource) else OTHER,
                                   reason=reason if reason in WATCH_REASONS else OTHER).inc()

    def api_request(self, operation: str, resource: str) -> None:
        self.api_requests.labels(operation=operation if operation in OPERATIONS else OTHER,
                                 resource=resource if _PLURAL.fullmatch(resource) else OTHER).inc()

    def api_error(self, operation: str) -> None:
        self.api_errors.labels(operation=operation if operation in OPERATIONS else OTHER).inc()

    def set_queue_depth(self, depth: int) -> None:
        self.queue_depth.set(depth)

    def set_leader(self, leading: bool) -> None:
        self.leader.set(1 if leading else 0)

    def track_leader(self, is_leader: Callable[[], bool]) -> None:
        """Read the gauge from ``is_leader`` (``LeaderElection.is_leader``) at every scrape."""
        self.leader.set_function(lambda: 1.0 if is_leader() else 0.0)

    # -- exposition ---------------------------------------------------------------------------

    def exposition(self, accept: str = "") -> tuple[bytes, str]:
        """(body, content type): Prometheus' text format, or OpenMetrics when ``accept`` asks."""
        encode, content_type = choose_encoder(accept)
        return encode(self.registry), content_type
