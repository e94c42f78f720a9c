"""How to reach a cluster, as kubectl finds it: a kubeconfig (``--kubeconfig``, else every file
in ``KUBECONFIG``, else ~/.kube/config) with a context and its namespace, or the in-cluster
ServiceAccount when running in a pod and no kubeconfig is there.

Several files in ``KUBECONFIG`` are merged as kubectl merges them: for clusters, users and
contexts the first file to name one wins; ``current-context`` is the first file's that sets one.
kubernetes-asyncio's own merger takes the *last* file's ``current-context`` (docs/kube-client.md),
so the context is chosen here (``merge_kubeconfigs``, pure) and handed to the loader by name.
"""

from __future__ import annotations

import os
import ssl
import urllib.parse
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import yaml
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config.config_exception import ConfigException

from .api import Kube, without_userinfo
from .config_flags import ConfigFlags, given
from .errors import ClusterUnreachable, KubeError
from .kubeconfig_files import kubeconfig_files

IN_CLUSTER_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


class ContextNotFound(KubeError):
    """The context asked for is in no kubeconfig file; the message lists those that are."""


@dataclass(frozen=True)
class MergedConfig:
    """What the merged kubeconfig says about contexts (the loader reads the rest itself)."""

    contexts: dict[str, dict[str, Any]] = field(default_factory=dict)  # name -> its `context` map
    current: str | None = None
    files: tuple[str, ...] = ()  # the files that exist, in order
    loaded: tuple[str, ...] = ()  # those with something in them: the loader is given these alone
    users: frozenset[str] = frozenset()  # the names --user may give
    clusters: frozenset[str] = frozenset()  # the names --cluster may give


def merge_kubeconfigs(documents: list[tuple[str, Any]]) -> MergedConfig:
    """kubectl's merge of the (path, parsed YAML) of each file that exists, in KUBECONFIG order.

    The first file to name a context wins; ``current-context`` comes from the first file that
    sets a non-empty one. A file that is not a map is an error naming it.
    """
    contexts: dict[str, dict[str, Any]] = {}
    current: str | None = None
    named: dict[str, set[str]] = {"users": set(), "clusters": set()}
    for path, doc in documents:
        if doc is None:
            continue  # an empty file: kubectl skips it too
        if not isinstance(doc, dict):
            raise ClusterUnreachable(f"{path} is not a kubeconfig (a YAML map)")
        for entry in doc.get("contexts") or []:
            if isinstance(entry, dict) and isinstance(entry.get("name"), str) and entry["name"] not in contexts:
                body = entry.get("context")
                contexts[entry["name"]] = body if isinstance(body, dict) else {}
        if current is None and isinstance(doc.get("current-context"), str) and doc["current-context"]:
            current = doc["current-context"]
        for kind, names in named.items():
            names.update(e["name"] for e in doc.get(kind) or [] if isinstance(e, dict) and isinstance(e.get("name"), str))
    return MergedConfig(contexts, current, tuple(path for path, _ in documents),
                        tuple(path for path, doc in documents if doc is not None),
                        frozenset(named["users"]), frozenset(named["clusters"]))


def choose_context(merged: MergedConfig, context: str | None) -> tuple[str, str]:
    """(context name, its namespace or "default"); ContextNotFound listing the contexts there are."""
    where = ", ".join(merged.files)
    name = context or merged.current
    if not name:
        listed = ", ".join(sorted(merged.contexts)) or "none"
        raise ContextNotFound(f"no current context in {where}; give --context (contexts: {listed})")
    if name not in merged.contexts:
        listed = ", ".join(sorted(merged.contexts)) or "there are none"
        raise ContextNotFound(f"no context {name!r} in {where}; contexts: {listed}")
    namespace = merged.contexts[name].get("namespace")
    return name, namespace if isinstance(namespace, str) and namespace else "default"


def check_flags(merged: MergedConfig, flags: ConfigFlags) -> None:
    """--user and --cluster name entries the kubeconfig has; --certificate-authority is a file and
    not given with --insecure-skip-tls-verify (kubectl refuses the pair too)."""
    where = ", ".join(merged.files)
    for flag, name, names in (("--user", flags.user, merged.users), ("--cluster", flags.cluster, merged.clusters)):
        if name is not None and name not in names:
            raise ContextNotFound(f"{flag} {name}: no such {flag[2:]} in {where} ({', '.join(sorted(names)) or 'none'})")
    check_tls_flags(flags)


