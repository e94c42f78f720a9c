"""Tier markers come from the folders: `pytest -m tier0` selects every pure test and nothing else."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def collected(*args: str) -> set[str]:
    out = subprocess.run([sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider", *args],
                         cwd=REPO, capture_output=True, text=True, check=True).stdout
    return {line for line in out.splitlines() if "::" in line}


def test_tier0_is_exactly_the_unit_folder():
    assert collected("-m", "tier0") == collected("tests/unit")


def test_every_tier_selects_only_its_own_folders():
    everything = collected()
    tiers = {tier: collected("-m", tier) for tier in ("tier0", "tier1", "tier2", "tier3")}
    assert set().union(*tiers.values()) == everything
    assert all(t.startswith(("tests/registry/", "tests/cli/", "tests/agent/", "tests/controller/", "tests/packaging/",
                                  "tests/localcluster/"))
               for t in tiers["tier1"])
    assert all(t.startswith(("tests/cluster/", "tests/webhook/")) for t in tiers["tier2"])
    assert all(t.startswith(("tests/node/", "tests/e2e/")) for t in tiers["tier3"])
    assert all(tiers.values())
