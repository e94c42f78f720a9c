"""Tier 1: a wheel carries the manifests `kubectl oras install` applies (setup.py maps the
package kubectl_oras.manifests onto the top-level manifests/ folder), and install's renderer
finds them where the wheel put them, not in the source tree."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def test_a_wheel_carries_the_manifests_and_install_finds_them_there(tmp_path):
    source = tmp_path / "source"  # a copy: building in place would leave build/ and *.egg-info behind
    shutil.copytree(REPO, source, ignore=shutil.ignore_patterns(".git", "build", "*.egg-info", "tests", "bench",
                                                                "__pycache__", ".mypy_cache", ".ruff_cache"))
    wheels = tmp_path / "wheels"
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation", "-q", str(source),
                    "-w", str(wheels)], check=True, capture_output=True, timeout=300)
    (wheel,) = wheels.glob("kubectl_oras-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    expected = {f"kubectl_oras/manifests/{p.name}" for p in (REPO / "manifests").glob("*.yaml")}
    assert expected and expected <= names
    assert not any(n.startswith("manifests/") for n in names)

    target = tmp_path / "installed"
    subprocess.run([sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
                   check=True, capture_output=True, timeout=300)
    probe = ("from kubectl_oras.cluster.install import manifest_dir, render\n"
             "print(manifest_dir()); print(len(render()))")
    env = dict(os.environ, PYTHONPATH=str(target))
    done = subprocess.run([sys.executable, "-c", probe], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    where, count = done.stdout.split()
    assert Path(where) == target / "kubectl_oras" / "manifests" and int(count) >= 17
