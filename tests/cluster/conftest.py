"""Fixtures of the controller's tier-2 tests: its identity with only the RBAC in manifests/, and
one controller process per test module that holds the Lease."""

from __future__ import annotations

import pytest

from tests.webhook.process import install_controller, leading_replica, stop_replica

# Short Lease timings: takeovers within seconds.
FAST = ("--lease-seconds", "4", "--renew-seconds", "3", "--retry-seconds", "0.5")


@pytest.fixture(scope="module")
def kubeconfig(control_plane):
    return install_controller(control_plane)


@pytest.fixture(scope="module")
def leader(control_plane, kubeconfig, tmp_path_factory):
    replica = leading_replica(control_plane, kubeconfig, tmp_path_factory.mktemp("controller") / "controller.log",
                              extra=FAST)
    yield replica
    stop_replica(replica)
