"""The Python API for workflow tools (Snakemake executors, Argo steps, notebooks): the same things
as `kubectl oras annotate`, `pull`, `push` and `tags`, as functions of plain data, and a
``session`` that makes many transfers through one port-forward.

Every function takes a cache by name (``cache``, default ``oras``, reached through a port-forward
with its credentials read from its Secret) or a ``registry`` (``HOST:PORT``, credentials from
ORAS_USER / ORAS_PASS). Failures raise ``OrasError`` (or a subclass: a missing artifact is
``NotFound``, through a cache too) whose message is one line naming the culprit. The transfers
themselves are kubectl_oras/transfers/, the same as the command line's. Exported from the
package: ``import kubectl_oras``; docs/python-api.md.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from .errors import OrasError
from .transfers.options import DEFAULT_CACHE, TransferOptions
from .transfers.session import Session

if TYPE_CHECKING:
    from .oci.client import Credentials
    from .oci.delete import Deleted
    from .oci.describe import Artifact
    from .oci.pull import PullResult
    from .oci.push import PushResult


def annotate(manifest: Mapping[str, Any], *, output: str | None = None, output_path: str | None = None,
             inputs: Sequence[str] = (), input_path: str | None = None, output_pipe: str | None = None,
             container: str | None = None, cache: str | None = None, input_wait: str | None = None,
             namespace: str = "default", overwrite: bool = False) -> dict[str, Any]:
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
                     output_pipe=output_pipe, container=container, cache=cache, input_wait=input_wait).values()
    new, _warnings = annotate_object(copy.deepcopy(dict(manifest)), values, overwrite=overwrite, namespace=namespace)
    return dict(new)


class Transfers:
    """Transfers to one cache (or registry), through one port-forward opened on first use and
    closed at the end of the ``with`` block: ``with kubectl_oras.session(namespace="lab") as oras:``.
    Its ``pull``, ``push`` and ``tags`` are the module's, without the cache and cluster arguments;
    ``artifact``, ``artifacts`` and ``delete`` are the session's own."""

    def __init__(self, options: TransferOptions, credentials: Credentials | None = None) -> None:
        self._session = Session(options, credentials=credentials)

    def __enter__(self) -> Transfers:
        self._session.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._session.__exit__(*exc)

    def close(self) -> None:
        """Close the connections to the registry and the port-forward, if one was opened; later
        transfers are refused."""
        self._session.close()

    def pull(self, reference: str, output_dir: str = ".", *, include: Sequence[str] | None = None,
             unpack: bool = True) -> PullResult:
        """See ``kubectl_oras.pull``."""
        return self._session.pull(self._session.locate(reference), output_dir, include=include, unpack=unpack)

    def push(self, reference: str, paths: Sequence[str], *,
             annotations: Mapping[str, str] | None = None) -> PushResult:
        """See ``kubectl_oras.push``."""
        if isinstance(paths, str):
            raise OrasError("paths must be a list of files and directories, not one string")
        return self._session.push(self._session.locate(reference), paths, annotations=annotations)

    def tags(self, repository: str) -> list[str]:
        """See ``kubectl_oras.tags``."""
        return self._session.tags(self._session.locate(repository, default_tag=None))

    def artifact(self, reference: str) -> Artifact:
        """What the tag ``reference`` holds, from its manifest alone (no file is fetched):
        ``.created`` (an aware datetime, None when it says no time), ``.digest``, ``.layers``,
        ``.annotations``. A missing one raises ``NotFound``."""
        return self._session.artifact(self._session.locate(reference, default_tag=None))

    def artifacts(self, repository: str) -> list[Artifact]:
        """``artifact`` for every tag of ``repository``: one listing, the manifests read side by
        side; an empty list for a repository that does not exist."""
        return self._session.artifacts(self._session.locate(repository, default_tag=None))

    def delete(self, reference: str) -> Deleted:
        """Delete the tag ``reference`` (never another tag that shares its manifest)."""
        return self._session.delete(self._session.locate(reference, default_tag=None))


def session(*, cache: str = DEFAULT_CACHE, namespace: str | None = None, registry: str | None = None,
            kubeconfig: str | None = None, context: str | None = None, plain_http: bool = False,
            insecure: bool = False, username: str | None = None, password: str | None = None) -> Transfers:
    """Many transfers through one port-forward (each module-level call opens its own, in about half
    a second)::

        with kubectl_oras.session(namespace="lab") as oras:
            oras.push("metric/hwloc:iter-0", ["hwloc.xml"])
            oras.pull("metric/hwloc:iter-0", "data")
            oras.tags("metric/hwloc")

    The arguments are the module functions' (``cache``, or a ``registry``; a reference that names
    its own ``HOST:PORT/`` goes there). ``username`` and ``password`` (both or neither) are a
    registry's, in place of ORAS_USER / ORAS_PASS. Nothing is opened until the first transfer.
    """
    if bool(username) != bool(password):
        raise OrasError("give both username and password for the registry, or neither")
    credentials = None
    if username and password:
        from .oci.auth import Credentials

        credentials = Credentials(username, password)
    return Transfers(TransferOptions(registry=registry, default_cache=cache, plain_http=plain_http, insecure=insecure,
                                     kubeconfig=kubeconfig, context=context, namespace=namespace), credentials)


def pull(reference: str, output_dir: str = ".", *, cache: str = DEFAULT_CACHE, namespace: str | None = None,
         registry: str | None = None, kubeconfig: str | None = None, context: str | None = None,
         include: Sequence[str] | None = None, unpack: bool = True, plain_http: bool = False,
         insecure: bool = False) -> PullResult:
    """Pull an artifact's files into ``output_dir``, verified and all-or-nothing; returns what was
    written (``.files``, ``.digest``).

    ``pull("metric/hwloc:iter-0", "data")`` pulls from the cache ``oras`` in the kubeconfig
    context's namespace; ``registry="localhost:5000", plain_http=True`` from any registry.
    ``include`` keeps only layers whose title matches one of the shell patterns. A missing
    artifact raises ``NotFound`` saying which tags there are.
    """
    with session(cache=cache, namespace=namespace, registry=registry, kubeconfig=kubeconfig, context=context,
                 plain_http=plain_http, insecure=insecure) as oras:
        return oras.pull(reference, output_dir, include=include, unpack=unpack)


def push(reference: str, paths: Sequence[str], *, annotations: Mapping[str, str] | None = None,
         cache: str = DEFAULT_CACHE, namespace: str | None = None, registry: str | None = None,
         kubeconfig: str | None = None, context: str | None = None, plain_http: bool = False,
         insecure: bool = False) -> PushResult:
    """Push files and directories (each directory one tar+gzip layer) as one artifact; returns
    its ``.digest`` and ``.layers``. ``annotations`` go on the manifest."""
    with session(cache=cache, namespace=namespace, registry=registry, kubeconfig=kubeconfig, context=context,
                 plain_http=plain_http, insecure=insecure) as oras:
        return oras.push(reference, paths, annotations=annotations)


def tags(repository: str, *, cache: str = DEFAULT_CACHE, namespace: str | None = None, registry: str | None = None,
         kubeconfig: str | None = None, context: str | None = None, plain_http: bool = False,
         insecure: bool = False) -> list[str]:
    """The tags of ``repository`` (``metric/hwloc``), in the registry's order (not the
    ``sha256-<hex>`` tags that index referrers: docs/provenance.md)."""
    with session(cache=cache, namespace=namespace, registry=registry, kubeconfig=kubeconfig, context=context,
                 plain_http=plain_http, insecure=insecure) as oras:
        return oras.tags(repository)
