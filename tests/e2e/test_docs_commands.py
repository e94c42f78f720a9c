"""Tier 3: the docs' cluster commands run as written, on the tests' own local cluster, as `kubectl …`
and `kubectl oras …` (this checkout's plugin on PATH): each block the table in
tests/support/doc_examples.py gives to this module (LOCAL_CLUSTER), its commands in order in a
namespace of its own, with `lab` (the reader's namespace) and `busybox` (an image the nodes hold
offline) replaced by the test's. What a block needs first and does not make itself (the caches a
block names, an artifact already in one) is made before it (``BEFORE``); what it did is then checked
(the results pulled, the status shown). The controller and the webhook run as a process of this
checkout (test_workflow_on_a_node.py's `cluster`), once for the module."""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.cluster.apply import new_namespace
from tests.e2e.test_workflow_on_a_node import SHELL, cluster  # noqa: F401 - fixture
from tests.support.doc_examples import LOCAL_CLUSTER, Example, examples_run_by, substitute
from tests.support.plugin import plugin_environment

pytestmark = pytest.mark.usefixtures("cluster")

# What a doc's block needs before it runs (shell commands, after the same substitutions).
BEFORE = {
    "docs/cli.md": [
        "kubectl oras create-cache oras -n lab --wait --timeout 3m",
        "kubectl oras create-cache results -n lab --wait --timeout 3m",
        "kubectl oras push metric/hwloc:iter-0 analysis/ -n lab --cache results",
    ],
    "docs/retention.md": [
        "kubectl oras create-cache oras -n lab --keep-last 5 --wait --timeout 3m",
        "kubectl oras push metric/hwloc:iter-0 analysis/ -n lab",
    ],
    "docs/python-api.md": ["kubectl oras create-cache oras -n lab --wait --timeout 3m"],
}
# The files the examples name as the reader's own.
FILES = {
    "analysis/cpus.txt": "4\n",
    "my-cache.yaml": "apiVersion: cache.converged-computing.github.io/v1alpha1\nkind: OrasCache\n"
                     "metadata: {name: oras}\nspec: {}\n",
}


@pytest.fixture(scope="module")
def plugin_env(tmp_path_factory) -> dict[str, str]:
    return plugin_environment(tmp_path_factory.mktemp("bin"))


def run(example: str, *, language: str, env: dict[str, str], cwd: Path) -> subprocess.CompletedProcess:
    argv = [sys.executable, "-c", example] if language == "python" else ["bash", "-euo", "pipefail", "-c", example]
    return subprocess.run(argv, env=env, cwd=cwd, capture_output=True, text=True, timeout=600)


def blocks() -> dict[tuple[str, int], list[Example]]:
    grouped: dict[tuple[str, int], list[Example]] = {}
    for e in examples_run_by(LOCAL_CLUSTER):
        grouped.setdefault((e.doc, e.block), []).append(e)
    return grouped


def test_the_docs_cluster_commands_run_as_written(cluster, plugin_env, tmp_path):  # noqa: F811 - cluster
    cp, _ = cluster
    assert len(blocks()) == 6, "README's two blocks, cli.md, orascache.md, retention.md, python-api.md"
    for (doc, block), examples in blocks().items():
        ns = new_namespace(cp, "docs")
        try:
            work = tmp_path / f"{doc.replace('/', '-')}-{block}"
            for name, content in FILES.items():
                (work / name).parent.mkdir(parents=True, exist_ok=True)
                (work / name).write_text(content)
            kubeconfig = work / "kubeconfig"  # the context's namespace is the test's: a command without -n goes there
            kubeconfig.write_text(Path(cp.kubeconfig).read_text())
            env = dict(plugin_env, KUBECONFIG=str(kubeconfig))
            subprocess.run(["kubectl", "config", "set-context", "--current", f"--namespace={ns}"], env=env, check=True,
                           capture_output=True)
            mapping = {"lab": ns, "busybox": SHELL}
            for command in BEFORE.get(doc, []):
                done = run(substitute(command, mapping), language="sh", env=env, cwd=work)
                assert done.returncode == 0, f"before {doc}:{block}: {command}: {done.stderr}"
            said = {}
            for e in examples:
                done = run(substitute(e.text, mapping), language=e.language, env=env, cwd=work)
                assert done.returncode == 0, f"{doc}:{e.line}: {e.key}\n{done.stdout}\n{done.stderr}"
                said[e.key] = done.stdout
            check(doc, said, work, env)
        finally:
            cp.session().delete(f"{cp.server}/api/v1/namespaces/{ns}")


def check(doc: str, said: dict[str, str], work: Path, env: dict[str, str]) -> None:
    """What each block did, beyond its commands' exit status."""
    if doc == "README.md":
        assert int((work / "data" / "analysis" / "cpus.txt").read_text()) >= 1  # nproc, in the step's pod
        for key, out in said.items():
            if key.startswith("kubectl oras status"):
                assert ": Ready (" in out.splitlines()[0], out
    elif doc == "docs/cli.md":
        assert (work / "data" / "analysis" / "cpus.txt").read_text() == "4\n"
        tags = next(out for key, out in said.items() if "--cache results" in key)
        assert json.loads(tags)["tags"] == ["iter-0"], tags
    elif doc == "docs/orascache.md":
        listed = next(out for key, out in said.items() if key.startswith("kubectl get oc"))
        assert listed.splitlines()[1].split()[0] == "oras", listed
    elif doc == "docs/python-api.md":
        out = next(iter(said.values()))
        assert "['iter-0']" in out and (work / "data" / "analysis" / "cpus.txt").read_text() == "4\n", out
    elif doc == "docs/retention.md":
        # The run the annotation asks for reads the registry after the push: `status` says what it saw
        # (and, as docs/cli.md says, lists no repositories).
        deadline = time.monotonic() + 120
        status = ""
        while time.monotonic() < deadline:
            status = run("kubectl oras status oras", language="sh", env=env, cwd=work).stdout
            if ", 2 tags seen, 0 deleted" in status:  # the output and the tag that indexes its provenance
                break
            time.sleep(2)
        assert ", 2 tags seen, 0 deleted" in status and "repositories" not in status, status
    else:
        raise AssertionError(f"{doc}: say what its block should have done")

