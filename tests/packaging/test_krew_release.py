"""The krew release, for real: the archive scripts/release.sh builds, krew's own manifest validator
(sigs.k8s.io/krew, pinned, built from its module), and the real krew installing the plugin into a
clean Debian root where none of the project's Python packages exist, kubectl finding it as a
plugin, its version (--client, and with no cluster to ask), install --dry-run rendering the
manifests it carries, pulling from a registry on loopback, and krew uninstalling it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest
import yaml

import kubectl_oras
from tests.support.registries import RegistryProcess

from .release import REPO, Release, clean_root, in_root, krew, krew_module, kubectl, release_build, remove_root, serving


@pytest.fixture(scope="module")
def release() -> Release:
    return release_build()


def test_the_archive_is_one_krew_unpacks(release: Release) -> None:
    assert krew_module()["archive_problems"](release.archive) == []
    with tarfile.open(release.archive, "r:gz") as tar:
        members = {m.name: m for m in tar.getmembers()}
        assert tar.extractfile(members["LICENSE"]).read() == (REPO / "LICENSE").read_bytes()  # type: ignore[union-attr]
    assert {(m.uid, m.gid, m.uname, m.gname) for m in members.values()} == {(0, 0, "", "")}
    assert len({m.mtime for m in members.values()}) == 1
    assert members["kubectl-oras"].mode == 0o755
    # Every file of the package that is not Python travels with it (the agent's wrapper), and the
    # manifests where the wheel puts them (kubectl_oras/manifests/, from the top-level manifests/).
    package_data = [p.relative_to(REPO).as_posix() for p in (REPO / "kubectl_oras").rglob("*")
                    if p.is_file() and p.suffix not in (".py", ".pyc") and "__pycache__" not in p.parts]
    package_data += [f"kubectl_oras/manifests/{p.name}" for p in (REPO / "manifests").glob("*.yaml")]
    assert "kubectl_oras/agent/oras-wrap.sh" in package_data
    assert "kubectl_oras/manifests/kustomization.yaml" in package_data
    missing = [name for name in package_data if f"_internal/{name}" not in members]
    assert missing == []
    # Nothing of the controller, the tests or the test tools; no pydantic (typer < 0.29 needs none).
    assert not [name for name in members if name.split("/")[1:2] in (["controller"], ["tests"], ["pytest"])]
    assert not [name for name in members if name.startswith(("_internal/pydantic", "_internal/annotated_types"))]


def test_a_credential_plugin_the_bundle_starts_gets_the_users_environment_not_the_bundles(
        release: Release, tmp_path: Path) -> None:
    """A kubeconfig's exec plugin (aws, gke-gcloud-auth-plugin, …) must load its own libraries: the
    bundle's LD_LIBRARY_PATH (into _internal/) and PyInstaller's _PYI_* variables are not passed on."""
    unpacked = tmp_path / "plugin"
    unpacked.mkdir()
    with tarfile.open(release.archive, "r:gz") as tar:
        tar.extractall(unpacked, filter="tar")
    seen = tmp_path / "seen.env"
    plugin = tmp_path / "credentials.sh"
    plugin.write_text(f"#!/bin/sh\nenv > {seen}\n"
                      'echo \'{"apiVersion": "client.authentication.k8s.io/v1", "kind": "ExecCredential", '
                      '"status": {"token": "t"}}\'\n')
    plugin.chmod(0o755)
    config = {"apiVersion": "v1", "kind": "Config", "current-context": "c",
              "clusters": [{"name": "c", "cluster": {"server": "https://127.0.0.1:9"}}],
              "contexts": [{"name": "c", "context": {"cluster": "c", "user": "u"}}],
              "users": [{"name": "u", "user": {"exec": {"apiVersion": "client.authentication.k8s.io/v1",
                                                        "command": str(plugin), "interactiveMode": "Never"}}}]}
    (tmp_path / "kubeconfig").write_text(yaml.safe_dump(config))
    env = {"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "KUBECONFIG": str(tmp_path / "kubeconfig"),
           "LD_LIBRARY_PATH": "/users/own/lib"}
    done = subprocess.run([str(unpacked / "kubectl-oras"), "version"], env=env, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 0 and done.stdout.startswith(f"kubectl-oras {kubectl_oras.__version__}"), done.stderr
    inherited = dict(line.split("=", 1) for line in seen.read_text().splitlines() if "=" in line)
    assert inherited.get("LD_LIBRARY_PATH") == "/users/own/lib"  # the user's, as it was
    assert [name for name in inherited if name.startswith("_PYI_")] == []
    assert not [v for v in inherited.values() if "_internal" in v]


def test_the_committed_manifest_is_the_build_s_but_for_the_sha256(release: Release) -> None:
    built, committed = yaml.safe_load(release.manifest.read_text()), yaml.safe_load((REPO / "krew.yaml").read_text())
    for manifest in (built, committed):
        for platform in manifest["spec"]["platforms"]:
            platform["sha256"] = "-"
    assert built == committed, "krew.yaml is out of date: scripts/release.sh --write-krew-yaml"
    assert built["spec"]["version"] == "v" + kubectl_oras.__version__


def test_krew_s_validator_accepts_the_manifest_and_installs_every_platform(release: Release, tmp_path: Path) -> None:
    """validate-krew-manifest (what the krew index runs on a pull request): the structural rules,
    the platform selectors, and an install per platform that must extract a LICENSE. Its install
    downloads the uri, so the manifest under test is the built one with the archive's address on
    loopback in place of the release address (nothing else differs)."""
    with serving(release.archive.parent) as base:
        text = release.manifest.read_text()
        tag = yaml.safe_load(text)["spec"]["version"]
        release_base = f"{krew_module()['HOMEPAGE']}/releases/download/{tag}"
        assert release_base in text
        manifest = tmp_path / "oras.yaml"  # the validator takes the plugin's name from the file's
        manifest.write_text(text.replace(release_base, base))
        env = {"PATH": f"{krew()}:{kubectl().parent}:/usr/bin:/bin", "HOME": str(tmp_path), "TMPDIR": str(tmp_path),
               "KREW_NO_UPGRADE_CHECK": "1"}
        done = subprocess.run([str(krew() / "validate-krew-manifest"), "-manifest", str(manifest)],
                              capture_output=True, text=True, env=env, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "structural validation OK" in done.stderr
    assert "all 1 spec.platforms installed fine" in done.stderr


@pytest.fixture(scope="module")
def root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = clean_root(tmp_path_factory.mktemp("clean-root") / "root")
    yield path
    remove_root(path)


ROOT_ENV = {
    "PATH": "/root/.krew/bin:/opt/kubectl:/opt/krew:/usr/local/bin:/usr/bin:/bin",
    "HOME": "/root",
    "KREW_ROOT": "/root/.krew",
    "KREW_NO_UPGRADE_CHECK": "1",
    "PYTHONNOUSERSITE": "1",
}


def _ok(result: subprocess.CompletedProcess) -> str:
    assert result.returncode == 0, f"exit {result.returncode}\nstdout: {result.stdout[-2000:]}\nstderr: {result.stderr[-3000:]}"
    return result.stdout


def test_krew_installs_the_plugin_where_no_python_of_ours_exists_and_it_runs(
        release: Release, root: Path, any_registry: RegistryProcess, oras: str, tmp_path: Path) -> None:
    # The root: krew and kubectl (built from their modules), the release's archive and manifest.
    for name, src in (("opt/krew", krew() / "kubectl-krew"), ("opt/kubectl", kubectl())):
        (root / name).mkdir(parents=True, exist_ok=True)
        shutil.copy2(src, root / name)
    (root / "release").mkdir(exist_ok=True)
    shutil.copy2(release.archive, root / "release")
    shutil.copy2(release.manifest, root / "release" / "oras.yaml")

    # The Python there (Debian's) has none of the project's packages: a source install could not run.
    for module in ("kubectl_oras", "aiohttp", "typer", "cryptography"):
        result = in_root(root, ["python3", "-c", f"import {module}"], ROOT_ENV)
        assert result.returncode == 1 and "ModuleNotFoundError" in result.stderr, (module, result.stderr)

    install = in_root(root, ["kubectl", "krew", "install", "--manifest=/release/oras.yaml",
                             f"--archive=/release/{release.archive.name}"], ROOT_ENV)
    _ok(install)
    assert "Installed plugin: oras" in install.stderr
    assert "kubectl oras install" in install.stderr  # the caveats are shown
    assert (root / "root/.krew/bin/kubectl-oras").is_symlink()
    assert (root / "root/.krew/store/oras").is_dir()

    # Then no Python at all: the bundle brings its own.
    for python in (root / "usr/bin").glob("python3*"):
        python.unlink()
    assert _ok(in_root(root, ["sh", "-c", "command -v python3 || echo none"], ROOT_ENV)).strip() == "none"

    # kubectl's plugin discovery finds it on PATH (KREW_ROOT/bin), through krew's symlink.
    assert "/root/.krew/bin/kubectl-oras" in _ok(in_root(root, ["kubectl", "plugin", "list"], ROOT_ENV))
    assert "Usage: kubectl oras [OPTIONS]" in _ok(in_root(root, ["kubectl", "oras", "--help"], ROOT_ENV))  # as typed
    assert "List the tags of a repository" in _ok(in_root(root, ["kubectl", "oras", "tags", "--help"], ROOT_ENV))

    # kubectl completes `kubectl oras` through the bundle's kubectl_complete-oras, once linked onto
    # PATH as the caveats say (krew links only the plugin itself).
    assert "kubectl_complete-oras" in install.stderr
    _ok(in_root(root, ["sh", "-c", 'ln -sf /root/.krew/store/oras/*/kubectl_complete-oras /root/.krew/bin/'], ROOT_ENV))
    completed = _ok(in_root(root, ["kubectl", "__complete", "oras", "sta"], ROOT_ENV)).splitlines()
    assert completed[0].startswith("status\t") and completed[-1] == ":4"

    # A real pull in direct mode from a registry on loopback (the root shares the network).
    (tmp_path / "result.txt").write_text("made outside the root\n")
    subprocess.run([oras, "push", "--plain-http", f"{any_registry.host}/krew/pulled:v1", "result.txt"],
                   cwd=tmp_path, check=True, capture_output=True)
    # version --client asks no cluster; plain version with no cluster to ask (no kubeconfig here)
    # still prints the client's version and succeeds, at once, saying why the controller's is unknown.
    client = f"kubectl-oras {kubectl_oras.__version__}\n"
    assert _ok(in_root(root, ["kubectl", "oras", "version", "--client"], ROOT_ENV)) == client
    start = time.monotonic()
    assert _ok(in_root(root, ["kubectl", "oras", "version"], ROOT_ENV)) == \
        client + "controller unknown: no cluster to ask (no kubeconfig, not in a pod)\n"
    assert time.monotonic() - start < 10  # at once: no client loaded (a loaded 2-core machine varies)
    # install renders the manifests the bundle carries: the same objects as from the source tree.
    env = {k: v for k, v in os.environ.items() if k != "KUBECTL_ORAS_IMAGE"}
    from_source = subprocess.run([sys.executable, "-m", "kubectl_oras", "install", "--dry-run"], cwd=REPO, env=env,
                                 capture_output=True, text=True, check=True).stdout
    rendered = _ok(in_root(root, ["kubectl", "oras", "install", "--dry-run"], ROOT_ENV))
    assert "kind: CustomResourceDefinition" in rendered and f"image: kubectl-oras:{kubectl_oras.__version__}" in rendered
    assert rendered == from_source

    tags = _ok(in_root(root, ["kubectl", "oras", "tags", "krew/pulled", "-r", any_registry.host, "--plain-http"], ROOT_ENV))
    assert "v1" in tags
    _ok(in_root(root, ["kubectl", "oras", "pull", "krew/pulled:v1", "-o", "/root/out", "-r", any_registry.host,
                       "--plain-http"], ROOT_ENV))
    assert (root / "root/out/result.txt").read_text() == "made outside the root\n"

    # krew uninstall needs a local index (a git clone: `kubectl krew update` makes it, from the
    # network this machine does not have); an empty local repository stands for it.
    subprocess.run(["git", "init", "-q", str(root / "root/.krew/index/default")], check=True)
    uninstall = in_root(root, ["kubectl", "krew", "uninstall", "oras"], ROOT_ENV)
    _ok(uninstall)
    assert "Uninstalled plugin: oras" in uninstall.stderr
    assert not os.path.lexists(root / "root/.krew/bin/kubectl-oras")
    assert not (root / "root/.krew/store/oras").exists()
    gone = in_root(root, ["kubectl", "oras", "--help"], ROOT_ENV)
    assert gone.returncode != 0 and "unknown command" in gone.stderr
