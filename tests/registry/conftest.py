"""What several registry tests share: a distribution v3 that asks for a password."""

from __future__ import annotations

import pytest

from tests.support.registries import SECURED_PASSWORD, SECURED_USER, htpasswd_file, start_registry


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A distribution v3 with htpasswd auth (``SECURED_USER``/``SECURED_PASSWORD``), one per module."""
    proc = start_registry("distribution-3", htpasswd=htpasswd_file(tmp_path_factory.mktemp("secured"),
                                                                   SECURED_USER, SECURED_PASSWORD))
    yield proc
    proc.stop()
