"""scripts/release/krew.py as pure functions: the manifest it writes (the committed krew.yaml is
exactly its output), what krew's unpacker would refuse, and an archive that is the same bytes
whenever the bundle is the same."""

from __future__ import annotations

import os
import runpy
import subprocess
import tarfile
from pathlib import Path

import pytest
import yaml

import kubectl_oras

REPO = Path(__file__).resolve().parents[2]
krew = runpy.run_path(str(REPO / "scripts" / "release" / "krew.py"))


def test_krew_yaml_is_the_generator_s_output_for_its_sha256s() -> None:
    text = (REPO / "krew.yaml").read_text()
    committed = yaml.safe_load(text)
    platforms = [krew["Platform"](p["selector"]["matchLabels"]["os"], p["selector"]["matchLabels"]["arch"], p["sha256"])
                 for p in committed["spec"]["platforms"]]
    assert krew["render_manifest"](committed["spec"]["version"], platforms) == text
    # A version bump without a release build (scripts/release.sh --write-krew-yaml) fails here, at once.
    assert committed["spec"]["version"] == "v" + kubectl_oras.__version__, "krew.yaml: scripts/release.sh --write-krew-yaml"


def test_the_manifest_follows_the_package_version_and_krew_s_rules() -> None:
    tag = krew["tag_of"](krew["package_version"]())
    assert tag == "v" + kubectl_oras.__version__
    manifest = yaml.safe_load(krew["render_manifest"](tag, [krew["Platform"]("linux", "amd64", "a" * 64),
                                                           krew["Platform"]("windows", "amd64", "b" * 64)]))
    assert manifest["metadata"]["name"] == "oras"
    assert "\n" not in manifest["spec"]["shortDescription"]
    assert "kubectl oras install" in manifest["spec"]["caveats"]
    linux, windows = manifest["spec"]["platforms"]
    assert linux["selector"] == {"matchLabels": {"os": "linux", "arch": "amd64"}}
    assert linux["uri"].endswith(f"/{tag}/kubectl-oras_{tag}_linux_amd64.tar.gz")
    assert linux["bin"] == "kubectl-oras" and windows["bin"] == "kubectl-oras.exe"
    assert {f["from"] for f in linux["files"]} == {"kubectl-oras", "_internal", "LICENSE", "kubectl_complete-oras"}
    assert {f["from"] for f in windows["files"]} == {"kubectl-oras.exe", "_internal", "LICENSE"}  # no sh there


@pytest.mark.parametrize("version", ["0.2", "0.2.0.1", "v0.2.0", "00.2.0"])
def test_a_version_krew_cannot_order_is_refused(version: str) -> None:
    with pytest.raises(SystemExit):
        krew["tag_of"](version)


def test_platforms_krew_does_not_know_or_twice_are_refused() -> None:
    with pytest.raises(SystemExit):
        krew["Platform"]("freebsd", "amd64", "a" * 64)
    with pytest.raises(SystemExit):
        krew["render_manifest"]("v1.0.0", [krew["Platform"]("linux", "amd64", "a" * 64)] * 2)


def test_what_krew_would_not_unpack_is_named() -> None:
    good = [("LICENSE", "file"), ("kubectl-oras", "exec"), ("_internal", "dir"), ("_internal/a.so", "exec")]
    assert krew["krew_problems"](good) == []
    problems = krew["krew_problems"]([("LICENSE", "file"), ("kubectl-oras", "file"), ("_internal/lib.so", "symlink"),
                                      ("_internal/a..b", "file")])
    assert len(problems) == 3
    assert any("symlink" in p for p in problems) and any("'..'" in p for p in problems)
    assert any("executable" in p for p in problems)
    assert krew["krew_problems"]([("kubectl-oras", "exec")]) == [
        "no LICENSE at the top (the krew index requires one to be installed)"]


def _bundle(root: Path) -> Path:
    (root / "_internal" / "pkg").mkdir(parents=True)
    (root / "kubectl-oras").write_bytes(b"\x7fELF")
    (root / "kubectl-oras").chmod(0o700)
    (root / "LICENSE").write_text("licence\n")
    (root / "_internal" / "pkg" / "data.sh").write_text("echo\n")
    (root / "_internal" / "pkg" / "data.sh").chmod(0o600)
    return root


def test_the_archive_is_the_same_bytes_for_the_same_bundle(tmp_path: Path) -> None:
    one, two = _bundle(tmp_path / "one"), _bundle(tmp_path / "two")
    os.utime(two / "LICENSE", (1, 1))  # other times, another directory: same archive
    krew["write_archive"](one, tmp_path / "one.tar.gz")
    krew["write_archive"](two, tmp_path / "two.tar.gz")
    assert (tmp_path / "one.tar.gz").read_bytes() == (tmp_path / "two.tar.gz").read_bytes()
    assert krew["archive_problems"](tmp_path / "one.tar.gz") == []
    with tarfile.open(tmp_path / "one.tar.gz") as tar:
        members = tar.getmembers()
    assert [m.name for m in members] == sorted(m.name for m in members)
    modes = {m.name: m.mode for m in members}
    assert modes["kubectl-oras"] == 0o755 and modes["_internal/pkg/data.sh"] == 0o644 and modes["_internal"] == 0o755
    assert {(m.uid, m.gid, m.uname, m.gname, m.mtime) for m in members} == {(0, 0, "", "", 0)}


def test_a_bundle_krew_could_not_unpack_is_not_archived(tmp_path: Path) -> None:
    bundle = _bundle(tmp_path / "b")
    (bundle / "_internal" / "link.so").symlink_to("pkg/data.sh")
    with pytest.raises(SystemExit, match="symlink"):
        krew["write_archive"](bundle, tmp_path / "b.tar.gz")
    assert not (tmp_path / "b.tar.gz").exists()


def test_the_release_constraints_satisfy_the_project_s_requirements() -> None:
    """What the bundle freezes (scripts/release/constraints.txt) is allowed by pyproject.toml: typer
    stays below 0.29 there too (0.29 loads pydantic on every command), and so pydantic is not pinned
    (release.sh refuses constraints that name what the requirements do not install)."""
    import tomllib

    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    pins = {}
    for line in (REPO / "scripts" / "release" / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, version = line.split("==")
            pins[canonicalize_name(name)] = version
    project = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]
    for text in project["dependencies"] + project["optional-dependencies"]["release"]:
        requirement = Requirement(text)
        name = canonicalize_name(requirement.name)
        assert name in pins, f"{name} is not pinned in constraints.txt"
        assert requirement.specifier.contains(pins[name], prereleases=True), (text, pins[name])
    assert "pydantic" not in pins and "pydantic-core" not in pins


def test_the_bundles_completer_runs_the_program_beside_it_wherever_it_is_linked_from(tmp_path: Path) -> None:
    """kubectl runs kubectl_complete-oras from PATH (a link into krew's store); it answers through
    the bundle's own kubectl-oras, as `kubectl-oras __complete WORDS…`."""
    store, on_path = tmp_path / "store" / "oras" / "v0.2.0", tmp_path / "bin"
    store.mkdir(parents=True)
    on_path.mkdir()
    krew["main"](["completer", str(store)])
    program = store / "kubectl-oras"
    program.write_text('#!/bin/sh\necho "$0 $*"\n')
    program.chmod(0o755)
    (on_path / "kubectl_complete-oras").symlink_to(store / "kubectl_complete-oras")
    done = subprocess.run([str(on_path / "kubectl_complete-oras"), "status", "-n", "lab", ""], capture_output=True,
                          text=True, timeout=30)
    assert done.stdout == f"{program} __complete status -n lab \n", done.stderr
