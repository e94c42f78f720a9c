"""The Snakemake plugin's per-file cost against the engine's own, in one run, against one registry
process on loopback with auth on as an OrasCache's registry has it (its htpasswd made by the
controller's own code, controller/core/cache_auth.py: bcrypt cost 4; `htpasswd -B` would make 5,
which doubles what the registry spends checking each request); no cluster, no tunnel in between.

- store_object / retrieve_object of one file vs the Python API's push / pull of the same file
  (the plugin adds its mapping, a rename and a timestamp: the ratio should stay near 1). Each run
  pushes a file the engine has never pushed, for both: a file pushed before is known to the
  engine's digest cache and sent without hashing it again (oci/digest_cache.py), which a job's new
  output never is; the digest cache lives in the bench's own directory;
- exists + mtime of every file of one directory through one inventory (one tag listing and the
  manifests read eight at a time) vs one HEAD per file (exists alone) and one manifest GET per
  file (what exists + mtime cost without an inventory).

    python bench/snakemake_storage.py [--size-mib 256] [--files 1000] [--repeat 5]

With --through-cache, the same against an OrasCache's registry on a local cluster started for it,
through the port-forward the plugin opens in a user's Snakemake process (one for the whole run),
each side's requests through it alike (root; one cluster at a time on a machine):

    flock /tmp/kubectl-oras-tier3.lock flock /tmp/kubectl-oras-node.lock \\
        python bench/snakemake_storage.py --through-cache [--size-mib 64] [--files 1000]

Each figure is the shortest of --repeat tries (the machine may be busy with something else).

The plugin is imported from integrations/snakemake/ of this checkout.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import shutil
import sys
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "integrations" / "snakemake")]

import kubectl_oras  # noqa: E402
from kubectl_oras.oci.client import Credentials, RegistryClient  # noqa: E402
from kubectl_oras.oci.manifest import (  # noqa: E402
    ANNOTATION_CREATED,
    EMPTY_CONFIG,
    EMPTY_CONFIG_BLOB,
    build_manifest,
    encode_manifest,
    file_layer,
)
from kubectl_oras.orascache import PASSWORD_KEY, USER_KEY  # noqa: E402
from kubectl_oras.times import format_rfc3339  # noqa: E402
from tests.support.registries import start_registry  # noqa: E402

USER, PASSWORD = "bench", "bench-Pa55"


def cache_htpasswd(work: Path) -> Path:
    """The registry's htpasswd file as the controller writes an OrasCache's."""
    from controller.core.cache_auth import HTPASSWD_KEY, htpasswd_data

    path = work / "htpasswd"
    path.write_text(htpasswd_data({USER_KEY: USER, PASSWORD_KEY: PASSWORD})[HTPASSWD_KEY])
    return path


def timed(work) -> float:
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


@dataclass(frozen=True)
class Where:
    """The registry both sides reach: ``settings`` the plugin's, ``session`` the Python API's."""

    settings: dict[str, Any]
    session: dict[str, Any]

    @classmethod
    def registry(cls, host: str) -> Where:
        reach = {"registry": host, "plain_http": True, "username": USER, "password": PASSWORD}
        return cls(reach, reach)

    @classmethod
    def cache(cls, namespace: str, name: str) -> Where:
        return cls({"cache": name, "namespace": namespace}, {"cache": name, "namespace": namespace})

    def provider(self, work: Path) -> Any:
        from snakemake_storage_plugin_oras import StorageProvider, StorageProviderSettings

        return StorageProvider(local_prefix=work / "local", logger=logging.getLogger("bench"),
                               settings=StorageProviderSettings(**self.settings))


def per_file(where: Where, work: Path, size_mib: int, repeat: int) -> None:
    provider = where.provider(work)
    source = work / "big.bin"
    with open(source, "wb") as f:
        for _ in range(size_mib):
            f.write(os.urandom(1 << 20))
    engine: dict[str, list[float]] = {"push": [], "pull": []}
    plugin: dict[str, list[float]] = {"push": [], "pull": []}

    def by_engine(oras, run: int) -> None:
        # A repository of its own each time: no blob is already there to skip. A copy of its own
        # too, as the plugin's: its digest is known to no cache.
        ref = f"engine/r{run}:big.bin"
        fresh = work / f"engine-{run}" / "big.bin"
        fresh.parent.mkdir()
        shutil.copyfile(source, fresh)
        os.sync()  # what the copy wrote is on disk before the clock starts, for both sides alike
        engine["push"].append(timed(lambda: oras.push(ref, [str(fresh)])))
        fresh.unlink()
        out = work / f"pulled-{run}"
        os.sync()
        engine["pull"].append(timed(lambda: oras.pull(ref, str(out))))
        shutil.rmtree(out)

    def by_plugin(run: int) -> None:
        obj = provider.object(f"oras://plugin/r{run}/big.bin")
        obj.local_path().parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, obj.local_path())
        os.sync()
        plugin["push"].append(timed(obj.store_object))
        obj.local_path().unlink()
        os.sync()
        plugin["pull"].append(timed(obj.retrieve_object))
        obj.local_path().unlink()

    with kubectl_oras.session(**where.session) as oras:
        for run in range(repeat):
            # Each goes first every other run: whatever the machine does meanwhile falls on both.
            if run % 2 == 0:
                by_engine(oras, run)
                by_plugin(run)
            else:
                by_plugin(run)
                by_engine(oras, run)
    for what in ("push", "pull"):
        ours, base = min(plugin[what]), min(engine[what])
        name = "store_object" if what == "push" else "retrieve_object"
        print(f"{name} of {size_mib} MiB: {ours:.2f} s; the engine's {what} {base:.2f} s; ratio {ours / base:.2f}x",
              flush=True)
    provider.transfers().close()


def many_files(where: Where, client: RegistryClient, work: Path, files: int, repeat: int) -> None:
    """``client`` writes the files' manifests (not measured) and reads them one by one; through a
    cache, it is given the tunnel the plugin opened, so both sides' requests take the same way."""
    from snakemake.io import IOCache
    from snakemake_storage_plugin_oras.mapping import artifact_of

    repository = artifact_of("oras://many/files/x").repository
    data = b"one small file\n"
    from kubectl_oras.oci.digests import sha256_digest

    digest = sha256_digest(data)
    client.upload_blob_bytes(repository, data, digest)
    client.upload_blob_bytes(repository, EMPTY_CONFIG, EMPTY_CONFIG_BLOB.digest)
    names = [f"Sample {i:04d}.txt" for i in range(files)]
    for name in names:  # what store_object writes, put directly: the setup is not what is measured
        tag = artifact_of(f"oras://many/files/{name}").tag
        created = format_rfc3339(dt.datetime.now(dt.UTC), microseconds=True)
        manifest = build_manifest(layers=[file_layer(title=name, digest=digest, size=len(data))],
                                  annotations={ANNOTATION_CREATED: created})
        client.put_manifest(repository, tag, encode_manifest(manifest))

    provider = where.provider(work)
    objects = [provider.object(f"oras://many/files/{name}") for name in names]
    provider.transfers().tags(repository)  # the session's first request (authentication) is not measured
    client = through_the_same_way(provider, client)
    one_by_one = min(timed(lambda: [(o.exists(), o.mtime(), o.size()) for o in objects[:100]]) for _ in range(repeat))
    inventories = []
    for _ in range(repeat):  # each a new run's: Snakemake's cache of answers starts empty
        cache = IOCache(max_wait_time=60)
        inventories.append(timed(lambda cache=cache: asyncio.run(objects[0].inventory(cache))))
        assert all(cache.exists_in_storage[o.cache_key()] and cache.mtime[o.cache_key()].storage() for o in objects)
    what = "bench HEAD"
    tags = [artifact_of(o.query).tag for o in objects]
    inventory = min(inventories)
    heads = min(timed(lambda: [client.resolve(repository, tag, what=what) for tag in tags]) for _ in range(repeat))
    gets = min(timed(lambda: [client.fetch_manifest(repository, tag, what=what) for tag in tags])
               for _ in range(repeat))
    print(f"exists+mtime of {files} files: one inventory {inventory:.2f} s (one listing page of up to 1000 tags, "
          f"then the manifests eight at a time); {files} HEADs {heads:.2f} s (exists only), "
          f"ratio {inventory / heads:.2f}x; {files} manifest GETs {gets:.2f} s, ratio {inventory / gets:.2f}x",
          flush=True)
    print(f"exists, mtime and size of one file asked one by one (Snakemake without an inventory): "
          f"{one_by_one * 10:.2f} ms a file (100 files)", flush=True)
    provider.transfers().close()


