"""The webhook's lookup of what a launcher without ``command`` runs: its image's ENTRYPOINT and CMD.

First the static entries (a ConfigMap the install creates, ``kubectl-oras-launcher-commands``,
read again after STATIC_TTL), which win; else the image's registry: the reference resolved to a
digest (HEAD, with the Accept of manifests and indexes), its manifest (for an index, each
platform's), each config blob. Credentials are the pod's ``imagePullSecrets`` and its
ServiceAccount's, read through the API, tried in turn; anonymous when none matches the registry.
Results are kept by digest (bounded, MAX_ENTRIES) and a tag's digest for TAG_TTL, both per namespace
(an image one namespace may read is not answered to another from the cache, by tag or by digest;
within a namespace, any pod may name any of its pull Secrets, so the namespace is the boundary). Each lookup is bounded
by ``timeout``, inside the webhook's own (manifests/webhook.yaml: timeoutSeconds). The pure
rules are kubectl_oras/pods/entrypoint.py and controller/core/pull_secrets.py; docs/pod-protocol.md
says what happens for a launcher without a command.
"""

from __future__ import annotations

import asyncio
import functools
import io
import json
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Any

from kubectl_oras.errors import OrasError
from kubectl_oras.kube.api import CONFIG_MAPS, SECRETS, SERVICE_ACCOUNTS, Resource
from kubectl_oras.kube.errors import ClusterUnreachable, ObjectNotFound
from kubectl_oras.oci.auth import CREDENTIALS_HINT, Credentials
from kubectl_oras.oci.client import RegistryClient, RetryPolicy, Timeouts
from kubectl_oras.oci.errors import AuthenticationFailed, RegistryUnreachable
from kubectl_oras.oci.manifest import DOCKER_LIST_MEDIA_TYPE, INDEX_MEDIA_TYPE
from kubectl_oras.pods.entrypoint import (
    DOCKER_HUB,
    ImageCommand,
    ImageName,
    NoImageCommand,
    ResolvedImage,
    image_command,
    image_name,
    platform_of,
    static_commands,
)

from ..core.pull_secrets import credentials_in, pull_secret_names, service_account_of
from .retention import in_daemon_thread

STATIC_CONFIGMAP = "kubectl-oras-launcher-commands"
STATIC_KEY = "images.json"  # {"IMAGE": {"command": [...], "args": [...]}}
PLAIN_HTTP_KEY = "plain-http"  # registries reached over plain HTTP, one host[:port] a line (loopback always is)
LOOKUP_TIMEOUT = 3.0  # the whole lookup; the webhook configuration gives the apiserver's call 5 s
STATIC_TTL = 10.0
TAG_TTL = 60.0
MAX_ENTRIES = 1024
MAX_INDEX_ENTRIES = 256  # an index's images (a real one: a dozen platforms and their attestations)
MAX_CONFIG_BYTES = 4 << 20  # an image's config, and all the configs of an index together
REGISTRY_HOSTS = {DOCKER_HUB: "registry-1.docker.io"}  # where Docker Hub's API answers
LOOPBACK = ("localhost", "127.0.0.1", "[::1]")

Commands = tuple[tuple[str, ImageCommand], ...]
GetObject = Callable[..., Awaitable[dict[str, Any]]]  # Kube.get: (resource, name, *, namespace, timeout)


class Bounded(OrderedDict[Any, Any]):
    """A dict that forgets its least recently used entry past ``limit``."""

    def __init__(self, limit: int) -> None:
        super().__init__()
        self.limit = limit

    def fetch(self, key: Any) -> Any:
        if key in self:
            self.move_to_end(key)
            return self[key]
        return None

    def keep(self, key: Any, value: Any) -> None:
        self[key] = value
        self.move_to_end(key)
        while len(self) > self.limit:
            self.popitem(last=False)


def read_image(name: ImageName, *, credentials: list[Credentials | None], plain_http: bool, timeout: float,
               known: Callable[[str], Commands | None] = lambda digest: None) -> tuple[str, Commands]:
    """(digest, the command of each platform) of the image ``name`` names, from its registry; the
    credentials are tried in turn while the registry refuses them. ``known(digest)``: what an
    earlier lookup found, which saves the manifests' reads."""
    failure: AuthenticationFailed | None = None
    for creds in credentials:
        try:
            return _read_with(name, creds, plain_http=plain_http, timeout=timeout, known=known)
        except AuthenticationFailed as e:
            failure = e
    assert failure is not None
    raise failure


