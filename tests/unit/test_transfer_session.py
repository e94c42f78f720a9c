"""One session, one port-forward (kubectl_oras/transfers/session.py): threads that share a session
share its tunnel, a nested ``with`` leaves it open for the outer block, and a closed session
refuses more transfers instead of opening a tunnel that nothing would close. The cluster is
replaced by a fake cache whose opens and closes are counted."""

from __future__ import annotations

import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass
from types import SimpleNamespace

import pytest

import kubectl_oras
from kubectl_oras.errors import OrasError
from kubectl_oras.transfers.options import TransferOptions
from kubectl_oras.transfers.places import Place
from kubectl_oras.transfers.session import Session


@dataclass
class Tunnels:
    opened: int = 0
    closed: int = 0


@pytest.fixture
def tunnels(monkeypatch):
    counted = Tunnels()

    @contextmanager
    def fake_open_cache_registry(**_: object):
        counted.opened += 1
        time.sleep(0.05)  # a port-forward takes a while to open: threads asking at once overlap
        try:
            yield SimpleNamespace(address="127.0.0.1:1", name="cache lab/oras", tunnel_failure=None,
                                  endpoint=SimpleNamespace(namespace="lab", name="oras", username=None, password=None))
        finally:
            counted.closed += 1

    monkeypatch.setattr("kubectl_oras.cluster.registry.open_cache_registry", fake_open_cache_registry)
    return counted


CACHE = Place(cache="oras")


def test_threads_sharing_a_session_share_one_port_forward(tunnels):
    with Session(TransferOptions()) as session:
        threads = [threading.Thread(target=session.reached, args=(CACHE,)) for _ in range(4)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert tunnels.opened == 1
    assert tunnels.closed == 1


def test_a_nested_with_leaves_the_tunnel_open_for_the_outer_block(tunnels):
    with kubectl_oras.session(namespace="lab") as oras:
        with oras:
            oras._session.reached(CACHE)
        assert tunnels.closed == 0
        oras._session.reached(CACHE)
        assert tunnels.opened == 1
    assert tunnels.closed == 1


def test_a_closed_session_refuses_transfers_rather_than_open_a_tunnel_nothing_closes(tunnels):
    with kubectl_oras.session(namespace="lab") as oras:
        oras._session.reached(CACHE)
    for use in (lambda: oras.tags("metric/hwloc"), lambda: oras.pull("metric/hwloc:v1", "out"),
                lambda: oras.push("metric/hwloc:v1", ["f"]), lambda: oras.__enter__()):
        with pytest.raises(OrasError, match="this session is closed"):
            use()
    direct = Session(TransferOptions(registry="127.0.0.1:1"))
    direct.close()
    with pytest.raises(OrasError, match="this session is closed"):
        direct.tags(direct.locate("metric/hwloc", default_tag=None))
    assert (tunnels.opened, tunnels.closed) == (1, 1)
