"""Tier 3: the example Snakemake workflow (examples/snakemake/) with every file in an OrasCache of
the local cluster, which the plugin reaches through a port-forward from this machine (local
executor); the inputs pushed and the report pulled with `kubectl oras`, byte for byte."""

from __future__ import annotations

import subprocess
import sys

import pytest

from tests.cli.test_snakemake_workflow import INPUTS, jobs_run, run_example
from tests.cluster.apply import apply, new_namespace
from tests.e2e.test_workflow_on_a_node import cluster, orascache  # noqa: F401 - the fixture

REPORT = "Alpha\t2\nbeta\t1\ntotal\t3\nAlpha Upper.txt\nbeta Upper.txt\n"


@pytest.fixture
def lab(cluster):  # noqa: F811 - the fixture imported above
    cp, _ = cluster
    ns = new_namespace(cp, "snake")
    orascache(cp, ns, "oras")
    yield cp, ns
    cp.session().delete(f"{cp.server}/api/v1/namespaces/{ns}")  # the node runs the later tests' pods too


def kubectl_oras(*args: str, cp, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "kubectl_oras", *args, "--kubeconfig", str(cp.kubeconfig)], cwd=cwd,
                          capture_output=True, text=True, timeout=300)


def test_the_example_keeps_every_file_in_the_cache_and_its_report_pulls_byte_for_byte(lab, tmp_path):
    cp, ns = lab
    for name, text in INPUTS.items():  # as docs/snakemake.md says
        (tmp_path / name).write_text(text)
        pushed = kubectl_oras("push", f"example/data:{name.replace(' ', '_20')}", name, "-n", ns, cp=cp, cwd=tmp_path)
        assert pushed.returncode == 0, pushed.stderr
    storage = ["--storage-oras-cache", "oras", "--storage-oras-namespace", ns]
    env = {"KUBECONFIG": str(cp.kubeconfig)}
    first = run_example("example", tmp_path / "work", storage, env)
    assert first.returncode == 0, first.stderr[-3000:]
    assert jobs_run(first) == {"clean": 2, "count": 2, "shout": 2, "merge": 1, "plots": 1, "report": 1, "all": 1}
    second = run_example("example", tmp_path / "work", storage, env)
    assert second.returncode == 0 and "Nothing to be done" in second.stderr, second.stderr[-3000:]

    pulled = kubectl_oras("pull", "example/report:Summary_20Report.txt", "-o", "out", "-n", ns, cp=cp, cwd=tmp_path)
    assert pulled.returncode == 0, pulled.stderr
    assert (tmp_path / "out" / "Summary Report.txt").read_bytes() == REPORT.encode()


def test_a_cache_that_is_not_ready_ends_the_run_naming_the_file_and_the_cache(lab, tmp_path):
    cp, ns = lab
    apply(cp, {"apiVersion": "cache.converged-computing.github.io/v1alpha1", "kind": "OrasCache",
               "metadata": {"name": "stuck", "namespace": ns}, "spec": {"image": "registry.invalid/none:1"}})
    result = run_example("example", tmp_path / "work", ["--storage-oras-cache", "stuck", "--storage-oras-namespace", ns],
                         {"KUBECONFIG": str(cp.kubeconfig)})
    assert result.returncode != 0
    said = [line.strip() for line in result.stderr.splitlines() if line.strip().startswith("cannot ")]
    assert said and "oras://example/" in said[0] and f"cache {ns}/stuck" in said[0] and "not ready" in said[0], \
        result.stderr[-3000:]
