"""The tier-3 folders' `control_plane` (the local cluster's, not the tier-2 loopback one), and the
network the tests' local cluster uses."""

import pytest

from localcluster.network import Network

# Apart from a user's local cluster (localcluster/network.py's defaults): other names and ranges.
TEST_NETWORK = Network(name="korast", pods="10.246", links="10.247", services="10.97.0.0/24")


@pytest.fixture(scope="session")
def control_plane(local_cluster):
    return local_cluster.cp
