"""How to reach a cluster, as kubectl finds it: a kubeconfig (KUBECONFIG, ~/.kube/config) with a
context and its namespace, or the in-cluster ServiceAccount when running in a pod."""

from __future__ import annotations

import os

import yaml
from kubernetes_asyncio import config
from kubernetes_asyncio.client import ApiClient, Configuration
from kubernetes_asyncio.config.config_exception import ConfigException

from .api import Kube
from .errors import ClusterUnreachable

IN_CLUSTER_NAMESPACE_FILE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace"


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


async def connect(*, kubeconfig: str | None = None, context: str | None = None) -> Kube:
    """A Kube for the kubeconfig (its current or the given context), or in-cluster when there is none."""
    try:
        if kubeconfig or not in_cluster():
            configuration = Configuration()
            await config.load_kube_config(config_file=kubeconfig, context=context,
                                          client_configuration=configuration, persist_config=False)
            namespace = _context_namespace(kubeconfig, context)
            return Kube(ApiClient(configuration), namespace=namespace)
        configuration = Configuration()
        config.load_incluster_config(client_configuration=configuration)
        try:
            with open(IN_CLUSTER_NAMESPACE_FILE) as f:
                namespace = f.read().strip() or "default"
        except OSError:
            namespace = "default"
        return Kube(ApiClient(configuration), namespace=namespace)
    except (ConfigException, OSError, ValueError, TypeError, KeyError, AttributeError, yaml.YAMLError) as e:
        # A kubeconfig that is not YAML, or YAML of the wrong shape, reaches us as whatever the
        # loader tripped on: say which file, and what.
        where = kubeconfig or os.environ.get("KUBECONFIG") or "~/.kube/config"
        raise ClusterUnreachable(f"no cluster to talk to ({where}): {e}") from e


def _context_namespace(kubeconfig: str | None, context: str | None) -> str:
    contexts, current = config.list_kube_config_contexts(config_file=kubeconfig)
    chosen = next((c for c in contexts if c.get("name") == context), None) if context else current
    return ((chosen or {}).get("context") or {}).get("namespace") or "default"
