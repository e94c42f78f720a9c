"""The tier-3 folders' `control_plane` (the local cluster's, not the tier-2 loopback one), and the
network the tests' local cluster uses."""

import pytest

from localcluster.network import Network

# Apart from a user's local cluster (localcluster/network.py's defaults): other names and ranges, so
# the tests run beside it. The whole-machine tests' clusters (`up` as a user runs it) have their own.
TEST_NETWORK = Network(name="korast", pods="10.246", links="10.247", services="10.97.0.0/24")
WHOLE_MACHINE_NETWORK = Network(name="korasw", pods="10.248", links="10.249", services="10.98.0.0/24")
BESIDE_NETWORK = Network(name="korasv", pods="10.251", links="10.252", services="10.99.0.0/24")


def up_options(net: Network) -> list[str]:
    """`up`'s options for ``net``."""
    return ["--name", net.name, "--pods", net.pods, "--links", net.links, "--services", net.services]


@pytest.fixture(scope="session")
def control_plane(local_cluster):
    return local_cluster.cp
