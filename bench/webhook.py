"""Webhook benchmark: AdmissionReviews of a typical annotated pod at a fixed rate over HTTPS on
loopback, against our webhook and, in the same run, a baseline webhook on the same server stack
that allows without looking (so the ratio is what our mutation costs).

    python bench/webhook.py [--rate 200] [--seconds 30]

Each server runs in its own process (its peak RSS is read from /proc); the load generator here
sends on a schedule (open loop: a slow answer does not slow the sending) over a few keep-alive
connections, as the apiserver does.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import ssl
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubectl_oras.pods.annotations import PREFIX  # noqa: E402
from tests.support.net import free_port, wait_listening  # noqa: E402

SERVER = """
import asyncio, sys
from aiohttp import web
from controller.runtime.cache_directory import CacheDirectory
from controller.runtime.webhook_server import make_app, server_ssl_context, start_server
mode, port, cert, key = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
if mode == "ours":
    # Every review looks its OrasCache up, as in the controller: in the informer's store (a dict
    # of the objects the watch brought), turned into what the injection needs.
    class Store(dict):
        def get(self, namespace, name):
            return dict.get(self, (namespace, name))
    store = Store({("experiments", "oras"): {"apiVersion": "cache.converged-computing.github.io/v1alpha1",
                                            "kind": "OrasCache", "metadata": {"name": "oras", "namespace": "experiments"},
                                            "spec": {}}})
    app = make_app(agent_image="kubectl-oras:bench", lookup_cache=CacheDirectory(store, None).lookup)
else:
    async def allow(request):
        review = await request.json()
        return web.json_response({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
                                  "response": {"uid": review["request"]["uid"], "allowed": True}})
    app = web.Application()
    app.router.add_post("/mutate", allow)

async def serve():  # the production server (connection cap, request deadlines), for both
    await start_server(app, host="127.0.0.1", port=port, ssl_context=server_ssl_context(cert, key))
    await asyncio.Event().wait()

asyncio.run(serve())
"""


def typical_review(i: int) -> bytes:
    pod = {
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"generateName": "lammps-", "namespace": "experiments",
                     "labels": {"job-name": "lammps", "batch.kubernetes.io/job-name": "lammps"},
                     "annotations": {PREFIX + "input-uri": "experiment/simulate:iter-0",
                                     PREFIX + "output-uri": "experiment/lammps:iter-0",
                                     PREFIX + "output-path": "/opt/lammps/examples/reaxff/HNS/log.lammps",
                                     PREFIX + "output-pipe": "lammps.out"}},
        "spec": {"restartPolicy": "Never", "containers": [{
            "name": "lammps", "image": "ghcr.io/converged-computing/metric-lammps:latest",
            "workingDir": "/opt/lammps/examples/reaxff/HNS",
            "command": ["lmp", "-v", "x", "2", "-v", "y", "2", "-v", "z", "2", "-in", "in.reaxc.hns", "-nocite"],
            "env": [{"name": "OMP_NUM_THREADS", "value": "1"}],
            "resources": {"requests": {"cpu": "1"}},
            "volumeMounts": [{"name": "kube-api-access-x", "mountPath": "/var/run/secrets/kubernetes.io/serviceaccount",
                              "readOnly": True}]}],
            "volumes": [{"name": "kube-api-access-x", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}]},
    }
    return json.dumps({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview", "request": {
        "uid": f"uid-{i}", "kind": {"group": "", "version": "v1", "kind": "Pod"},
        "resource": {"group": "", "version": "v1", "resource": "pods"}, "operation": "CREATE",
        "namespace": "experiments", "userInfo": {"username": "system:serviceaccount:kube-system:job-controller"},
        "object": pod, "dryRun": False}}).encode()


def peak_rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return 0.0


async def load(url: str, ca: bytes, *, rate: float, seconds: float) -> tuple[list[float], int, float]:
    context = ssl.create_default_context(cadata=ca.decode())
    connector = aiohttp.TCPConnector(ssl=context, limit=8)
    latencies: list[float] = []
    errors = 0
    async with aiohttp.ClientSession(connector=connector) as session:
        async def one(i: int) -> None:
            nonlocal errors
            body = typical_review(i)
            start = time.perf_counter()
            try:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as r:
                    payload = await r.json()
                    if r.status != 200 or payload["response"]["uid"] != f"uid-{i}" or not payload["response"]["allowed"]:
                        errors += 1
            except (TimeoutError, aiohttp.ClientError, KeyError, ValueError):
                errors += 1
            latencies.append(time.perf_counter() - start)

        for i in range(20):  # warm the connections
            await one(-i - 1)
        latencies.clear()
        errors = 0
        tasks = []
        began = time.perf_counter()
        total = int(rate * seconds)
        for i in range(total):
            delay = began + i / rate - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(one(i)))
        await asyncio.gather(*tasks)
        elapsed = time.perf_counter() - began
    return latencies, errors, total / elapsed


def run_server(mode: str, cert: Path, key: Path) -> tuple[subprocess.Popen, int]:
    port = free_port()
    proc = subprocess.Popen([sys.executable, "-c", SERVER, mode, str(port), str(cert), str(key)],
                            cwd=Path(__file__).resolve().parents[1])
    wait_listening("127.0.0.1", port, proc=proc)
    return proc, port


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rate", type=float, default=200)
    parser.add_argument("--seconds", type=float, default=30)
    args = parser.parse_args()
    from controller.core.certificates import make_serving_cert

    cert = make_serving_cert(hosts=["127.0.0.1"])
    d = Path(tempfile.mkdtemp())
    (d / "tls.crt").write_bytes(cert.cert_pem)
    (d / "tls.key").write_bytes(cert.key_pem)
    print(f"{args.rate:.0f} AdmissionReviews/s for {args.seconds:.0f} s, typical annotated Job pod "
          f"({len(typical_review(0))} bytes), HTTPS on loopback")
    print(f"  {'server':<26}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}{'req/s':>9}{'errors':>8}{'peak RSS MB':>13}")
    results = {}
    for mode in ("baseline", "ours"):
        proc, port = run_server(mode, d / "tls.crt", d / "tls.key")
        try:
            latencies, errors, achieved = asyncio.run(load(f"https://127.0.0.1:{port}/mutate", cert.ca_pem,
                                                           rate=args.rate, seconds=args.seconds))
            rss = peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait()
        q = statistics.quantiles(latencies, n=100)
        results[mode] = (q[49], q[98])
        label = "allow-only baseline" if mode == "baseline" else "kubectl-oras webhook"
        print(f"  {label:<26}{q[49] * 1000:>9.2f}{q[98] * 1000:>9.2f}{max(latencies) * 1000:>9.2f}"
              f"{achieved:>9.1f}{errors:>8}{rss:>13.0f}")
    print(f"  ratio ours/baseline: p50 {results['ours'][0] / results['baseline'][0]:.2f}, "
          f"p99 {results['ours'][1] / results['baseline'][1]:.2f}")
    print(f"  target p99 <= 5 ms: {'ok' if results['ours'][1] <= 0.005 else 'MISSED'}")


if __name__ == "__main__":
    main()
