"""The project's own image, built from its Containerfile with buildah — no Docker, no registry.

The base is a Debian root filesystem made by debootstrap (Python 3.11 from Debian, pip,
busybox-static), committed as an OCI archive and cached in ~/.cache/kubectl-oras/images keyed by
its package list. Python dependencies are built into wheels on the host first (pip talks to
PyPI with the host's certificates) and installed in the image without network.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CACHE = Path(os.environ.get("KUBECTL_ORAS_CACHE") or Path.home() / ".cache" / "kubectl-oras") / "images"
SUITE = "bookworm"
MIRROR = "http://deb.debian.org/debian"
BASE_PACKAGES = ("python3", "python3-pip", "busybox-static", "ca-certificates")
BASE_NAME = "localhost/kubectl-oras-test/python-base:bookworm"
IMAGE_NAME = "localhost/kubectl-oras:test"
SOURCES = ("Containerfile", ".containerignore", "pyproject.toml", "setup.py", "README.md", "kubectl_oras", "controller",
           "manifests")


def _run(*argv: str, **kw) -> subprocess.CompletedProcess:
    result = subprocess.run(list(argv), capture_output=True, text=True, **kw)
    if result.returncode != 0:
        raise RuntimeError(f"{' '.join(argv[:3])}… failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return result


def base_archive() -> Path:
    key = hashlib.sha256(f"{SUITE} {MIRROR} {' '.join(BASE_PACKAGES)} v1".encode()).hexdigest()[:12]
    path = CACHE / f"python-base-{SUITE}-{key}.tar"
    if path.exists():
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    rootfs = Path(tempfile.mkdtemp(prefix="kubectl-oras-rootfs-"))
    try:
        _run("debootstrap", "--variant=minbase", f"--include={','.join(BASE_PACKAGES)}", SUITE, str(rootfs), MIRROR)
        for junk in ("var/lib/apt/lists", "var/cache/apt/archives"):
            shutil.rmtree(rootfs / junk, ignore_errors=True)
        container = _run("buildah", "from", "scratch").stdout.strip()
        try:
            _run("buildah", "copy", container, str(rootfs), "/")
            _run("buildah", "config", "--env", "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                 "--cmd", "/bin/sh", container)
            tmp = path.with_suffix(".tmp")
            _run("buildah", "commit", "--rm", container, f"oci-archive:{tmp}:{BASE_NAME}")
            tmp.rename(path)
        finally:
            subprocess.run(["buildah", "rm", container], capture_output=True)
    finally:
        shutil.rmtree(rootfs, ignore_errors=True)
    return path


def files_key(names: tuple[str, ...], salt: str = "") -> str:
    """A digest of the files ``names`` (under the checkout) hold, to key a cached archive by."""
    h = hashlib.sha256(salt.encode())
    for name in names:
        root = REPO / name
        paths = [root] if root.is_file() else sorted(
            p for p in root.rglob("*")
            if p.is_file() and not any(part == "__pycache__" or part.endswith(".egg-info") for part in p.parts))
        for p in paths:
            h.update(str(p.relative_to(REPO)).encode())
            h.update(p.read_bytes())
    return h.hexdigest()[:12]


def project_archive() -> Path:
    """The image from our Containerfile, as an OCI archive (rebuilt when a source changes)."""
    base = base_archive()
    return build_archive(CACHE / f"kubectl-oras-{files_key(SOURCES)}-{base.stem[-12:]}.tar", fill=_project_context,
                         base=base, name=IMAGE_NAME, network="host", stale="kubectl-oras-*.tar")


def _project_context(context: Path) -> None:
    for name in SOURCES:
        src = REPO / name
        if src.is_dir():
            shutil.copytree(src, context / name, ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
        else:
            shutil.copy2(src, context / name)
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "-w", str(context / "wheels"), str(context))


def build_archive(path: Path, *, fill: Callable[[Path], None], base: Path, name: str, network: str, stale: str) -> Path:
    """The OCI archive ``path``, unless it is there already: a build context made by ``fill`` (a
    Containerfile and what it copies), built on ``base`` as the image ``name``; the older archives
    matching ``stale`` deleted."""
    if path.exists():
        return path
    context = Path(tempfile.mkdtemp(prefix="kubectl-oras-build-"))
    try:
        fill(context)
        _run("buildah", "bud", f"--network={network}", "--layers=false", "--build-arg", f"BASE=oci-archive:{base}",
             "-t", name, "-f", str(context / "Containerfile"), str(context))
        tmp = path.with_suffix(".tmp")
        _run("buildah", "push", name, f"oci-archive:{tmp}:{name}")
        tmp.rename(path)
    finally:
        shutil.rmtree(context, ignore_errors=True)
        # Each source change makes a new ~100 MB archive and ~300 MB in buildah's storage:
        # keep only the newest, so a machine that runs CI often does not fill its disk.
        subprocess.run(["buildah", "rmi", "--force", name], capture_output=True)
        subprocess.run(["buildah", "rmi", "--prune"], capture_output=True)
    for old in CACHE.glob(stale):
        if old != path:
            old.unlink(missing_ok=True)
    return path
