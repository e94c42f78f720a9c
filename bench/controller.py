"""Controller benchmark: OrasCaches created at once on a real control plane (etcd + kube-apiserver
+ controller manager, no node), against the controller process running as its ServiceAccount.

    python bench/controller.py [--caches 200] [--steady 60]

Baseline in the same run: one cache alone, on the same controller. Reported: the time until every
cache's status says its objects exist (Ready False, RegistryNotReady: no node runs the pods), per
cache against the baseline; the controller's peak RSS; the API requests it made per cache (from
its own /metrics), and in the steady state afterwards, per cache per minute beyond its watches and
its Lease renewals (target: zero).
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from prometheus_client.parser import text_string_to_metric_families  # noqa: E402

from controller.core.webhook_configuration import webhook_configuration  # noqa: E402
from localcluster.controlplane import ControlPlane  # noqa: E402
from tests.cluster.apply import apply, new_namespace, wait_for  # noqa: E402
from tests.support.net import free_port  # noqa: E402
from tests.webhook.process import NS, install_controller, start_replica, stop_replica  # noqa: E402

GROUP = "apis/cache.converged-computing.github.io/v1alpha1"


def orascache(ns: str, name: str) -> dict:
    return {"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache",
            "metadata": {"name": name, "namespace": ns}, "spec": {}}


def settled(cache: dict) -> bool:
    status = cache.get("status") or {}
    ready = next((c for c in status.get("conditions") or [] if c["type"] == "Ready"), {})
    return status.get("observedGeneration") == cache["metadata"]["generation"] and ready.get("reason") == "RegistryNotReady"


def requests_by_kind(metrics_text: str) -> collections.Counter:
    counts: collections.Counter = collections.Counter()
    for family in text_string_to_metric_families(metrics_text):
        for sample in family.samples:
            if sample.name == "kubectl_oras_api_requests_total":
                counts[(sample.labels["operation"], sample.labels["resource"])] += sample.value
    return counts


def peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def time_to_settle(cp, ns: str, names: list[str], *, timeout: float = 600) -> float:
    session = cp.session()
    started = time.monotonic()
    with ThreadPoolExecutor(16) as pool:
        list(pool.map(lambda n: apply(cp, orascache(ns, n)), names))
    waiting = set(names)
    while waiting:
        if time.monotonic() - started > timeout:
            raise SystemExit(f"{len(waiting)} caches not settled after {timeout:.0f} s")
        items = session.get(f"{cp.server}/{GROUP}/namespaces/{ns}/orascaches").json()["items"]
        waiting -= {c["metadata"]["name"] for c in items if settled(c)}
        time.sleep(0.2)
    return time.monotonic() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--caches", type=int, default=200)
    parser.add_argument("--steady", type=float, default=60.0, help="seconds of steady state to count requests over")
    args = parser.parse_args()
    cp = ControlPlane.start()
    replica = None
    try:
        kubeconfig = install_controller(cp)
        log = Path(tempfile.mkdtemp(prefix="bench-controller-")) / "controller.log"
        port = free_port()  # the configuration the webhook keeps its CA in, as an install has it
        apply(cp, webhook_configuration(name="kubectl-oras", own_namespace=NS, ca_bundle="",
                                        url=f"https://127.0.0.1:{port}/mutate"))
        replica = start_replica(kubeconfig, log, agent_image="kubectl-oras:bench", identity="bench", webhook_port=port)
        wait_for(cp, f"/apis/coordination.k8s.io/v1/namespaces/{NS}/leases/kubectl-oras-controller",
                 lambda lease: lease["spec"].get("holderIdentity") == "bench", timeout=60)
        one = time_to_settle(cp, new_namespace(cp, "one"), ["solo"])
        before = requests_by_kind(replica.metrics())
        ns = new_namespace(cp, "many")
        many = time_to_settle(cp, ns, [f"cache-{i:03d}" for i in range(args.caches)])
        time.sleep(2)  # the last status writes' own watch events come back
        after = requests_by_kind(replica.metrics())
        made = after - before
        time.sleep(args.steady)
        steady = requests_by_kind(replica.metrics()) - after
        rss = peak_rss_mb(replica.proc.pid)
    finally:
        if replica is not None:
            stop_replica(replica)
        cp.stop()
    n = args.caches
    print(f"{n} OrasCaches created at once (16 clients), one controller replica, real apiserver, no node")
    print(f"  one cache alone (baseline): {one:.2f} s until its status says its objects exist")
    print(f"  {n} caches: {many:.1f} s until every status does: {many / n * 1000:.0f} ms per cache, "
          f"{many / n / one:.2f}x the baseline's time per cache")
    print(f"  controller peak RSS: {rss:.0f} MB")
    print(f"  API requests while creating: {sum(made.values()) / n:.1f} per cache")
    for (op, resource), count in sorted(made.items(), key=lambda kv: -kv[1]):
        print(f"    {op:<8}{resource:<28}{count / n:>6.2f} per cache")
    per_cache = {k: v for k, v in steady.items() if k[1] != "leases"}
    leases = sum(v for k, v in steady.items() if k[1] == "leases")
    minutes = args.steady / 60
    print(f"  steady state over {args.steady:.0f} s: {sum(per_cache.values()) / n / minutes:.3f} requests per cache "
          f"per minute beyond the watches (target 0); Lease renewals {leases / minutes:.0f} per minute in all")
    for (op, resource), count in sorted(per_cache.items(), key=lambda kv: -kv[1]):
        if count:
            print(f"    {op:<8}{resource:<28}{count:>6.0f} in all")


if __name__ == "__main__":
    main()
