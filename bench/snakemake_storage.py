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
from pathlib import Path

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


def per_file(host: str, work: Path, size_mib: int, repeat: int) -> None:
    from snakemake_storage_plugin_oras import StorageProvider, StorageProviderSettings

    provider = StorageProvider(local_prefix=work / "local", logger=logging.getLogger("bench"),
                               settings=StorageProviderSettings(registry=host, plain_http=True, username=USER,
                                                                password=PASSWORD))
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

    with kubectl_oras.session(registry=host, plain_http=True, username=USER, password=PASSWORD) as oras:
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
        print(f"{name} of {size_mib} MiB: {ours:.2f} s; the engine's {what} {base:.2f} s; ratio {ours / base:.2f}x")


def many_files(host: str, work: Path, files: int, repeat: int) -> None:
    from snakemake.io import IOCache
    from snakemake_storage_plugin_oras import StorageProvider, StorageProviderSettings
    from snakemake_storage_plugin_oras.mapping import artifact_of

    client = RegistryClient(host, plain_http=True, credentials=Credentials(USER, PASSWORD))
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

    provider = StorageProvider(local_prefix=work / "local", logger=logging.getLogger("bench"),
                               settings=StorageProviderSettings(registry=host, plain_http=True, username=USER,
                                                                password=PASSWORD))
    objects = [provider.object(f"oras://many/files/{name}") for name in names]
    provider.transfers().tags(repository)  # the session's first request (authentication) is not measured
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
          f"ratio {inventory / heads:.2f}x; {files} manifest GETs {gets:.2f} s, ratio {inventory / gets:.2f}x")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mib", type=int, default=256)
    parser.add_argument("--files", type=int, default=1000)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="bench-snakemake-"))
    os.environ["KUBECTL_ORAS_CACHE"] = str(work / "cache")  # not this machine's digest cache
    registry = start_registry("distribution-3", htpasswd=cache_htpasswd(work))
    try:
        per_file(registry.host, work, args.size_mib, args.repeat)
        many_files(registry.host, work, args.files, args.repeat)
    finally:
        registry.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
