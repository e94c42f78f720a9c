"""The Python API for workflow tools (Snakemake executors, Argo steps, notebooks): the same things
as `kubectl oras annotate`, `pull`, `push` and `tags`, as functions of plain data.

Every function takes a cache by name (``cache``, default ``oras``, reached through a port-forward
with its credentials read from its Secret) or a ``registry`` (``HOST:PORT``, credentials from
ORAS_USER / ORAS_PASS). Failures raise ``OrasError`` (or a subclass) whose message is one line
naming the culprit. Exported from the package: ``import kubectl_oras``; docs/python-api.md.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from .errors import OrasError
from .targets import DEFAULT_CACHE, Target, Where, open_target, tags_said

if TYPE_CHECKING:
    from .oci.client import RegistryClient
    from .oci.pull import PullResult
    from .oci.push import PushResult


def annotate(manifest: Mapping[str, Any], *, output: str | None = None, output_path: str | None = None,
             inputs: Sequence[str] = (), input_path: str | None = None, output_pipe: str | None = None,
             container: str | None = None, cache: str | None = None, namespace: str = "default",
             overwrite: bool = False) -> dict[str, Any]:
    """A copy of ``manifest`` (a Job, JobSet, Deployment, CronJob, Pod, a List…, as a dict) with the
    annotations that make its pods pull ``inputs`` before the step and push ``output`` after it.

    A Job carries them on itself (the webhook reads a pod's Job), anything else on its pod
    templates. They are checked as the webhook checks them: a bad value raises ``OrasError``
    naming the annotation key; a different value already there raises unless ``overwrite``.
    ``manifest`` itself is not changed. Warnings (a running Job's pods will not change, …) are
    dropped; `kubectl oras annotate -f` prints them.

    >>> job = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "hwloc"},
    ...        "spec": {"template": {"spec": {"containers": [
    ...            {"name": "main", "image": "busybox", "command": ["sh", "-c", "lstopo > /tmp/analysis/hw.xml"]}]}}}}
    >>> annotated = annotate(job, output="metric/hwloc:iter-0", output_path="/tmp/analysis")
    >>> for key, value in annotated["metadata"]["annotations"].items():
    ...     print(key, value)
    oras.converged-computing.github.io/output-uri metric/hwloc:iter-0
    oras.converged-computing.github.io/output-path /tmp/analysis
    """
    from .pods.annotate import Request, annotate_object

    if not isinstance(manifest, Mapping):
        raise OrasError(f"the manifest must be a mapping (a Kubernetes object), not {type(manifest).__name__}")
    values = Request(output=output, output_path=output_path, inputs=tuple(inputs), input_path=input_path,
                     output_pipe=output_pipe, container=container, cache=cache).values()
    new, _warnings = annotate_object(copy.deepcopy(dict(manifest)), values, overwrite=overwrite, namespace=namespace)
    return dict(new)


@contextmanager
def _client(reference: str | None, *, push: bool, cache: str, namespace: str | None, registry: str | None,
            kubeconfig: str | None, context: str | None, plain_http: bool,
            insecure: bool) -> Iterator[tuple[Target, RegistryClient]]:
    where = Where(registry, plain_http, insecure, cache, kubeconfig, context, namespace)
    with open_target(where, reference) as target:
        yield target, target.client(push=push)


def pull(reference: str, output_dir: str = ".", *, cache: str = DEFAULT_CACHE, namespace: str | None = None,
         registry: str | None = None, kubeconfig: str | None = None, context: str | None = None,
         include: Sequence[str] | None = None, unpack: bool = True, plain_http: bool = False,
         insecure: bool = False) -> PullResult:
    """Pull an artifact's files into ``output_dir``, verified and all-or-nothing; returns what was
    written (``.files``, ``.digest``).

    ``pull("metric/hwloc:iter-0", "data")`` pulls from the cache ``oras`` in the kubeconfig
    context's namespace; ``registry="localhost:5000", plain_http=True`` from any registry.
    ``include`` keeps only layers whose title matches one of the shell patterns.
    """
    from .oci.errors import NotFound
    from .oci.pull import pull_artifact

    with _client(reference, push=False, cache=cache, namespace=namespace, registry=registry, kubeconfig=kubeconfig,
                 context=context, plain_http=plain_http, insecure=insecure) as (target, client):
        ref = target.reference(reference)
        try:
            result = pull_artifact(client, ref, output_dir, include=list(include) if include else None, unpack=unpack)
        except NotFound as e:
            raise NotFound(f"{e}; {tags_said(client, ref)}", status=e.status, codes=e.codes) from e
        result.reference = target.named(result.reference)  # not the tunnel's local address
        return result


def push(reference: str, paths: Sequence[str], *, annotations: Mapping[str, str] | None = None,
         cache: str = DEFAULT_CACHE, namespace: str | None = None, registry: str | None = None,
         kubeconfig: str | None = None, context: str | None = None, plain_http: bool = False,
         insecure: bool = False) -> PushResult:
    """Push files and directories (each directory one tar+gzip layer) as one artifact; returns
    its ``.digest`` and ``.layers``. ``annotations`` go on the manifest."""
    from .oci.digest_cache import DigestCache
    from .oci.push import push_artifact

    if isinstance(paths, str):
        raise OrasError("paths must be a list of files and directories, not one string")
    with _client(reference, push=True, cache=cache, namespace=namespace, registry=registry, kubeconfig=kubeconfig,
                 context=context, plain_http=plain_http, insecure=insecure) as (target, client):
        result = push_artifact(client, target.reference(reference), list(paths), annotations=dict(annotations or {}),
                               cache=DigestCache())
        result.reference = target.named(result.reference)
        return result


def tags(repository: str, *, cache: str = DEFAULT_CACHE, namespace: str | None = None, registry: str | None = None,
         kubeconfig: str | None = None, context: str | None = None, plain_http: bool = False,
         insecure: bool = False) -> list[str]:
    """The tags of ``repository`` (``metric/hwloc``), in the registry's order."""
    with _client(repository, push=False, cache=cache, namespace=namespace, registry=registry, kubeconfig=kubeconfig,
                 context=context, plain_http=plain_http, insecure=insecure) as (target, client):
        ref = target.reference(repository, default_tag=None)
        if ref.tag or ref.digest:
            raise OrasError(f"{repository!r}: give a repository without a tag or digest")
        return client.list_tags(ref.repository)
