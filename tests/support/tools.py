"""Locate the Go-built test binaries; built on demand by localcluster/build.sh (localcluster/binaries.py).

A binary that cannot be built fails the test run loudly: nothing here skips.
"""

from __future__ import annotations

import os

from localcluster.binaries import built


def oras_cli() -> str:
    return str(built("oras") / "oras")


def distribution_v3() -> str:
    return str(built("distribution") / "registry")


def referrers_registry() -> str:
    """go-containerregistry's registry with the referrers API on (localcluster/referrers-registry)."""
    return str(built("referrers-registry") / "referrers-registry")


def debian_registry() -> str:
    path = "/usr/bin/docker-registry"
    if not os.access(path, os.X_OK):
        raise RuntimeError("docker-registry is not installed: apt-get install docker-registry (tests/setup.sh does)")
    return path


def interruptible() -> None:
    """``preexec_fn`` for a child that a test interrupts with SIGINT: a test run started in the
    background by a non-interactive shell (``cmd &``) ignores SIGINT, every child inherits that,
    and Python keeps an ignored SIGINT ignored (as a command a user backgrounds must), so the
    child would never see the test's Ctrl-C."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)
