"""Tier 1: the docs' commands that need no cluster run as written, as `kubectl oras …` found by
kubectl's plugin discovery (this checkout's `kubectl-oras` on PATH), against a registry process on
loopback: each block the table in tests/support/doc_examples.py gives to this module (LOOPBACK), its
commands in order in a directory of its own holding the files they name, with `localhost:5000`
replaced by the registry's address. What they did is then checked; and what README says of exit
statuses and of what gc frees holds."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.support.doc_examples import LOOPBACK, Example, examples_run_by, substitute
from tests.support.plugin import plugin_environment
from tests.support.trees import make_tree, snapshot


@pytest.fixture(scope="module")
def env(tmp_path_factory) -> dict[str, str]:
    """PATH with this checkout's `kubectl-oras` and kubectl, nothing else of ours."""
    return plugin_environment(tmp_path_factory.mktemp("bin"))


def sh(command: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", "-euo", "pipefail", "-c", command], env=env, cwd=cwd, capture_output=True,
                          text=True, timeout=120)


def blocks() -> dict[tuple[str, int], list[Example]]:
    grouped: dict[tuple[str, int], list[Example]] = {}
    for e in examples_run_by(LOOPBACK):
        grouped.setdefault((e.doc, e.block), []).append(e)
    return grouped


@pytest.mark.parametrize("block", list(blocks()), ids=lambda b: f"{b[0]}:{b[1]}")
def test_the_docs_direct_commands_run_as_written(block, any_registry, env, tmp_path):
    (tmp_path / "hwloc.xml").write_text("<topology/>\n")  # the files the examples push
    make_tree(tmp_path / "results")
    mapping = {"localhost:5000": any_registry.host}
    said: dict[str, str] = {}
    for e in blocks()[block]:
        done = sh(substitute(e.text, mapping), env, tmp_path)
        assert done.returncode == 0, f"{e.doc}:{e.line}: {e.key}\n{done.stdout}\n{done.stderr}"
        assert "Traceback" not in done.stderr, done.stderr
        said[e.key] = done.stdout
    check(block[0], said, tmp_path)


def check(doc: str, said: dict[str, str], work: Path) -> None:
    """What the block did, beyond its commands' exit status."""
    outputs = {key.split()[2]: out for key, out in said.items() if key.startswith("kubectl oras ")}
    if "--help" in outputs:
        assert "Usage: kubectl-oras" in outputs["--help"] and "create-cache" in outputs["--help"]
    if "push" in outputs:
        assert snapshot(work / "out" / "results") == snapshot(work / "results")
        assert (work / "out" / "hwloc.xml").read_text() == "<topology/>\n"
        assert sorted(p.name for p in (work / "xml").iterdir()) == ["hwloc.xml"]  # --include '*.xml'
        assert (work / "layers" / "results.tar.gz").is_file()  # --no-unpack
        assert json.loads(outputs["tags"])["tags"] == ["iter-0"]
        assert "metric/hwloc" in outputs["ls"].split()
        assert outputs["rm"].startswith("Deleted ") and "/metric/hwloc:iter-0 " in outputs["rm"]
        assert "nothing is freed on disk until the registry's garbage collector runs" in outputs["gc"], outputs["gc"]
    if not {"--help", "push"} & set(outputs):
        raise AssertionError(f"{doc}: say what its block should have done")


def test_a_failure_exits_1_with_one_error_line_and_a_usage_error_exits_2(any_registry, env, tmp_path):
    """README: "a failure exits 1 with one `error:` line, a usage error … exits 2"."""
    missing = sh(f"kubectl oras pull metric/none:iter-0 -r {any_registry.host} --plain-http", env, tmp_path)
    assert missing.returncode == 1 and missing.stderr.count("\n") == 1 and missing.stderr.startswith("error: ")
    assert sh("kubectl oras pull metric/hwloc:iter-0 --no-such-flag", env, tmp_path).returncode == 2
    assert sh("kubectl oras push", env, tmp_path).returncode == 2
