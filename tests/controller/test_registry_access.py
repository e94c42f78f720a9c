"""Whether a cache's registry holds artifacts, as the reconciler asks it to end ArtifactsLost
(controller/runtime/registry_access.py: holds_artifacts), against a real registry with auth on."""

from __future__ import annotations

import pytest

from controller.core.registry_supervisor import MARKER_REPOSITORY, MARKER_TAG
from controller.runtime.registry_access import holds_artifacts
from kubectl_oras.errors import OrasError
from kubectl_oras.oci.auth import Credentials
from kubectl_oras.oci.client import RegistryClient
from tests.registry.test_retention_against_registries import Store
from tests.support.registries import KINDS, htpasswd_file, start_registry

USER, PASSWORD = "oras", "a-generated-password"


@pytest.mark.parametrize("kind", KINDS)
def test_a_registry_holds_artifacts_once_a_users_repository_is_pushed(kind, tmp_path):
    registry = start_registry(kind, htpasswd=htpasswd_file(tmp_path, USER, PASSWORD))
    try:
        credentials = Credentials(USER, PASSWORD)
        assert holds_artifacts(registry.host, credentials) is False  # a registry pod just made
        store = Store(RegistryClient(registry.host, plain_http=True, credentials=credentials))
        store.put(MARKER_REPOSITORY, MARKER_TAG, b"reclaim", created=None)
        assert holds_artifacts(registry.host, credentials) is False  # kubectl-oras's own marker: not an artifact
        store.put("metric/lammps", "iter-0", b"a result", created=None)
        assert holds_artifacts(registry.host, credentials) is True
        with pytest.raises(OrasError):  # an error is not an empty registry
            holds_artifacts(registry.host, Credentials(USER, "wrong"))
    finally:
        registry.stop()
