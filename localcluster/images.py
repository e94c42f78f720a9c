"""Container images for a local cluster's nodes, made without Docker and without any image
registry: root filesystems written here (busybox from Debian's busybox-static, the Go-built
registry), packed as OCI image archives that `ctr images import` loads into containerd. Nothing is
ever pulled: manifests run offline because their images are already on every node.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import subprocess
import tarfile
from dataclasses import dataclass, field
from pathlib import Path

from .binaries import built

BUSYBOX = "/bin/busybox"
APPLETS = ("sh", "echo", "cat", "ls", "sleep", "true", "false", "touch", "mkdir", "cp", "mv", "rm", "env", "tee",
           "head", "wc", "grep", "seq", "date", "id", "hostname", "nslookup", "wget", "test", "[",
           "du", "cut", "tail", "kill", "df", "timeout")


@dataclass
class Image:
    name: str  # e.g. localhost/kubectl-oras-test/busybox:1
    files: dict[str, bytes | str] = field(default_factory=dict)  # path -> content, or "->target" symlink
    modes: dict[str, int] = field(default_factory=dict)
    entrypoint: list[str] | None = None
    cmd: list[str] | None = None
    env: list[str] = field(default_factory=lambda: ["PATH=/bin:/usr/bin:/usr/local/bin"])
    workdir: str = "/"


def _layer(image: Image) -> bytes:
    """A reproducible uncompressed tar of the image's files (parents made, sorted, fixed times)."""
    buf = io.BytesIO()
    dirs: set[str] = set()
    with tarfile.open(fileobj=buf, mode="w", format=tarfile.PAX_FORMAT) as tar:
        for path in sorted(image.files):
            parts = path.strip("/").split("/")
            for i in range(1, len(parts)):
                d = "/".join(parts[:i])
                if d not in dirs:
                    dirs.add(d)
                    info = tarfile.TarInfo(d)
                    info.type, info.mode = tarfile.DIRTYPE, 0o755
                    tar.addfile(info)
            content = image.files[path]
            info = tarfile.TarInfo(path.strip("/"))
            if isinstance(content, str) and content.startswith("->"):
                info.type, info.linkname, info.mode = tarfile.SYMTYPE, content[2:], 0o777
                tar.addfile(info)
            else:
                data = content.encode() if isinstance(content, str) else content
                info.size, info.mode = len(data), image.modes.get(path, 0o644)
                tar.addfile(info, io.BytesIO(data))
        for d in ("tmp", "etc", "proc", "sys", "dev", "var", "run"):
            if d not in dirs:
                info = tarfile.TarInfo(d)
                info.type, info.mode = tarfile.DIRTYPE, 0o1777 if d == "tmp" else 0o755
                tar.addfile(info)
    return buf.getvalue()


def _blob(blobs: dict[str, bytes], data: bytes) -> dict:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    blobs[digest] = data
    return {"digest": digest, "size": len(data)}


def write_oci_archive(image: Image, path: Path) -> Path:
    layer = _layer(image)
    compressed = gzip.compress(layer, mtime=0)
    blobs: dict[str, bytes] = {}
    config = {"architecture": "amd64", "os": "linux",
              "config": {"Env": image.env, "WorkingDir": image.workdir,
                         **({"Entrypoint": image.entrypoint} if image.entrypoint else {}),
                         **({"Cmd": image.cmd} if image.cmd else {})},
              "rootfs": {"type": "layers", "diff_ids": ["sha256:" + hashlib.sha256(layer).hexdigest()]},
              "history": [{"created_by": "kubectl-oras localcluster/images.py"}]}
    config_desc = {"mediaType": "application/vnd.oci.image.config.v1+json", **_blob(blobs, json.dumps(config).encode())}
    layer_desc = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **_blob(blobs, compressed)}
    manifest = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
                "config": config_desc, "layers": [layer_desc]}
    manifest_desc = {"mediaType": "application/vnd.oci.image.manifest.v1+json",
                     **_blob(blobs, json.dumps(manifest).encode()),
                     "annotations": {"io.containerd.image.name": image.name,
                                     "org.opencontainers.image.ref.name": image.name.rsplit(":", 1)[1]},
                     "platform": {"architecture": "amd64", "os": "linux"}}
    index = {"schemaVersion": 2, "mediaType": "application/vnd.oci.image.index.v1+json", "manifests": [manifest_desc]}
    with tarfile.open(path, "w") as tar:
        def add(name: str, data: bytes) -> None:
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))

        add("oci-layout", json.dumps({"imageLayoutVersion": "1.0.0"}).encode())
        add("index.json", json.dumps(index).encode())
        for digest, data in blobs.items():
            add(f"blobs/sha256/{digest.split(':')[1]}", data)
    return path


def busybox_files() -> tuple[dict[str, bytes | str], dict[str, int]]:
    with open(BUSYBOX, "rb") as f:
        files: dict[str, bytes | str] = {"bin/busybox": f.read()}
    files.update({f"bin/{applet}": "->busybox" for applet in APPLETS})
    files["etc/passwd"] = "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n"
    files["etc/group"] = "root:x:0:\nnogroup:x:65534:\n"
    return files, {"bin/busybox": 0o755}


