"""The Kubernetes API as plain dicts: get, create, replace, patch, delete, list of any resource;
an answer read as it comes (a watch's) and an upgraded websocket (a port-forward's).

Built on kubernetes-asyncio's ``ApiClient`` (its configuration, auth and connection pool) and its
generic ``call_api``, so every object in the project is a plain dict, the same shape as the YAML
in manifests/ and the JSON the apiserver sends; no generated model classes. This module is the
only one that touches the client's internals (``call_api``, its aiohttp session, its auth
hooks), and the one place a request that cannot be sent becomes ``ClusterUnreachable``; every
other failure becomes a ``KubeError`` (errors.py).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import logging
import os
import time
import urllib.parse
from collections.abc import AsyncGenerator, Callable, Iterable, Iterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from kubernetes_asyncio.client import ApiClient
from kubernetes_asyncio.client.exceptions import ApiException

from ..orascache import API_VERSION as ORAS_CACHE_API_VERSION
from ..orascache import KIND as ORAS_CACHE_KIND
from ..orascache import PLURAL as ORAS_CACHE_PLURAL
from .errors import ClusterUnreachable, KubeError, api_error

REQUEST_TIMEOUT = 30.0  # seconds for one API call; watches set their own
UPGRADE_TIMEOUT = 15.0  # seconds for a websocket upgrade
MAX_REFUSAL_BYTES = 64 * 1024  # of a refused upgrade's body, read to say why
SENDING_FAILED = (TimeoutError, aiohttp.ClientError, OSError)  # how a request that got no answer fails


class InvalidName(KubeError, ValueError):
    """A name or namespace that cannot be one (empty, ``.``, ``..``): refused before any call."""


@dataclass(frozen=True)
class Resource:
    """One resource type: where its objects live in the API."""

    api_version: str  # "v1", "batch/v1"
    kind: str
    plural: str
    namespaced: bool = True

    def path(self, *, namespace: str | None = None, name: str | None = None, subresource: str | None = None,
             all_namespaces: bool = False) -> str:
        """The object's (or with no name, the collection's; with ``all_namespaces``, every
        namespace's) path. Every part is escaped, so a name holding '/' or '..' (a pod's
        ownerReferences are its author's to write) stays one name."""
        base = f"/api/{self.api_version}" if "/" not in self.api_version else f"/apis/{self.api_version}"
        if self.namespaced and not (all_namespaces and name is None):
            if not namespace:
                raise InvalidName(f"{self.plural} are namespaced: give a namespace")
            base += f"/namespaces/{_segment(namespace)}"
        base += f"/{self.plural}"
        if name is not None:
            base += f"/{_segment(name)}"
        if subresource:
            base += f"/{_segment(subresource)}"
        return base

    def describe(self, name: str | None, namespace: str | None) -> str:
        """How errors name the object: "secrets lab/x", "mutatingwebhookconfigurations y"."""
        where = f"{namespace}/" if namespace and self.namespaced else ""
        return f"{self.plural} {where}{name}" if name else f"{self.plural} in {namespace}" if namespace else self.plural


def _segment(part: str) -> str:
    if not part or part in (".", ".."):
        raise InvalidName(f"{part!r} cannot name an object or a namespace")
    return urllib.parse.quote(part, safe="")


SECRETS = Resource("v1", "Secret", "secrets")
SERVICE_ACCOUNTS = Resource("v1", "ServiceAccount", "serviceaccounts")
CONFIG_MAPS = Resource("v1", "ConfigMap", "configmaps")
NAMESPACES = Resource("v1", "Namespace", "namespaces", namespaced=False)
PODS = Resource("v1", "Pod", "pods")
PERSISTENT_VOLUME_CLAIMS = Resource("v1", "PersistentVolumeClaim", "persistentvolumeclaims")
JOBS = Resource("batch/v1", "Job", "jobs")
REPLICA_SETS = Resource("apps/v1", "ReplicaSet", "replicasets")
STATEFUL_SETS = Resource("apps/v1", "StatefulSet", "statefulsets")
SERVICES = Resource("v1", "Service", "services")
ORAS_CACHES = Resource(ORAS_CACHE_API_VERSION, ORAS_CACHE_KIND, ORAS_CACHE_PLURAL)  # kubectl_oras/orascache.py
DAEMON_SETS = Resource("apps/v1", "DaemonSet", "daemonsets")
LEASES = Resource("coordination.k8s.io/v1", "Lease", "leases")
EVENTS = Resource("events.k8s.io/v1", "Event", "events")
MUTATING_WEBHOOK_CONFIGURATIONS = Resource("admissionregistration.k8s.io/v1", "MutatingWebhookConfiguration",
                                           "mutatingwebhookconfigurations", namespaced=False)

