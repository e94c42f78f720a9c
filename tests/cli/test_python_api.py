"""The Python API against a real registry process: docs/python-api.md's example runs as written
(its code block, as a separate program), and what it does is checked here too."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import kubectl_oras
from kubectl_oras.oci.errors import NotFound
from tests.support.doc_examples import PYTHON_API, examples_run_by

REPO = Path(__file__).resolve().parents[2]


def example() -> str:
    """The example tests/support/doc_examples.py gives to this module (its session block runs in tier 3)."""
    (block,) = examples_run_by(PYTHON_API)
    assert block.doc == "docs/python-api.md"
    return block.text


def test_the_documented_example_runs_against_a_registry(any_registry, tmp_path):
    script = tmp_path / "example.py"
    script.write_text(example())
    env = dict(os.environ, REGISTRY=any_registry.host, PYTHONPATH=str(REPO))
    done = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert "oras.converged-computing.github.io/output-uri: metric/hwloc:iter-0" in done.stdout
    assert "tags ['iter-0']" in done.stdout and "pulled ['analysis']" in done.stdout, done.stdout
    assert done.stdout.strip().splitlines()[-1].endswith("tags in metric/hwloc: iter-0")


def test_push_pull_and_tags_in_process(any_registry, tmp_path):
    (tmp_path / "a.txt").write_text("alpha\n")
    pushed = kubectl_oras.push(f"{any_registry.host}/api/test:v1", [str(tmp_path / "a.txt")], plain_http=True)
    assert pushed.reference == f"{any_registry.host}/api/test:v1"
    assert kubectl_oras.tags("api/test", registry=any_registry.host, plain_http=True) == ["v1"]
    pulled = kubectl_oras.pull("api/test:v1", str(tmp_path / "out"), registry=any_registry.host, plain_http=True)
    assert (tmp_path / "out" / "a.txt").read_text() == "alpha\n" and pulled.digest == pushed.digest
    try:
        kubectl_oras.pull("api/none:v1", str(tmp_path / "none"), registry=any_registry.host, plain_http=True)
    except NotFound as e:
        assert str(e).endswith("there is no repository api/none"), str(e)
    else:
        raise AssertionError("a missing repository was pulled")
