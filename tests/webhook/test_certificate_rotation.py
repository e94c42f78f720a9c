"""Tier 2: the webhook's certificate lives in a Secret and its CA in the webhook configuration,
managed with nothing but the ServiceAccount's own RBAC (manifests/rbac-certs.yaml)."""

import base64
import datetime as dt

import pytest

from controller.core.certificates import make_serving_cert, service_hosts
from controller.core.webhook_configuration import webhook_configuration
from controller.runtime.cert_store import ensure_serving_cert, inject_ca_bundle
from kubectl_oras.kube.api import MUTATING_WEBHOOK_CONFIGURATIONS, SECRETS
from kubectl_oras.kube.config import connect
from kubectl_oras.kube.errors import Forbidden
from tests.cluster.apply import apply, delete_configuration
from tests.webhook.process import NS, install_identity

SECRET, CONFIG = "kubectl-oras-webhook-tls", "kubectl-oras"
HOSTS = service_hosts("kubectl-oras-webhook", NS)


@pytest.fixture(scope="module")
def sa_kubeconfig(control_plane):
    kubeconfig = install_identity(control_plane, "rbac-certs.yaml")
    apply(control_plane, webhook_configuration(name=CONFIG, own_namespace=NS, ca_bundle="", service="kubectl-oras-webhook"))
    yield kubeconfig
    # No Service answers for it: left behind, it would refuse every annotated pod later tests make.
    delete_configuration(control_plane, CONFIG)


async def test_certificate_is_created_kept_renewed_and_its_ca_injected(control_plane, sa_kubeconfig):
    control_plane.session().delete(f"{control_plane.server}/api/v1/namespaces/{NS}/secrets/{SECRET}")
    async with await connect(kubeconfig=str(sa_kubeconfig)) as api:
        first = await ensure_serving_cert(api, namespace=NS, secret=SECRET, hosts=HOSTS)
        again = await ensure_serving_cert(api, namespace=NS, secret=SECRET, hosts=HOSTS)
        assert again == first  # valid: kept

        assert await inject_ca_bundle(api, configuration=CONFIG, ca_pem=first.ca_pem)
        assert not await inject_ca_bundle(api, configuration=CONFIG, ca_pem=first.ca_pem)
        stored = await api.get(MUTATING_WEBHOOK_CONFIGURATIONS, CONFIG)
        assert {w["clientConfig"]["caBundle"] for w in stored["webhooks"]} == {base64.b64encode(first.ca_pem).decode()}

        # A certificate close to expiry (planted by the admin: the SA may not patch) is replaced.
        old = make_serving_cert(hosts=HOSTS, now=dt.datetime.now(dt.UTC) - dt.timedelta(days=360))
        r = control_plane.session().patch(f"{control_plane.server}/api/v1/namespaces/{NS}/secrets/{SECRET}",
                                          json={"data": old.secret_data()},
                                          headers={"Content-Type": "application/merge-patch+json"})
        assert r.status_code == 200, r.text
        renewed = await ensure_serving_cert(api, namespace=NS, secret=SECRET, hosts=HOSTS)
        assert renewed not in (old, first)


async def test_the_service_account_can_touch_nothing_else(control_plane, sa_kubeconfig):
    """Of other Secrets, whatever else the suite has bound to this ServiceAccount (the controller's
    list and create, the webhook's get by name of a pod's imagePullSecrets; docs/annotations.md),
    no role lets it change or delete one: only its own certificate's."""
    secret = {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "some-other-secret", "namespace": NS}}
    async with await connect(kubeconfig=str(sa_kubeconfig)) as api:
        for refused in (api.delete(SECRETS, "some-other-secret", namespace=NS),
                        api.replace(SECRETS, "some-other-secret", secret, namespace=NS)):
            with pytest.raises(Forbidden) as e:
                await refused
            assert e.value.status == 403
        with pytest.raises(Forbidden) as e:
            await api.get(MUTATING_WEBHOOK_CONFIGURATIONS, "someone-elses")
        assert e.value.status == 403
