"""A Snakemake storage plugin for OrasCache: every input and output of a workflow is an artifact
in a cache (or any registry), moved with kubectl-oras' own transfers (its Python API, one
port-forward for the whole run). docs/snakemake.md says how to use it; ``mapping.py`` says which
artifact each file is.
"""

# No ``from __future__ import annotations`` here: Snakemake reads the settings' field types at run
# time (a bool is a flag), and takes Optional[X], never X | None.
import asyncio
import atexit
import datetime as _dt
import os
import shutil
import sys
import tempfile
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Optional

from snakemake_interface_common.exceptions import WorkflowError
from snakemake_interface_storage_plugins.common import Operation
from snakemake_interface_storage_plugins.io import IOCacheStorageInterface, Mtime, get_constant_prefix
from snakemake_interface_storage_plugins.settings import StorageProviderSettingsBase
from snakemake_interface_storage_plugins.storage_object import (
    StorageObjectGlob,
    StorageObjectRead,
    StorageObjectWrite,
)
from snakemake_interface_storage_plugins.storage_provider import (
    ExampleQuery,
    QueryType,
    StorageProviderBase,
    StorageQueryValidationResult,
)

import kubectl_oras
from kubectl_oras.oci.describe import Artifact as Described
from kubectl_oras.oci.errors import NotFound
from kubectl_oras.oci.manifest import ANNOTATION_CREATED, DIRECTORY_MEDIA_TYPE
from kubectl_oras.times import format_rfc3339

from .mapping import SCHEME, Artifact, UnmappablePath, artifact_of, directory_component, path_of, query_of
from .password_flag import password_flag, refusal
from .reach import registry_in_pod


@dataclass
class StorageProviderSettings(StorageProviderSettingsBase):
    cache: str = field(default="oras", metadata={
        "help": "The OrasCache that holds the workflow's files (reached through one port-forward).",
    })
    namespace: Optional[str] = field(default=None, metadata={  # noqa: UP045
        "help": "The cache's namespace (default: the kubeconfig context's).",
    })
    registry: Optional[str] = field(default=None, metadata={  # noqa: UP045
        "help": "A registry HOST:PORT to use instead of a cache.",
    })
    plain_http: bool = field(default=False, metadata={
        "help": "Talk HTTP, not HTTPS, to --storage-oras-registry.",
    })
    username: Optional[str] = field(default=None, metadata={  # noqa: UP045
        "help": "The registry's user (else ORAS_USER). Only through its environment variable.",
        "env_var": True,
    })
    password: Optional[str] = field(default=None, metadata={  # noqa: UP045
        "help": "The registry's password (else ORAS_PASS). Only through its environment variable.",
        "env_var": True,
    })

    def __post_init__(self) -> None:
        # Snakemake builds these settings from its command line, which must not hold a password.
        given = password_flag(sys.argv[1:])
        if given is not None:
            raise WorkflowError(refusal(given))


class StorageProvider(StorageProviderBase):
    def __post_init__(self) -> None:
        self._lock = threading.Lock()
        self._transfers: Any = None
        if self.settings is None:
            self.settings = StorageProviderSettings()

        # In a pod of the cluster, the cache is reached at its Service (reach.py).
        self._in_pod = None if self.settings.registry else registry_in_pod(
            cache=self.settings.cache, namespace=self.settings.namespace, environ=os.environ)

    @property
    def where(self) -> str:
        """The cache or registry, as messages name it."""
        settings = self.settings
        if settings.registry:
            return f"registry {settings.registry}"
        if self._in_pod:
            return f"cache {settings.cache} at {self._in_pod}"
        return f"cache {settings.namespace + '/' if settings.namespace else ''}{settings.cache}"

    def transfers(self) -> Any:
        """One kubectl-oras session for the whole run: a cache's port-forward opens once."""
        with self._lock:
            if self._transfers is None:
                s = self.settings
                registry = s.registry or self._in_pod
                self._transfers = kubectl_oras.session(
                    cache=s.cache, namespace=s.namespace, registry=registry,
                    plain_http=s.plain_http or self._in_pod is not None, username=s.username, password=s.password)
                atexit.register(self._transfers.close)
            return self._transfers

    @classmethod
    def example_queries(cls) -> list[ExampleQuery]:
        return [
            ExampleQuery(query="oras://my-workflow/results/Sample A.txt",
                         description="the file results/Sample A.txt of the workflow my-workflow, stored as "
                                     "my-workflow/results:Sample_20A.txt in the cache",
                         type=QueryType.ANY),
        ]

    def rate_limiter_key(self, query: str, operation: Operation) -> Any:
        return self.where

    def default_max_requests_per_second(self) -> float:
        return 100.0

    def use_rate_limiter(self) -> bool:
        return self.settings.max_requests_per_second is not None

    @classmethod
    def is_valid_query(cls, query: str) -> StorageQueryValidationResult:
        try:
            artifact_of(query)
        except UnmappablePath as e:
            return StorageQueryValidationResult(query=query, valid=False, reason=str(e))
        return StorageQueryValidationResult(query=query, valid=True)


def _seconds(described: Described) -> float:
    return described.created.timestamp() if described.created else 0.0


def _is_directory(described: Described) -> bool:
    return len(described.layers) == 1 and described.layers[0].media_type == DIRECTORY_MEDIA_TYPE