def shell_image() -> Image:
    files, modes = busybox_files()
    return Image("localhost/kubectl-oras-test/shell:1", files, modes, cmd=["sh"])


def busybox_image() -> Image:
    """Under the name `busybox` stands for in a pod spec (the CRI completes it to this), so the
    tutorials' manifests run unchanged. `latest` means imagePullPolicy Always by default: such
    manifests need `imagePullPolicy: IfNotPresent` (or Never) here, as on any offline node."""
    files, modes = busybox_files()
    return Image("docker.io/library/busybox:latest", files, modes, cmd=["sh"])


def pause_image() -> Image:
    """The pod sandbox: PID 1 that sleeps (the pod's containers each have their own PID namespace)."""
    files, modes = busybox_files()
    return Image("localhost/kubectl-oras-test/pause:1", files, modes, entrypoint=["/bin/busybox", "sleep", "2147483647"])


# The OrasCache default, under exactly its name: the node has no way to pull, so an OrasCache with
# an empty spec runs this image (imagePullPolicy IfNotPresent) unchanged.
REGISTRY_IMAGE = "docker.io/library/registry:3.0.0"
# The file the official image ships (its /etc/distribution/config.yml); the controller configures
# the rest through REGISTRY_* variables, as it must for any distribution image.
OFFICIAL_CONFIG = """\
version: 0.1
log:
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: /var/lib/registry
http:
  addr: :5000
  headers:
    X-Content-Type-Options: [nosniff]
health:
  storagedriver:
    enabled: true
    interval: 10s
    threshold: 3
"""


def registry_image(binary: str) -> Image:
    """distribution v3 (Go-built, static) laid out as the official registry:3.0.0 image is, on a
    busybox userland as the official image's Alpine one (/bin/sh runs the controller's supervisor)."""
    files, modes = busybox_files()
    with open(binary, "rb") as f:
        files.update({"bin/registry": f.read(), "etc/distribution/config.yml": OFFICIAL_CONFIG,
                      "var/lib/registry/.keep": ""})
    return Image(REGISTRY_IMAGE, files, {**modes, "bin/registry": 0o755},
                 entrypoint=["/bin/registry"], cmd=["serve", "/etc/distribution/config.yml"])


def archive_path(directory: Path, image: Image) -> Path:
    """Where ``node_archives`` writes ``image``'s archive in ``directory``."""
    return directory / (image.name.rsplit("/", 1)[1].replace(":", "-") + ".tar")


def node_archives(directory: Path) -> list[Path]:
    """The images every node has: the sandbox, the tests' shell, busybox, and the default registry
    image of an OrasCache; written once into ``directory`` and shared by the nodes."""
    directory.mkdir(parents=True, exist_ok=True)
    archives = []
    for image in (pause_image(), shell_image(), busybox_image(), registry_image(str(built("distribution") / "registry"))):
        path = archive_path(directory, image)
        if not path.exists():
            write_oci_archive(image, path.with_suffix(".tmp"))
            path.with_suffix(".tmp").rename(path)
        archives.append(path)
    return archives


def import_image(archive: Path, *, address: str, namespace: str = "k8s.io", also: tuple[str, ...] = ()) -> None:
    """Load ``archive`` into the containerd at ``address``; ``also``: more names for its image."""
    ctr = ["ctr", "--address", address, "-n", namespace]
    subprocess.run([*ctr, "images", "import", str(archive)], check=True, capture_output=True, text=True)
    if also:
        name = image_name(archive_index(archive))
        for other in also:
            subprocess.run([*ctr, "images", "tag", "--force", name, other], check=True, capture_output=True)


def archive_index(archive: Path) -> dict:
    """The ``index.json`` of an OCI image archive."""
    with tarfile.open(archive) as tar:
        member = tar.extractfile("index.json")
        if member is None:
            raise ValueError(f"{archive}: index.json is not a file")
        return json.load(member)


def _only_manifest(index: dict) -> dict:
    manifests = index.get("manifests") or []
    if len(manifests) != 1:
        raise ValueError(f"the archive's index.json lists {len(manifests)} manifests, not one")
    return manifests[0]


def image_name(index: dict) -> str:
    """The name ``ctr images import`` gives the one image an archive's index lists."""
    annotations = _only_manifest(index).get("annotations", {})
    return annotations.get("io.containerd.image.name") or annotations["org.opencontainers.image.ref.name"]


def manifest_digest(index: dict) -> str:
    """The digest of the one manifest an archive's index lists: the image's digest, the one a
    registry would serve it under and a pod spec pins it by (``NAME@DIGEST``)."""
    return _only_manifest(index)["digest"]


def pinned_name(index: dict) -> str:
    """The image's name by digest, tag dropped: ``localhost/kubectl-oras-test/shell@sha256:…``."""
    name = image_name(index)
    host_and_path, _, last = name.rpartition("/")
    repository = f"{host_and_path}/{last.partition(':')[0]}" if host_and_path else last.partition(":")[0]
    return f"{repository}@{manifest_digest(index)}"


__all__ = ["Image", "archive_index", "archive_path", "busybox_image", "image_name", "import_image", "manifest_digest",
           "node_archives", "pause_image", "pinned_name", "registry_image", "shell_image", "write_oci_archive"]
