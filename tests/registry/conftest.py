"""What several registry tests share: a distribution v3 that asks for a password, and a count of
the connections clients open."""

from __future__ import annotations

import pytest
import urllib3.connection

from tests.support.registries import SECURED_PASSWORD, SECURED_USER, htpasswd_file, start_registry


@pytest.fixture(scope="module")
def secured(tmp_path_factory):
    """A distribution v3 with htpasswd auth (``SECURED_USER``/``SECURED_PASSWORD``), one per module."""
    proc = start_registry("distribution-3", htpasswd=htpasswd_file(tmp_path_factory.mktemp("secured"),
                                                                   SECURED_USER, SECURED_PASSWORD))
    yield proc
    proc.stop()


@pytest.fixture
def connects(monkeypatch) -> list[int]:
    """The port of each plain-HTTP connection the clients open (an HTTPS one does not go through
    ``HTTPConnection.connect``)."""
    opened: list[int] = []
    real = urllib3.connection.HTTPConnection.connect

    def counted(self):
        opened.append(self.port)
        return real(self)

    monkeypatch.setattr(urllib3.connection.HTTPConnection, "connect", counted)
    return opened