def check_tls_flags(flags: ConfigFlags) -> None:
    if flags.certificate_authority is not None:
        if flags.insecure_skip_tls_verify:
            raise ClusterUnreachable("--certificate-authority and --insecure-skip-tls-verify: give one, not both "
                                     "(a CA to verify with, or no verifying)")
        if not os.path.isfile(flags.certificate_authority):
            raise ClusterUnreachable(f"--certificate-authority {flags.certificate_authority}: no such file")
        try:
            ssl.create_default_context(cafile=flags.certificate_authority)
        except ssl.SSLError as e:
            raise ClusterUnreachable(f"--certificate-authority {flags.certificate_authority}: "
                                     f"not a PEM certificate ({e.reason or e})") from None


def apply_flags(configuration: Configuration, flags: ConfigFlags) -> None:
    """kubectl's config flags over what the kubeconfig (or the pod) gave: the server, how its
    certificate is checked, and a bearer token in place of the user's own credentials."""
    if flags.server:
        configuration.host = server_url(flags.server)
    if flags.certificate_authority is not None:  # verify with it, whatever the kubeconfig said (kubectl too)
        configuration.ssl_ca_cert = flags.certificate_authority
        configuration.verify_ssl = True
    if flags.insecure_skip_tls_verify:
        configuration.verify_ssl = False
        configuration.ssl_ca_cert = None
    if flags.token is not None:
        configuration.api_key = {"BearerToken": f"Bearer {flags.token}"}
        configuration.api_key_prefix = {}
        configuration.refresh_api_key_hook = None  # an exec plugin's refresh would put its token back
        configuration.cert_file = configuration.key_file = None
        configuration.username = configuration.password = None


def server_url(server: str) -> str:
    """--server as the URL to send to: ``host:port`` alone is https, as kubectl reads it for an
    apiserver it verifies; a scheme other than http or https, or no host, is refused, naming it."""
    url = server if "://" in server else f"https://{server}"
    shown = without_userinfo(server)  # a user:password@ in it is never said
    if url.partition("://")[0].lower() not in ("http", "https"):
        raise ClusterUnreachable(f"--server {shown}: give an https:// (or http://) URL")
    try:
        parts = urllib.parse.urlsplit(url)
        hostname, _ = parts.hostname, parts.port  # .port raises ValueError when out of range
    except ValueError:  # an IPv6 address not closed, a port out of range
        hostname = None
    if not hostname:
        raise ClusterUnreachable(f"--server {shown}: not an apiserver's URL (https://HOST[:PORT])")
    return url.rstrip("/")


def check_header_flags(flags: ConfigFlags) -> None:
    """--token, --as and --as-group travel as HTTP headers, which cannot carry a control character
    (a token file's line end): refused naming the flag, the token never shown."""
    given = [("--token", flags.token), ("--as", flags.impersonate), *(("--as-group", g) for g in flags.impersonate_groups)]
    for flag, value in given:
        if value is not None and any(ord(c) < 32 or ord(c) == 127 for c in value):
            shown = "" if flag == "--token" else f" {value!r}"
            raise ClusterUnreachable(f"{flag}{shown}: holds a control character (a line end?), "
                                     "which an HTTP header cannot carry")


def impersonation_headers(flags: ConfigFlags) -> list[tuple[str, str]]:
    """--as and --as-group as the apiserver reads them: Impersonate-User, and one Impersonate-Group
    per --as-group, in their order (kubectl sends each group so)."""
    if flags.impersonate_groups and not flags.impersonate:
        raise ClusterUnreachable("--as-group needs --as (kubectl refuses a group without a user to impersonate)")
    headers = [("Impersonate-User", flags.impersonate)] if flags.impersonate else []
    return headers + [("Impersonate-Group", group) for group in flags.impersonate_groups]


def read_kubeconfigs(files: list[str]) -> MergedConfig:
    """Read and merge the files that exist; ClusterUnreachable when none does."""
    documents = []
    for path in files:
        if not os.path.exists(path):
            continue
        try:
            with open(path, encoding="utf-8") as f:
                documents.append((path, yaml.safe_load(f)))
        except (OSError, UnicodeDecodeError, yaml.YAMLError) as e:
            raise ClusterUnreachable(f"cannot read the kubeconfig {path}: {e}") from e
    if not documents:
        raise ClusterUnreachable(f"no cluster to talk to: no kubeconfig at {', '.join(files)} "
                                 "(give --kubeconfig or set KUBECONFIG) and not running in a pod")
    return merge_kubeconfigs(documents)


