"""Tier 3 runs on the local cluster (tests/conftest.py: local_cluster)."""

from tests.support.cluster_fixtures import control_plane  # noqa: F401 - the fixture
