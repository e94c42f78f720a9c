"""The package as a Python API: what `__all__` names, loaded only when used, and annotate() as
plain data in and out (tier 0; the transfers run against real registries in tests/cli/)."""

from __future__ import annotations

import copy
import subprocess
import sys

import pytest

import kubectl_oras
from kubectl_oras.pods.annotations import PREFIX

JOB = {"apiVersion": "batch/v1", "kind": "Job", "metadata": {"name": "lammps"},
       "spec": {"template": {"spec": {"restartPolicy": "Never", "containers": [
           {"name": "main", "image": "lammps", "command": ["lmp", "-in", "in.reaxc"]}]}}}}


def test_every_exported_name_is_there_with_a_docstring():
    assert set(kubectl_oras.__all__) == {"OrasError", "__version__", "annotate", "pull", "push", "session",
                                          "tags"}
    for name in kubectl_oras.__all__:
        value = getattr(kubectl_oras, name)
        assert name == "__version__" or value.__doc__, name
    assert set(kubectl_oras.__all__) <= set(dir(kubectl_oras))
    with pytest.raises(AttributeError, match="no attribute 'nope'"):
        kubectl_oras.nope  # noqa: B018


def test_importing_the_package_loads_no_engine():
    code = ("import sys, kubectl_oras; print(' '.join(m for m in sys.modules if m.startswith(('kubectl_oras.', 'requests',"
            " 'kubernetes_asyncio', 'yaml'))))")
    loaded = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.split()
    assert loaded == ["kubectl_oras.release"]  # the version: a leaf of three lines that imports nothing
    code = "import sys, kubectl_oras; kubectl_oras.annotate; print('requests' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout == "False\n"


def test_annotate_returns_a_new_manifest_and_leaves_the_callers_alone():
    before = copy.deepcopy(JOB)
    out = kubectl_oras.annotate(JOB, inputs=["metric/hwloc:iter-0", "metric/env:iter-0"], output="metric/lammps:iter-0",
                                output_pipe="lammps.out", cache="results")
    assert JOB == before
    assert out["metadata"]["annotations"] == {
        f"{PREFIX}input-uri": "metric/hwloc:iter-0", f"{PREFIX}input-uri_1": "metric/env:iter-0",
        f"{PREFIX}output-uri": "metric/lammps:iter-0", f"{PREFIX}output-pipe": "lammps.out",
        f"{PREFIX}oras-cache": "results"}
    assert "annotations" not in out["spec"]["template"].get("metadata", {})  # a Job carries them on itself


def test_annotate_refuses_what_the_webhook_refuses_naming_the_key():
    with pytest.raises(kubectl_oras.OrasError, match=f"{PREFIX}output-uri"):
        kubectl_oras.annotate(JOB, output="Metric/UPPER:iter-0", output_path="/tmp/x")
    with pytest.raises(kubectl_oras.OrasError, match="nothing to annotate"):
        kubectl_oras.annotate(JOB)
    with pytest.raises(kubectl_oras.OrasError, match="mapping"):
        kubectl_oras.annotate([JOB], output="a/b:c", output_path="/x")  # type: ignore[arg-type]
    taken = kubectl_oras.annotate(JOB, output="metric/lammps:iter-0", output_path="/tmp/a")
    with pytest.raises(kubectl_oras.OrasError, match="iter-0"):
        kubectl_oras.annotate(taken, output="metric/lammps:iter-1")
    assert kubectl_oras.annotate(taken, output="metric/lammps:iter-1", overwrite=True)["metadata"]["annotations"][
        f"{PREFIX}output-uri"] == "metric/lammps:iter-1"


def test_push_refuses_one_string_for_paths():
    with pytest.raises(kubectl_oras.OrasError, match="list of files"):
        kubectl_oras.push("a/b:c", "results", registry="127.0.0.1:9")  # type: ignore[arg-type]


def test_a_session_takes_a_registrys_user_and_password_together_or_not_at_all():
    with pytest.raises(kubectl_oras.OrasError, match="give both username and password"):
        kubectl_oras.session(registry="localhost:5000", username="u")
    session = kubectl_oras.session(registry="localhost:5000", username="u", password="Pa55-secret")
    assert "Pa55-secret" not in repr(session._session.credentials)  # never shown
    assert (session._session.credentials.username, session._session.credentials.password) == ("u", "Pa55-secret")
