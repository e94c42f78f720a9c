"""The krew release as the packaging tests use it: the build (scripts/release.sh, cached by the
sources it freezes), krew itself, and a clean Debian root with none of the project's Python in it."""

from __future__ import annotations

import contextlib
import functools
import http.server
import json
import os
import runpy
import shutil
import subprocess
import tarfile
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.support.tools import built

REPO = Path(__file__).resolve().parents[2]
KREW_SCRIPT = REPO / "scripts" / "release" / "krew.py"


def krew_module() -> dict:
    """scripts/release/krew.py's names (it is a script, not a package)."""
    return runpy.run_path(str(KREW_SCRIPT))


@dataclass(frozen=True)
class Release:
    archive: Path
    manifest: Path  # oras.yaml: the name krew's validator wants (plugin name + .yaml)

    @property
    def bundle(self) -> Path:
        return self.archive.parent / "dist" / "kubectl-oras"


@functools.cache
def release_build() -> Release:
    """This checkout's release for this machine (built once per source change, then cached)."""
    result = subprocess.run(["nice", "-n", "19", "bash", str(REPO / "scripts" / "release.sh"),
                             "--out", str(REPO / "build" / "release")], capture_output=True, text=True)
    if result.returncode != 0:
        raise RuntimeError(f"scripts/release.sh failed:\n{result.stderr[-4000:]}")
    paths = dict(line.split("=", 1) for line in result.stdout.splitlines() if "=" in line)
    return Release(Path(paths["archive"]), Path(paths["manifest"]))


def krew() -> Path:
    return built("krew")


def kubectl() -> Path:
    return built("kubectl") / "kubectl"


@contextlib.contextmanager
def serving(directory: Path) -> Iterator[str]:
    """``directory`` over HTTP on loopback (what krew's validator downloads from); yields the base URL."""
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


def clean_root(directory: Path) -> Path:
    """A Debian bookworm root (debootstrap; python3 from Debian, none of our packages) unpacked
    into ``directory``: the tier-3 node's base image, built and cached by localcluster/project_image."""
    from localcluster.project_image import base_archive

    archive = base_archive()
    directory.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive) as oci:
        index = json.load(oci.extractfile("index.json"))  # type: ignore[arg-type]
        manifest_digest = index["manifests"][0]["digest"].split(":", 1)[1]
        manifest = json.load(oci.extractfile(f"blobs/sha256/{manifest_digest}"))  # type: ignore[arg-type]
        layers = [layer["digest"].split(":", 1)[1] for layer in manifest["layers"]]
    for digest in layers:  # GNU tar: device nodes, owners and modes as the layer has them
        with open(directory / ".layer", "wb") as layer:
            subprocess.run(["tar", "-xf", archive, "-O", f"blobs/sha256/{digest}"], check=True, stdout=layer)
        subprocess.run(["tar", "-C", str(directory), "-xf", str(directory / ".layer")], check=True)
        (directory / ".layer").unlink()
    return directory


def in_root(root: Path, argv: list[str], env: dict[str, str], timeout: float = 120) -> subprocess.CompletedProcess:
    """``argv`` run inside ``root`` (chroot) with ONLY ``env`` as its environment, /proc and /dev
    mounted in a mount namespace of its own (gone with it: nothing to unmount afterwards)."""
    script = (f'mount -t proc proc "{root}/proc" && mount --rbind /dev "{root}/dev" && '
              f'exec chroot "{root}" /usr/bin/env -i "$@"')
    pairs = [f"{k}={v}" for k, v in env.items()]
    return subprocess.run(["unshare", "--mount", "--propagation", "private", "--fork", "sh", "-c", script, "sh",
                           *pairs, *argv], capture_output=True, text=True, timeout=timeout)


def remove_root(root: Path) -> None:
    """Delete a root made by clean_root (its mounts died with the processes that made them)."""
    for mount in ("proc", "dev"):
        if os.path.ismount(root / mount):
            raise RuntimeError(f"{root / mount} is still mounted: not deleting through it")
    shutil.rmtree(root, ignore_errors=True)