async def connect(*, kubeconfig: str | None = None, context: str | None = None,
                  namespace: str | None = None, environ: Mapping[str, str] | None = None,
                  flags: ConfigFlags | None = None) -> Kube:
    """A Kube for the kubeconfig (its current or the given context), or in-cluster when there is
    none. ``namespace`` overrides the context's (``-n``); ``flags`` (by default the command
    line's: kube/config_flags.py) override the rest as kubectl's config flags do."""
    env = os.environ if environ is None else environ
    flags = given() if flags is None else flags
    check_header_flags(flags)
    headers = impersonation_headers(flags)
    kube = await _connect(kubeconfig=kubeconfig, context=context, namespace=namespace, env=env, flags=flags)
    kube.send_with_every_request(headers)
    if flags.request_timeout is not None:
        kube.timeout = flags.request_timeout or None
    return kube


async def _connect(*, kubeconfig: str | None, context: str | None, namespace: str | None,
                   env: Mapping[str, str], flags: ConfigFlags) -> Kube:
    files = kubeconfig_files(kubeconfig, env)
    # kubectl falls back to the pod's ServiceAccount only when no kubeconfig file is there.
    use_kubeconfig = bool(kubeconfig) or any(os.path.exists(p) for p in files) or not env.get("KUBERNETES_SERVICE_HOST")
    try:
        if use_kubeconfig:
            merged = read_kubeconfigs(files)
            name, context_namespace = choose_context(merged, context)
            check_flags(merged, flags)
            configuration = Configuration()
            await load_context(merged, name, flags, configuration)
            apply_flags(configuration, flags)
            return Kube(ApiClient(configuration), namespace=namespace or context_namespace)
        if context:
            raise ContextNotFound(f"no context {context!r}: there is no kubeconfig, only the pod's own ServiceAccount")
        check_tls_flags(flags)
        configuration = Configuration()
        config.load_incluster_config(client_configuration=configuration)
        apply_flags(configuration, flags)
        try:
            with open(IN_CLUSTER_NAMESPACE_FILE) as f:
                pod_namespace = f.read().strip() or "default"
        except OSError:
            pod_namespace = "default"
        return Kube(ApiClient(configuration), namespace=namespace or pod_namespace)
    except (ConfigException, OSError, ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError) as e:
        # A kubeconfig of the wrong shape reaches us as whatever the loader tripped on: say which
        # file, and what.
        where = ", ".join(files) if use_kubeconfig else "in-cluster"
        raise ClusterUnreachable(f"no cluster to talk to ({where}): {e}") from e


OVERRIDDEN_CONTEXT = "kubectl-oras/--user,--cluster"  # a name no kubeconfig context or user has (a '/' and a ',')


async def load_context(merged: MergedConfig, name: str, flags: ConfigFlags, configuration: Configuration) -> None:
    """The context's cluster and user into ``configuration``; --user and --cluster take the
    kubeconfig's entry of that name in place of the context's (its namespace stays), and --token
    a user of that token alone: kubectl runs no credential plugin of the user's when given one."""
    if flags.user is None and flags.cluster is None and flags.token is None:
        await config.load_kube_config(config_file=os.pathsep.join(merged.loaded), context=name,
                                      client_configuration=configuration, persist_config=False)
        return
    merger = config.kube_config.KubeConfigMerger(os.pathsep.join(merged.loaded))
    chosen = dict(merged.contexts[name])
    if flags.user is not None:
        chosen["user"] = flags.user
    if flags.cluster is not None:
        chosen["cluster"] = flags.cluster
    assert merger.config is not None  # the files were read and merged above
    if flags.token is not None:
        chosen["user"] = OVERRIDDEN_CONTEXT
        merger.config.value["users"] = [*(merger.config.value.get("users") or []),
                                        {"name": OVERRIDDEN_CONTEXT, "user": {"token": flags.token}}]
    merger.config.value["contexts"].append({"name": OVERRIDDEN_CONTEXT, "context": chosen})
    loader = config.kube_config.KubeConfigLoader(config_dict=merger.config, active_context=OVERRIDDEN_CONTEXT,
                                                 config_base_path=None)
    await loader.load_and_set(configuration)
