"""Retention benchmark: 10,000 tags in 50 repositories on a local distribution v3 registry.

    python bench/retention.py [--repositories 50] [--tags 200] [--concurrency 8] [--kind distribution-3]

Measured in the same run, on the same registry:
- baseline: the least any retention tool must do to learn each tag's digest: list every
  repository's tags and HEAD each tag, with the same concurrency;
- scan: what retention does (list, then one GET of each tag's manifest: digest, created time and
  blob sizes in one request);
- choice: the pure function over the scanned tags;
- delete: the real deletion of everything past keepLast (half the tags): each manifest whose
  every tag goes is deleted by digest, after every tag of its repository is resolved again.
Prints wall times, the ratio of scan to baseline, and registry requests per tag.
"""

from __future__ import annotations

import argparse
import datetime as dt
import hashlib
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from kubectl_oras.oci.client import RegistryClient  # noqa: E402
from kubectl_oras.oci.manifest import EMPTY_CONFIG, EMPTY_CONFIG_BLOB, build_manifest, encode_manifest, file_layer  # noqa: E402
from kubectl_oras.retention.choice import Policy, choose  # noqa: E402
from kubectl_oras.retention.registry import delete_chosen, delete_mode, scan  # noqa: E402
from tests.support.registries import start_registry  # noqa: E402


class Counted:
    """Counts the HTTP requests a client's session sends."""

    def __init__(self, client: RegistryClient) -> None:
        self.count = 0
        self._lock = threading.Lock()
        session = client.transport.session
        original = session.request

        def request(*args, **kwargs):  # type: ignore[no-untyped-def]
            with self._lock:
                self.count += 1
            return original(*args, **kwargs)

        session.request = request  # type: ignore[method-assign]

    def take(self) -> int:
        n, self.count = self.count, 0
        return n


def populate(client: RegistryClient, repositories: int, tags: int, concurrency: int) -> None:
    base = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)

    def one_repository(r: int) -> None:
        repo = f"bench/exp{r:02d}"
        data = f"results of experiment {r}\n".encode() * 100
        digest = "sha256:" + hashlib.sha256(data).hexdigest()
        client.upload_blob_bytes(repo, EMPTY_CONFIG, EMPTY_CONFIG_BLOB.digest)
        client.upload_blob_bytes(repo, data, digest)
        layer = file_layer(title="metrics.json", digest=digest, size=len(data))
        for i in range(tags):
            manifest = build_manifest(layers=[layer], created=base + dt.timedelta(minutes=i),
                                      annotations={"iteration": str(i)})
            client.put_manifest(repo, f"iter-{i}", encode_manifest(manifest))

    with ThreadPoolExecutor(concurrency) as pool:
        list(pool.map(one_repository, range(repositories)))


def baseline(client: RegistryClient, concurrency: int) -> int:
    repos = client.list_repositories()
    with ThreadPoolExecutor(concurrency) as pool:
        listed = list(pool.map(client.list_tags, repos))
        pairs = [(repo, tag) for repo, tags in zip(repos, listed, strict=True) for tag in tags]
        digests = list(pool.map(lambda p: client.resolve(p[0], p[1], what="head"), pairs))
    return sum(1 for d in digests if d)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repositories", type=int, default=50)
    parser.add_argument("--tags", type=int, default=200)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--kind", default="distribution-3")
    args = parser.parse_args()
    registry = start_registry(args.kind)
    try:
        client = RegistryClient(registry.host, plain_http=True, pool_size=args.concurrency)
        counter = Counted(client)
        t0 = time.perf_counter()
        populate(client, args.repositories, args.tags, args.concurrency)
        total = args.repositories * args.tags
        print(f"registry {args.kind}: {total} tags in {args.repositories} repositories "
              f"(pushed in {time.perf_counter() - t0:.1f} s)")
        counter.take()

        t0 = time.perf_counter()
        seen = baseline(client, args.concurrency)
        base_s, base_requests = time.perf_counter() - t0, counter.take()
        assert seen == total, seen

        t0 = time.perf_counter()
        found = scan(client, concurrency=args.concurrency)
        scan_s, scan_requests = time.perf_counter() - t0, counter.take()
        assert len(found.tags) == total and not found.problems, found.problems

        t0 = time.perf_counter()
        verdicts = choose(found.tags, Policy(keep_last=args.tags // 2, keep=("final-*",)), dt.datetime.now(dt.UTC))
        choice_s = time.perf_counter() - t0
        chosen = sum(1 for v in verdicts if v.delete)

        t0 = time.perf_counter()
        mode = delete_mode(client, "bench/exp00")
        outcomes = delete_chosen(client, verdicts, mode=mode, concurrency=args.concurrency)
        delete_s, delete_requests = time.perf_counter() - t0, counter.take()
        deleted = sum(1 for o in outcomes if o.result == "deleted")
        assert deleted == chosen, (deleted, chosen)

        print(f"baseline (list + HEAD per tag): {base_s:6.2f} s  {base_requests} requests "
              f"({base_requests / total:.3f} per tag)")
        print(f"retention scan (list + GET per tag): {scan_s:6.2f} s  {scan_requests} requests "
              f"({scan_requests / total:.3f} per tag)")
        print(f"choice over {total} tags: {choice_s * 1000:6.1f} ms")
        print(f"delete {deleted} tags ({mode} registry: whole manifests by digest after resolving every tag again): "
              f"{delete_s:6.2f} s  {delete_requests} requests")
        print(f"ratio scan/baseline: {scan_s / base_s:.2f}   requests ratio: {scan_requests / base_requests:.2f}")
    finally:
        registry.stop()


if __name__ == "__main__":
    main()
