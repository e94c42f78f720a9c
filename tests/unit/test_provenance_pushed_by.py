"""Who a push by hand names in its provenance: the kube context through a cache, never its credentials."""

from __future__ import annotations

from kubectl_oras.cli.provenance import pushed_by
from kubectl_oras.transfers.options import transfer_options
from kubectl_oras.transfers.places import Place

KUBECONFIG = """
apiVersion: v1
kind: Config
current-context: lab-admin
contexts: [{name: lab-admin, context: {cluster: lab, user: admin}}]
clusters: [{name: lab, cluster: {server: "https://127.0.0.1:6443"}}]
users: [{name: admin, user: {token: tok-3f9a-never-said}}]
"""


def test_a_push_to_a_registry_by_address_names_the_local_user():
    assert pushed_by(transfer_options(registry="localhost:5000"), Place(registry="localhost:5000")) == "local user"


def test_a_push_to_a_cache_names_the_context_given_or_the_current_one_never_its_token(tmp_path):
    config = tmp_path / "config"
    config.write_text(KUBECONFIG)
    assert pushed_by(transfer_options(context="other"), Place(cache="oras")) == "context other"
    said = pushed_by(transfer_options(kubeconfig=str(config)), Place(cache="oras"))
    assert said == "context lab-admin" and "tok-3f9a" not in said