PATCH_TYPES = {
    "json": "application/json-patch+json",
    "merge": "application/merge-patch+json",
    "strategic": "application/strategic-merge-patch+json",
    "apply": "application/apply-patch+yaml",
}


REQUEST_LOG = logging.getLogger("kubectl_oras.requests")  # -v 6 and up (docs/cli.md)


def without_userinfo(url: str) -> str:
    """A server's URL as messages and logs say it: without its user part (``user:password@``,
    which a kubeconfig's or --server's URL may hold), with or without a scheme."""
    scheme, at, rest = url.partition("://")
    if not at:
        scheme, rest = "", url
    host, slash, path = rest.partition("/")
    return f"{scheme}{at}{host.rpartition('@')[2]}{slash}{path}"


def log_request(method: str, url: str, status: int | str, started: float) -> None:
    """One line per API request at -v 6: method, URL, status (or why there was none), time; never
    a header (a bearer token, an impersonation), nor the URL's user part (``user:password@``)."""
    if REQUEST_LOG.isEnabledFor(logging.DEBUG):
        shown = without_userinfo(url)
        REQUEST_LOG.debug("%s %s %s in %d ms", method, shown, status, (time.monotonic() - started) * 1000)


class Kube:
    """A connection to one cluster's API; ``async with`` closes its pool."""

    def __init__(self, api: ApiClient, *, namespace: str = "default", timeout: float | None = REQUEST_TIMEOUT) -> None:
        self.api = api
        self.namespace = namespace  # the context's (or the pod's) namespace: the default for commands
        self.timeout = timeout  # one call's limit; None: no limit (kubectl's --request-timeout 0)
        # Told of every call as (operation, resource plural) from ``what``: "patch", "statefulsets".
        self.on_request: Callable[[str, str], None] | None = None

    def send_with_every_request(self, headers: Iterable[tuple[str, str]]) -> None:
        """Headers every request carries (the calls, a stream, a websocket's upgrade), a name given
        twice sent twice (kubectl's Impersonate-Group, one per --as-group).

        Not the ApiClient's ``default_headers``: its ``call_api`` merges them with the call's own into
        a dict, one value a name, before aiohttp sees them. They go on its aiohttp session, whose
        default headers are a CIMultiDict that every request the session sends starts from
        (``ws_connect``'s too); a request's own header of the same name would replace them all, and
        none of ours names one of these."""
        sent = self.api.rest_client.pool_manager.headers
        for name, value in headers:
            sent.add(name, value)

    async def __aenter__(self) -> Kube:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def close(self) -> None:
        await self.api.close()

    @property
    def host(self) -> str:
        """The apiserver's URL, as the kubeconfig (or the pod's environment) gave it."""
        return str(self.api.configuration.host)

    @property
    def shown_host(self) -> str:
        """The apiserver's URL as messages say it: without a user part."""
        return without_userinfo(self.host)

    def unreachable(self, what: str, error: BaseException) -> ClusterUnreachable:
        """The one error for a request that got no answer: refused, reset, timed out, no route."""
        why = (str(error) or type(error).__name__).replace(self.host, self.shown_host)
        return ClusterUnreachable(f"{what}: cannot reach the Kubernetes API at {self.shown_host}: {why}")

    @contextlib.contextmanager
    def _sending(self, what: str) -> Iterator[None]:
        """Failures of sending a request through ``call_api``, mapped: a refusal by its status, no
        answer as ``unreachable``."""
        try:
            yield
        except ApiException as e:
            raise api_error(e.status or 0, e.body, what=what, http_reason=e.reason or "") from e
        except SENDING_FAILED as e:
            raise self.unreachable(what, e) from e

    async def call(self, method: str, path: str, *, what: str, body: Any = None, query: dict[str, Any] | None = None,
                   content_type: str = "application/json", timeout: float | None = None) -> dict[str, Any]:
        """One API call returning the answer's JSON object; every failure a KubeError naming ``what``."""
        if self.on_request is not None:
            words = what.split()
            self.on_request(words[0], words[1] if len(words) > 1 else "")
        started = time.monotonic()
        status: int | str = "no answer"  # what the log says when none came
        try:
            with self._sending(what):
                try:
                    result = await self.api.call_api(
                        path, method, query_params=list((query or {}).items()), body=body,
                        header_params={"Accept": "application/json", "Content-Type": content_type},
                        response_types_map={200: "object", 201: "object", 202: "object"}, auth_settings=["BearerToken"],
                        _return_http_data_only=True, _preload_content=True, _request_timeout=timeout or self.timeout)
                    # the client keeps the answer it just read (set before it returns, so this call's)
                    status = getattr(getattr(self.api, "last_response", None), "status", "OK")
                except ApiException as e:
                    status = e.status or status
                    raise
        except (ValueError, LookupError) as e:  # an answer the client cannot decode (charset, UTF-8)
            raise KubeError(f"{what}: the Kubernetes API answered with something that is not JSON: {e}") from e
        finally:
            query_text = f"?{urllib.parse.urlencode(query)}" if query else ""
            log_request(method, f"{self.host}{path}{query_text}", status, started)
        if not isinstance(result, dict):
            raise KubeError(f"{what}: the Kubernetes API answered with something that is not a JSON object")
        return result

    async def stream(self, path: str, *, what: str, query: list[tuple[str, str]], connect_timeout: float,
                     read_timeout: float) -> AsyncGenerator[bytes, None]:
        """A GET whose answer is read as it comes (a watch, a pod's log): its body's chunks as they arrive.

        No total limit; ``read_timeout`` is how long it may stay silent. Not counted in
        ``on_request`` (a watch is not a call). A refusal is mapped by its status, no answer is
        ``unreachable``, and a body that breaks off (reset, silent too long) is
        ``ClusterUnreachable`` saying so. Leaving the iteration before its end (break,
        cancellation, ``aclose``) closes the connection instead of returning it to the pool.
        """
        timeout = aiohttp.ClientTimeout(total=None, connect=connect_timeout, sock_connect=connect_timeout,
                                        sock_read=read_timeout)
        started = time.monotonic()
        with self._sending(what):
            # The ApiClient's own request path: its session (client certificates, the CA), its
            # Authorization header (a bearer token, refreshed when the kubeconfig's exec plugin says
            # so); with _preload_content=False it hands back aiohttp's response unread, as
            # kubernetes-asyncio's Watch uses it.
            response = await self.api.call_api(
                path, "GET", query_params=query, header_params={"Accept": "application/json"},
                auth_settings=["BearerToken"], _preload_content=False, _request_timeout=timeout)
        log_request("GET", f"{self.host}{path}?{urllib.parse.urlencode(query)}", response.status, started)
        finished = False
        try:
            if response.status != 200:
                try:
                    body = await response.read()
                except SENDING_FAILED:
                    body = b""
                raise api_error(response.status, body, what=what, http_reason=response.reason or "")
            try:
                async for chunk in response.content.iter_any():
                    yield chunk
            except SENDING_FAILED as e:
                why = f"no data for {read_timeout:.0f} s" if isinstance(e, TimeoutError) else str(e) or type(e).__name__
                raise ClusterUnreachable(f"{what}: the stream from {self.shown_host} broke off: {why}") from e
            finished = True
        finally:
            if finished:
                response.release()
            else:  # the body is not read to its end: the connection cannot be reused
                response.close()

    async def websocket(self, path: str, *, what: str, query: dict[str, str], protocol: str,
                        refused: Callable[[int, bytes], KubeError] | None = None,
                        error: type[KubeError] = KubeError,
                        timeout: float = UPGRADE_TIMEOUT) -> aiohttp.ClientWebSocketResponse:
        """``path`` upgraded to a websocket speaking ``protocol`` (a pod's ``portforward``).

        Opened on the ApiClient's own aiohttp session (its TLS context: CA, client certificate,
        verify, server name; its proxy) with the headers its auth gives, so a bearer token's
        refresh hook runs before every upgrade. An upgrade the apiserver refuses becomes
        ``refused(status, body)`` (by default the status's error); no answer within ``timeout`` is
        ``unreachable``; an upgrade to anything but a websocket speaking ``protocol`` is ``error``.
        """
        rest = self.api.rest_client
        url = self.host + path
        headers = dict(self.api.default_headers)
        await self.api.update_params_for_auth(headers, [], ["BearerToken"])  # the refresh hooks run here
        started = time.monotonic()
        try:
            ws = await asyncio.wait_for(rest.pool_manager.ws_connect(
                url, params=query, protocols=(protocol,), headers=headers, max_msg_size=0, compress=0,
                autoping=True, timeout=aiohttp.ClientWSTimeout(ws_receive=None, ws_close=5.0), proxy=rest.proxy,
                proxy_headers=rest.proxy_headers, server_hostname=rest.server_hostname), timeout)
        except aiohttp.WSServerHandshakeError as e:
            if e.status == 101:  # upgraded, but not to a websocket we can use
                raise error(f"{what}: {e.message}") from None
            body = await self._refusal(url, query, protocol, headers, timeout)
            if refused is not None:
                raise refused(e.status, body) from None
            raise api_error(e.status, body, what=what, http_reason=e.message) from None
        except SENDING_FAILED as e:
            raise self.unreachable(what, e) from None
        log_request("GET", f"{url} (websocket {protocol})", 101, started)
        if ws.protocol != protocol:
            await ws.close()
            raise error(f"{what}: the apiserver did not agree to {protocol} (it chose {ws.protocol or 'none'})")
        return ws

    async def _refusal(self, url: str, query: dict[str, str], protocol: str, headers: dict[str, str],
                       timeout: float) -> bytes:
        """The body of a refused upgrade. aiohttp's handshake error drops it, so the same upgrade is
        asked once more and its answer read (only after a refusal)."""
        rest = self.api.rest_client
        upgrade = dict(headers, Upgrade="websocket", Connection="Upgrade", **{
            "Sec-WebSocket-Version": "13", "Sec-WebSocket-Protocol": protocol,
            "Sec-WebSocket-Key": base64.b64encode(os.urandom(16)).decode()})
        try:
            async with asyncio.timeout(timeout):
                async with rest.pool_manager.get(url, params=query, headers=upgrade, proxy=rest.proxy,
                                                 server_hostname=rest.server_hostname) as response:
                    if response.status == 101:
                        response.close()
                        return b""
                    return await response.content.read(MAX_REFUSAL_BYTES)
        except SENDING_FAILED:
            return b""

    async def get(self, resource: Resource, name: str, *, namespace: str | None = None,
                  timeout: float | None = None) -> dict[str, Any]:
        return await self.call("GET", resource.path(namespace=namespace, name=name), timeout=timeout,
                               what=f"get {resource.describe(name, namespace)}")

    async def list(self, resource: Resource, *, namespace: str | None = None, label_selector: str | None = None,
                   field_selector: str | None = None, all_namespaces: bool = False) -> dict[str, Any]:
        """The collection in ``namespace``, or with ``all_namespaces`` in every namespace (kubectl's -A)."""
        query = {k: v for k, v in (("labelSelector", label_selector), ("fieldSelector", field_selector)) if v} or None
        where = None if all_namespaces else namespace
        return await self.call("GET", resource.path(namespace=where, all_namespaces=all_namespaces), query=query,
                               what=f"list {resource.describe(None, where)}")

    async def create(self, resource: Resource, body: dict[str, Any], *, namespace: str | None = None,
                     dry_run: bool = False) -> dict[str, Any]:
        """POST ``body``; with ``dry_run`` the apiserver admits it (defaults, admission plugins) and
        answers with the object it would have stored, storing nothing (``dryRun=All``)."""
        name = (body.get("metadata") or {}).get("name")
        return await self.call("POST", resource.path(namespace=namespace), body=body,
                               query={"dryRun": "All"} if dry_run else None,
                               what=f"create {resource.describe(name, namespace)}{' (dry run)' if dry_run else ''}")

    async def replace(self, resource: Resource, name: str, body: dict[str, Any], *,
                      namespace: str | None = None) -> dict[str, Any]:
        return await self.call("PUT", resource.path(namespace=namespace, name=name), body=body,
                               what=f"replace {resource.describe(name, namespace)}")

    async def patch(self, resource: Resource, name: str, patch: Any, *, namespace: str | None = None,
                    patch_type: str = "merge", field_manager: str | None = None, force: bool = False,
                    subresource: str | None = None) -> dict[str, Any]:
        query: dict[str, Any] = {}
        if field_manager:
            query["fieldManager"] = field_manager
        if force:
            query["force"] = "true"
        return await self.call("PATCH", resource.path(namespace=namespace, name=name, subresource=subresource), body=patch,
                               query=query, content_type=PATCH_TYPES[patch_type],
                               what=f"patch {resource.describe(name, namespace)}{'/' + subresource if subresource else ''}")

    async def delete(self, resource: Resource, name: str, *, namespace: str | None = None) -> dict[str, Any]:
        return await self.call("DELETE", resource.path(namespace=namespace, name=name),
                               what=f"delete {resource.describe(name, namespace)}")