def _read_with(name: ImageName, credentials: Credentials | None, *, plain_http: bool, timeout: float,
               known: Callable[[str], Commands | None]) -> tuple[str, Commands]:
    host = REGISTRY_HOSTS.get(name.registry, name.registry)
    client = RegistryClient(host, plain_http=plain_http, credentials=credentials, docker_config=False,
                            timeouts=Timeouts(connect=timeout, read=timeout, total=timeout),
                            retry=RetryPolicy(attempts=2, deadline=timeout), pool_size=2, name=name.registry)
    repository, what = name.repository, f"read image {name.key}"
    digest = name.digest or client.resolve(repository, name.reference, what=what)
    if digest is None:
        raise NoImageCommand(f"{name.registry} has no {name.repository}:{name.tag}")
    found = known(digest)
    if found is not None:
        return digest, found
    manifest, media_type, _ = client.fetch_manifest(repository, digest, what=what)
    budget = [MAX_CONFIG_BYTES]  # for all the configs of one lookup: an index may name any number
    if media_type not in (INDEX_MEDIA_TYPE, DOCKER_LIST_MEDIA_TYPE):
        return digest, (("", _config_command(client, repository, manifest, what, budget)),)
    commands = []
    entries = manifest.get("manifests") or []
    if isinstance(entries, list) and len(entries) > MAX_INDEX_ENTRIES:
        raise NoImageCommand(f"{what}: its index names {len(entries)} images, over the {MAX_INDEX_ENTRIES} a lookup reads")
    for entry in entries if isinstance(entries, list) else []:
        platform = platform_of(entry) if isinstance(entry, dict) else None
        if platform is None or not isinstance(entry.get("digest"), str):
            continue
        child, _, _ = client.fetch_manifest(repository, entry["digest"], what=f"{what} for {platform}")
        commands.append((platform, _config_command(client, repository, child, f"{what} for {platform}", budget)))
    if not commands:
        raise NoImageCommand(f"{what}: its index names no platform")
    return digest, tuple(commands)


def _config_command(client: RegistryClient, repository: str, manifest: dict[str, Any], what: str,
                    budget: list[int]) -> ImageCommand:
    """The command of one image's config; ``budget``: the bytes of configs the lookup may still read."""
    config = manifest.get("config")
    digest, size = (config.get("digest"), config.get("size")) if isinstance(config, dict) else (None, None)
    if not isinstance(digest, str) or not isinstance(size, int) or not 0 <= size <= MAX_CONFIG_BYTES:
        raise NoImageCommand(f"{what}: its manifest names no image config (or one over {MAX_CONFIG_BYTES >> 20} MiB)")
    if size > budget[0]:
        raise NoImageCommand(f"{what}: its configs together are over {MAX_CONFIG_BYTES >> 20} MiB")
    budget[0] -= size
    out = io.BytesIO()
    client.download_blob(repository, digest, size, out)
    try:
        return image_command(json.loads(out.getvalue()), what=what)
    except ValueError:
        raise NoImageCommand(f"{what}: its config {digest} is not JSON") from None


class ImageLookupFailed(OrasError):
    """The command of a launcher's image could not be found: the webhook denies the pod with this
    message (503 when trying again may help: a registry or the API that did not answer in time)."""

    def __init__(self, message: str, *, transient: bool) -> None:
        super().__init__(message)
        self.transient = transient