class StorageObject(StorageObjectRead, StorageObjectWrite, StorageObjectGlob):
    provider: StorageProvider

    @property
    def artifact(self) -> Artifact:
        try:
            return artifact_of(self.query)
        except UnmappablePath as e:
            raise WorkflowError(str(e)) from None

    def _failed(self, doing: str, error: Exception) -> WorkflowError:
        return WorkflowError(f"{doing} {self.query} ({self.artifact.reference} in {self.provider.where}): {error}")

    def _describe(self) -> Described | None:
        try:
            return self.provider.transfers().artifact(self.artifact.reference)
        except NotFound:
            return None
        except kubectl_oras.OrasError as e:
            raise self._failed("cannot read", e) from None

    def _described(self) -> Described:
        described = self._describe()
        if described is None:
            raise WorkflowError(f"{self.query} is not in {self.provider.where} (no tag {self.artifact.reference})")
        return described

    # -- read ---------------------------------------------------------------------------------

    def local_suffix(self) -> str:
        return path_of(self.query)

    def get_inventory_parent(self) -> str | None:
        return self.cache_key(os.path.dirname(self.local_suffix()))

    async def inventory(self, cache: IOCacheStorageInterface) -> None:
        """One tag listing of the file's directory (and its manifests, read side by side) says
        whether each file in it exists, when it was made, its size and checksum."""
        parent = self.get_inventory_parent()
        listed = getattr(cache.exists_in_storage, "has_inventory", None)
        if parent in cache.exists_in_storage or (listed is not None and parent in listed):
            return
        repository = self.artifact.repository
        try:
            # In a thread: Snakemake runs the inventories of many directories at once.
            found = await asyncio.to_thread(self.provider.transfers().artifacts, repository)
        except kubectl_oras.OrasError as e:
            raise self._failed("cannot list", e) from None
        for described in found:
            try:
                key = self.cache_key(path_of(query_of(Artifact(repository, described.tag))))
            except UnmappablePath:
                continue  # a tag this plugin did not write
            cache.exists_in_storage[key] = True
            cache.mtime[key] = Mtime(storage=_seconds(described))
            cache.size[key] = 0 if _is_directory(described) else sum(layer.size for layer in described.layers)
            cache.checksum[key] = described.layers[0].digest if len(described.layers) == 1 else None
        cache.exists_in_storage[parent] = True
        if listed is not None:
            listed.add(parent)

    def cleanup(self) -> None:
        pass  # nothing is kept beside the local copy, which Snakemake removes itself

    def exists(self) -> bool:
        return self._describe() is not None

    def mtime(self) -> float:
        return _seconds(self._described())

    def size(self) -> int:
        described = self._described()
        return 0 if _is_directory(described) else sum(layer.size for layer in described.layers)

    def local_footprint(self) -> int:
        return sum(layer.size for layer in self._described().layers)

    def checksum(self) -> str | None:
        layers = self._described().layers
        return layers[0].digest if len(layers) == 1 else None

    def retrieve_object(self) -> None:
        """The artifact pulled beside the local path, then renamed onto it: a failed pull leaves
        nothing there."""
        local = self.local_path()
        local.parent.mkdir(parents=True, exist_ok=True)
        staging = tempfile.mkdtemp(prefix=".oras-pull-", dir=local.parent)
        try:
            try:
                pulled = self.provider.transfers().pull(self.artifact.reference, staging)
            except kubectl_oras.OrasError as e:
                raise self._failed("cannot retrieve", e) from None
            if len(pulled.files) != 1:
                raise WorkflowError(f"{self.query} ({self.artifact.reference} in {self.provider.where}) holds "
                                    f"{len(pulled.files)} files or directories, not one")
            if local.is_dir() and not local.is_symlink():
                shutil.rmtree(local)
            elif local.exists() or local.is_symlink():
                local.unlink()
            os.replace(pulled.files[0].path, local)
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    # -- write --------------------------------------------------------------------------------

    def store_object(self) -> None:
        """The local file or directory pushed as one artifact, stamped with the time to the
        microsecond (Snakemake compares the times of inputs and outputs)."""
        now = format_rfc3339(_dt.datetime.now(_dt.UTC), microseconds=True)
        try:
            # An absolute path: the layer's title is the file's own name (a relative one would keep
            # Snakemake's .snakemake/storage/... in it), which `kubectl oras pull` writes.
            self.provider.transfers().push(self.artifact.reference, [os.path.abspath(self.local_path())],
                                           annotations={ANNOTATION_CREATED: now})
        except kubectl_oras.OrasError as e:
            raise self._failed("cannot store", e) from None

    def remove(self) -> None:
        try:
            self.provider.transfers().delete(self.artifact.reference)
        except NotFound:
            pass
        except kubectl_oras.OrasError as e:
            raise self._failed("cannot remove", e) from None

    # -- glob ---------------------------------------------------------------------------------

    def list_candidate_matches(self) -> Iterable[str]:
        """The files of the directory before the query's first wildcard (one tag listing); files
        in deeper directories are not listed."""
        prefix = get_constant_prefix(self.query, strip_incomplete_parts=True)
        directories = prefix[len(SCHEME):].strip("/")
        if not prefix.startswith(SCHEME) or not directories:
            raise WorkflowError(f"{self.query}: glob_wildcards needs a constant directory before the first wildcard")
        repository = "/".join(directory_component(part) for part in directories.split("/"))
        try:
            tags = self.provider.transfers().tags(repository)
        except NotFound:
            return []
        except kubectl_oras.OrasError as e:
            raise self._failed("cannot list", e) from None
        matches = []
        for tag in tags:
            try:
                matches.append(query_of(Artifact(repository, tag)))
            except UnmappablePath:
                continue
        return matches
