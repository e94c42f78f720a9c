"""Where kubectl looks for a cluster, with the standard library alone: `kubectl oras version` asks
this before it loads the Kubernetes client, so that with no cluster to ask it answers at once."""

from __future__ import annotations

import os
from collections.abc import Mapping

DEFAULT_KUBECONFIG = "~/.kube/config"


def in_cluster() -> bool:
    return bool(os.environ.get("KUBERNETES_SERVICE_HOST"))


def kubeconfig_files(kubeconfig: str | None, environ: Mapping[str, str]) -> list[str]:
    """The kubeconfig files kubectl would read: the flag's one file, else KUBECONFIG's list
    (``:``-separated, empty entries skipped), else ~/.kube/config. Paths are not checked here."""
    if kubeconfig:
        return [os.path.expanduser(kubeconfig)]
    listed = environ.get("KUBECONFIG")
    if listed:
        return [os.path.expanduser(p) for p in listed.split(os.pathsep) if p]
    return [os.path.expanduser(DEFAULT_KUBECONFIG)]


def cluster_configured(kubeconfig: str | None, environ: Mapping[str, str] | None = None) -> bool:
    """Whether there is a cluster to ask: a kubeconfig file that exists, or a pod's ServiceAccount."""
    env = os.environ if environ is None else environ
    return any(os.path.exists(p) for p in kubeconfig_files(kubeconfig, env)) or bool(env.get("KUBERNETES_SERVICE_HOST"))