class ImageCommands:
    """What the webhook asks of a launcher's image: ``resolve`` → ResolvedImage, or ImageLookupFailed."""

    def __init__(self, get: GetObject, *, namespace: str, timeout: float = LOOKUP_TIMEOUT,
                 static_ttl: float = STATIC_TTL, tag_ttl: float = TAG_TTL) -> None:
        self.get, self.namespace, self.timeout = get, namespace, timeout
        self.static_ttl, self.tag_ttl = static_ttl, tag_ttl
        self.by_digest = Bounded(MAX_ENTRIES)  # (namespace, registry/repository, digest) -> Commands
        self.tags = Bounded(MAX_ENTRIES)  # (namespace, image key) -> (digest, until)
        self._static: tuple[dict[str, ImageCommand], frozenset[str], float] | None = None
        self.registry_reads = 0  # lookups that went to a registry
        self.reading: dict[tuple[Any, ...], asyncio.Future[tuple[str, Commands]]] = {}  # reads under way
        self.static_entries = f"{namespace}/{STATIC_CONFIGMAP}"

    async def resolve(self, namespace: str, pod: dict[str, Any], container: str, image: str,
                      seconds: float | None = None) -> ResolvedImage:
        """``image`` (of ``pod``'s launcher ``container``) resolved within ``seconds`` (at most the
        lookup's own limit); ImageLookupFailed saying why and what to do."""
        limit = self.timeout if seconds is None else max(min(seconds, self.timeout), 0.0)
        try:
            return await asyncio.wait_for(self._resolve(namespace, pod, image), limit)
        except TimeoutError:
            reason: Exception = NoImageCommand(f"no answer within {limit:.3g} s")
            transient = True
        except Exception as e:  # whatever it is, the pod is denied saying it: never admitted without its command
            reason, transient = e, isinstance(e, RegistryUnreachable | ClusterUnreachable)
        raise ImageLookupFailed(lookup_failed(container, image, reason, static_entries=self.static_entries),
                                transient=transient)

    async def _resolve(self, namespace: str, pod: dict[str, Any], image: str) -> ResolvedImage:
        name = image_name(image)
        entries, plain_hosts = await self._static_entries()
        if name.key in entries:
            return ResolvedImage(image, "", (("", entries[name.key]),))
        repository = f"{name.registry}/{name.repository}"
        digest = name.digest
        if digest is None:
            tagged = self.tags.fetch((namespace, name.key))
            digest = tagged[0] if tagged and tagged[1] > time.monotonic() else None
        cached = self.by_digest.fetch((namespace, repository, digest)) if digest else None
        if digest and cached is not None:
            return ResolvedImage(image, name.pinned(digest), cached)
        # The pods of a Job are made at once: one read of the registry serves every pod of the
        # namespace that asks meanwhile (as the tag's digest is shared for TAG_TTL), and goes on
        # for them if the first one's time runs out. Only pods that name the same pull Secrets and
        # ServiceAccount share a read: each is read with its own pod's credentials.
        key = (namespace, name.key, service_account_of(pod), tuple(pull_secret_names(pod, None)))
        reading = self.reading.get(key)
        if reading is None:
            reading = asyncio.ensure_future(self._read(namespace, pod, name, plain_hosts))
            self.reading[key] = reading
            reading.add_done_callback(lambda _: self.reading.pop(key, None))
        found, commands = await asyncio.shield(reading)
        return ResolvedImage(image, name.pinned(found), commands)

    async def _read(self, namespace: str, pod: dict[str, Any], name: ImageName,
                    plain_hosts: frozenset[str]) -> tuple[str, Commands]:
        repository = f"{name.registry}/{name.repository}"
        credentials: list[Credentials | None] = [Credentials(u, p) for u, p in await self._credentials(namespace, pod, name)]
        plain = name.registry.rsplit(":", 1)[0] in LOOPBACK or name.registry in plain_hosts
        self.registry_reads += 1
        # A thread of its own, not asyncio's small pool: a registry that drips its answers holds
        # its read past the lookup's limit, and must not hold up the lookups of other images.
        found, commands = await in_daemon_thread(functools.partial(
            read_image, name, credentials=credentials or [None], plain_http=plain, timeout=self.timeout,
            known=lambda d: self.by_digest.get((namespace, repository, d))), name="image-lookup")  # known: a plain read
        self.by_digest.keep((namespace, repository, found), commands)
        if name.digest is None:
            self.tags.keep((namespace, name.key), (found, time.monotonic() + self.tag_ttl))
        return found, commands

    async def _credentials(self, namespace: str, pod: dict[str, Any], name: ImageName) -> list[tuple[str, str]]:
        """The pull Secrets' credentials for the image's registry (a Secret or ServiceAccount that is
        not there is none: the kubelet goes on without it too; one that cannot be read is
        UnreadablePullSecret naming it)."""
        account = await self._object(SERVICE_ACCOUNTS, service_account_of(pod), namespace)
        found = []
        for secret_name in pull_secret_names(pod, account):
            secret = await self._object(SECRETS, secret_name, namespace)
            found += credentials_in(secret, name.registry) if secret is not None else []
        return found

    async def _object(self, resource: Resource, name: str, namespace: str) -> dict[str, Any] | None:
        try:
            return await self.get(resource, name, namespace=namespace, timeout=self.timeout)
        except ObjectNotFound:
            return None

    async def _static_entries(self) -> tuple[dict[str, ImageCommand], frozenset[str]]:
        """The static entries and the plain-HTTP registries, read again once STATIC_TTL has passed;
        a ConfigMap that is not there holds none."""
        if self._static is not None and self._static[2] > time.monotonic():
            return self._static[0], self._static[1]
        data = ((await self._object(CONFIG_MAPS, STATIC_CONFIGMAP, self.namespace)) or {}).get("data") or {}
        where = f"ConfigMap {self.namespace}/{STATIC_CONFIGMAP} key {STATIC_KEY}"
        entries = static_commands(data[STATIC_KEY], where=where) if data.get(STATIC_KEY, "").strip() else {}
        plain = frozenset(str(data.get(PLAIN_HTTP_KEY) or "").split())
        self._static = (entries, plain, time.monotonic() + self.static_ttl)
        return entries, plain


def lookup_failed(container: str, image: str, reason: Exception, *, static_entries: str) -> str:
    """The denial of a pod whose launcher's command could not be found: the container, the image,
    why, and the two ways out (``static_entries``: the ConfigMap, ``NAMESPACE/NAME``)."""
    said = str(reason).replace(CREDENTIALS_HINT, "") if isinstance(reason, OrasError) else f"{type(reason).__name__}: {reason}"
    if isinstance(reason, AuthenticationFailed):
        said += " (with the pod's imagePullSecrets and its ServiceAccount's, or anonymously when none is for this registry)"
    return (f"container {container!r} has no command and the command of its image {image!r} could not be read: "
            f"{said}; set command: (and args:) on the container, or add the image to ConfigMap "
            f"{static_entries} (key {STATIC_KEY}; docs/annotations.md)")