def through_the_same_way(provider: Any, client: RegistryClient) -> RegistryClient:
    """A client for the bench's own reads that takes the plugin's way to the registry: through a
    cache, its port-forward (the session's, already open); otherwise ``client`` itself."""
    session = provider.transfers()._session
    if session.options.registry:
        return client
    cache = session._open_cache()
    return RegistryClient(cache.address, plain_http=True, name=cache.name,
                          credentials=Credentials(cache.endpoint.username, cache.endpoint.password))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--through-cache", action="store_true",
                        help="an OrasCache on a local cluster, through the port-forward (root)")
    args = parser.parse_args()
    if args.through_cache:
        from bench.portforward import on_the_test_node

        on_the_test_node("bench-snakemake-", lambda cp, work: through_a_cache(cp, work, args))
        return
    work = Path(tempfile.mkdtemp(prefix="bench-snakemake-"))
    os.environ["KUBECTL_ORAS_CACHE"] = str(work / "cache")  # not this machine's digest cache
    registry = start_registry("distribution-3", htpasswd=cache_htpasswd(work))
    try:
        where = Where.registry(registry.host)
        per_file(where, work, args.size_mib, args.repeat)
        many_files(where, RegistryClient(registry.host, plain_http=True, credentials=Credentials(USER, PASSWORD)),
                   work, args.files, args.repeat)
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


def through_a_cache(cp: Any, work: Path, args: argparse.Namespace) -> None:
    from tests.cluster.apply import new_namespace
    from tests.e2e.test_workflow_on_a_node import orascache

    os.environ["KUBECTL_ORAS_CACHE"] = str(work / "cache")
    os.environ["KUBECONFIG"] = str(cp.kubeconfig)
    ns = new_namespace(cp, "bench")
    _host, direct = orascache(cp, ns, "oras")
    print(f"the cache {ns}/oras is Ready; every request below goes through a port-forward to it", flush=True)
    where = Where.cache(ns, "oras")
    per_file(where, work, args.size_mib, args.repeat)
    many_files(where, direct, work, args.files, args.repeat)


if __name__ == "__main__":
    main()
