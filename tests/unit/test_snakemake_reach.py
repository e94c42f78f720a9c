"""Where the Snakemake plugin reaches a cache: through a port-forward where there is a kubeconfig,
directly at the cache's Service inside a pod of the cluster with none (a Kubernetes executor's job)."""

from __future__ import annotations

import logging

from snakemake_storage_plugin_oras import StorageProvider, StorageProviderSettings
from snakemake_storage_plugin_oras.reach import registry_in_pod


def pod_environment(tmp_path, *, kubeconfig: bool = False) -> dict[str, str]:
    config = tmp_path / "kubeconfig"
    if kubeconfig:
        config.write_text("apiVersion: v1\nkind: Config\n")
    return {"KUBERNETES_SERVICE_HOST": "10.96.0.1", "KUBECONFIG": str(config)}


def test_in_a_pod_without_a_kubeconfig_the_cache_is_its_service_in_the_pods_namespace(tmp_path):
    (tmp_path / "namespace").write_text("lab\n")
    assert registry_in_pod(cache="oras", namespace=None, environ=pod_environment(tmp_path),
                           namespace_file=tmp_path / "namespace") == "oras.lab.svc:5000"
    assert registry_in_pod(cache="results", namespace="other", environ=pod_environment(tmp_path),
                           namespace_file=tmp_path / "namespace") == "results.other.svc:5000"


def test_elsewhere_the_cache_is_reached_through_a_port_forward(tmp_path):
    (tmp_path / "namespace").write_text("lab\n")
    on_a_machine = {"KUBECONFIG": str(tmp_path / "kubeconfig")}
    assert registry_in_pod(cache="oras", namespace="lab", environ=on_a_machine) is None
    with_kubeconfig = pod_environment(tmp_path, kubeconfig=True)  # it may name another cluster
    assert registry_in_pod(cache="oras", namespace="lab", environ=with_kubeconfig) is None
    assert registry_in_pod(cache="oras", namespace=None, environ=pod_environment(tmp_path),
                           namespace_file=tmp_path / "absent") is None


def test_the_provider_names_the_service_it_goes_to(tmp_path, monkeypatch):
    for key, value in pod_environment(tmp_path).items():
        monkeypatch.setenv(key, value)

    def provider(**settings) -> StorageProvider:
        return StorageProvider(local_prefix=tmp_path / "local", logger=logging.getLogger("test"),
                               settings=StorageProviderSettings(**settings))

    assert provider(cache="oras", namespace="lab").where == "cache oras at oras.lab.svc:5000"
    assert provider(registry="r.example:5000").where == "registry r.example:5000"  # a registry named wins
    monkeypatch.delenv("KUBERNETES_SERVICE_HOST")
    assert provider(cache="oras", namespace="lab").where == "cache lab/oras"
