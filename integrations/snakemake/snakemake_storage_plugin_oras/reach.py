"""How the plugin reaches a cache where it runs. Where there is a kubeconfig (the user's
machine): through a port-forward (the Python API's session, one for the whole run). Inside a pod
of the cluster with none (a job of Snakemake's Kubernetes executor): directly at the cache's
Service, ``NAME.NS.svc:5000``, with the credentials Snakemake passes to its jobs as the
``env_var`` settings; a job's ServiceAccount need not read Secrets or open port-forwards. The
environment in, a registry host (or None) out; it only looks whether files exist.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from kubectl_oras.kube.kubeconfig_files import kubeconfig_files
from kubectl_oras.orascache import registry_host

# Where the kubelet mounts a pod's own namespace (with its ServiceAccount token).
POD_NAMESPACE_FILE = Path("/var/run/secrets/kubernetes.io/serviceaccount/namespace")


def registry_in_pod(*, cache: str, namespace: str | None, environ: Mapping[str, str],
                    namespace_file: Path = POD_NAMESPACE_FILE) -> str | None:
    """The cache's registry host when this process runs in a pod of the cluster with no kubeconfig,
    None elsewhere. The namespace is the one given, else the pod's own."""
    if not environ.get("KUBERNETES_SERVICE_HOST"):
        return None
    if any(Path(p).exists() for p in kubeconfig_files(None, environ)):
        return None  # a kubeconfig says which cluster: maybe another one, reached by port-forward
    if namespace is None:
        try:
            namespace = namespace_file.read_text().strip()
        except OSError:
            return None  # no namespace to go by: a port-forward, as on a user's machine
    return registry_host(cache, namespace) if namespace else None
