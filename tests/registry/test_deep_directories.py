"""Tier 1: a directory nested deeper than Python's recursion limit goes to a real registry and
back, through the command line as a user runs it, and through the Go oras CLI (same bytes).
`kubectl oras push t/deep:v1 deep` on a tree 1,200 deep ended in RecursionError."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.support.trees import DEEP, deep_bottom, make_deep_tree, remove_deep_tree


def cli(*args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubectl_oras", *args], cwd=cwd, capture_output=True, text=True,
                          timeout=300)


@pytest.fixture
def deep_workdir(workdir):
    yield workdir
    remove_deep_tree(*(path for path in workdir.iterdir() if path.is_dir()))


def test_a_directory_1200_deep_is_pushed_and_pulls_back(registry, repo, deep_workdir, oras):
    make_deep_tree(deep_workdir / "deep")
    ref = f"{repo}:v1"
    pushed = cli("push", ref, "deep", "-r", registry.host, "--plain-http", cwd=deep_workdir)
    assert pushed.returncode == 0, pushed.stderr
    assert "Traceback" not in pushed.stderr

    pulled = cli("pull", ref, "-o", "out", "-r", registry.host, "--plain-http", cwd=deep_workdir)
    assert pulled.returncode == 0, pulled.stderr
    assert deep_bottom(deep_workdir / "out" / "deep", DEEP) == "the bottom\n"
    again = cli("pull", ref, "-o", "out", "-r", registry.host, "--plain-http", cwd=deep_workdir)  # merges into it
    assert again.returncode == 0, again.stderr
    assert deep_bottom(deep_workdir / "out" / "deep", DEEP) == "the bottom\n"

    (deep_workdir / "go-out").mkdir()
    go = subprocess.run([oras, "pull", "--plain-http", f"{registry.host}/{ref}"], cwd=deep_workdir / "go-out",
                        capture_output=True, text=True, timeout=300)
    assert go.returncode == 0, go.stderr  # the Go CLI checks the tar's digest as it unpacks
    assert deep_bottom(deep_workdir / "go-out" / "deep", DEEP) == "the bottom\n"
