"""The krew side of a release: the archive krew unpacks, and the plugin manifest that names it.

    python3 scripts/release/krew.py archive BUNDLE_DIR OUT_DIR OS ARCH   # prints the archive's path
    python3 scripts/release/krew.py manifest ARCHIVE... [--output FILE]  # the manifest for these archives

The archive is reproducible: entries sorted, owner 0, one mtime (SOURCE_DATE_EPOCH, else 0),
modes 0755/0644, a gzip header without name or time; the same bundle gives the same bytes, so the
same sha256. It holds only directories and regular files, no name with "..": krew's unpacker
refuses anything else (symlinks included). The manifest is a function of the package's version
and each archive's platform and sha256, so `krew.yaml` in the repository is exactly this output.

Only the standard library: it runs before anything is installed.
"""

from __future__ import annotations

import argparse
import ast
import gzip
import hashlib
import os
import re
import stat
import sys
import tarfile
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PLUGIN = "oras"  # `kubectl oras`: krew links bin/kubectl-oras to the bundle's executable
EXECUTABLE = "kubectl-oras"
COMPLETER = "kubectl_complete-oras"  # kubectl >= 1.26 runs it to complete `kubectl oras ...` (docs/cli.md)
COMPLETER_SCRIPT = """\
#!/bin/sh
# kubectl (1.26 and later) runs this to complete `kubectl oras ...`: the bundle's kubectl-oras
# answers, found beside this file wherever it is linked from (docs/cli.md, Completion).
here=$(dirname "$(readlink -f "$0")")
exec "$here/kubectl-oras" __complete "$@"
"""
LICENSE = "LICENSE"
# Until the project has a public home, its manifests and archives point here (docs/packaging.md).
HOMEPAGE = "https://example.invalid/kubectl-oras"
# krew's own list of the <os, arch> pairs it installs for (validate-krew-manifest's allPlatforms).
KREW_PLATFORMS = {
    ("linux", "amd64"), ("linux", "arm64"), ("linux", "arm"), ("linux", "386"), ("linux", "ppc64le"),
    ("darwin", "amd64"), ("darwin", "arm64"), ("darwin", "386"),
    ("windows", "amd64"), ("windows", "arm64"), ("windows", "386"),
}
SEMVER = re.compile(r"^v(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)(-[0-9A-Za-z.-]+)?(\+[0-9A-Za-z.-]+)?$")
ARCHIVE_NAME = re.compile(r"^kubectl-oras_(?P<tag>v[^_]+)_(?P<os>[a-z0-9]+)_(?P<arch>[a-z0-9]+)\.tar\.gz$")

SHORT_DESCRIPTION = "Pass files between workflow steps through OCI"  # krew-index asks for <= 50
DESCRIPTION = """\
Pass files between the steps of a Kubernetes workflow through an OCI registry,
and pull the results with one command. Annotated pods get an agent that pulls
their inputs before the step and pushes their outputs after it, into a registry
the controller runs in the namespace (an OrasCache). Direct mode (push, pull,
tags, ls, rm, gc) works against any registry you can reach, with no cluster.

The plugin is a self-contained bundle: it needs no Python on your machine.
"""
CAVEATS = """\
This build runs on Linux with glibc 2.36 or newer (Debian 12, Ubuntu 23.04 and later).

Direct mode (push, pull, tags, ls, rm, gc with -r HOST) needs nothing in a cluster. The
caches and the agent in annotated pods need the controller, installed once per cluster with
`kubectl oras install --image IMAGE`, where IMAGE is the controller image built from the
project's Containerfile and pushed to a registry the cluster pulls from.

Shell completion of `kubectl oras` (kubectl 1.26 and later) needs kubectl_complete-oras on
PATH, which krew does not link; link it once (again after an upgrade):
ln -sf "${KREW_ROOT:-$HOME/.krew}"/store/oras/*/kubectl_complete-oras "${KREW_ROOT:-$HOME/.krew}/bin/"
"""


def package_version() -> str:
    """kubectl_oras.release.__version__, read without importing the package (nothing is installed yet)."""
    tree = ast.parse((REPO / "kubectl_oras" / "release.py").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "__version__" for t in node.targets):
            value = node.value
            if isinstance(value, ast.Constant) and isinstance(value.value, str):
                return value.value
    raise SystemExit("kubectl_oras/release.py sets no __version__ string")


def tag_of(version: str) -> str:
    tag = "v" + version
    if not SEMVER.match(tag):
        raise SystemExit(f"version {version!r} is not semantic (krew wants vMAJOR.MINOR.PATCH)")
    return tag


def archive_name(tag: str, os_name: str, arch: str) -> str:
    return f"kubectl-oras_{tag}_{os_name}_{arch}.tar.gz"


# -- the archive ---------------------------------------------------------------------------------

def _entries(bundle: Path) -> list[tuple[str, Path]]:
    """(name in the archive, path) of every directory and file under ``bundle``, sorted by name."""
    found: list[tuple[str, Path]] = []
    for root, dirs, files in os.walk(bundle):
        for name in dirs + files:
            path = Path(root) / name
            found.append((path.relative_to(bundle).as_posix(), path))
    return sorted(found)


def krew_problems(names_and_kinds: list[tuple[str, str]]) -> list[str]:
    """What krew's unpacker would refuse or miss in an archive of (name, kind) entries, kind being
    "dir", "file", "exec" (a file with the executable bit) or anything else (a link, a device…)."""
    problems = []
    kinds = dict(names_and_kinds)
    for name, kind in names_and_kinds:
        if ".." in name:
            problems.append(f"{name}: krew refuses any name containing '..'")
        if name.startswith(("/", "\\")):
            problems.append(f"{name}: absolute")
        if kind not in ("dir", "file", "exec"):
            problems.append(f"{name}: a {kind}; krew unpacks only directories and regular files")
    if kinds.get(LICENSE) not in ("file", "exec"):
        problems.append(f"no {LICENSE} at the top (the krew index requires one to be installed)")
    if kinds.get(EXECUTABLE) != "exec" and kinds.get(EXECUTABLE + ".exe") not in ("file", "exec"):
        problems.append(f"no executable {EXECUTABLE} at the top")
    return problems


def _kind(mode: int) -> str:
    if stat.S_ISDIR(mode):
        return "dir"
    if stat.S_ISREG(mode):
        return "exec" if mode & 0o111 else "file"
    return "symlink" if stat.S_ISLNK(mode) else "special file"


def write_archive(bundle: Path, out: Path, mtime: int = 0) -> None:
    """``bundle``'s tree as a reproducible tar.gz at ``out`` (refused if krew could not unpack it)."""
    entries = _entries(bundle)
    problems = krew_problems([(name, _kind(path.lstat().st_mode)) for name, path in entries])
    if problems:
        raise SystemExit(f"{bundle} cannot be a krew archive:\n  " + "\n  ".join(problems))
    tmp = out.with_name(out.name + ".tmp")
    with (tmp.open("wb") as raw, gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=0, compresslevel=9) as gz,
          tarfile.open(fileobj=gz, mode="w", format=tarfile.GNU_FORMAT) as tar):
        for name, path in entries:
            mode = path.lstat().st_mode
            info = tarfile.TarInfo(name)
            info.mtime, info.uid, info.gid, info.uname, info.gname = mtime, 0, 0, "", ""
            if stat.S_ISDIR(mode):
                info.type, info.mode = tarfile.DIRTYPE, 0o755
                tar.addfile(info)
            else:
                info.mode = 0o755 if mode & 0o111 else 0o644
                info.size = path.stat().st_size
                with path.open("rb") as f:
                    tar.addfile(info, f)
    tmp.replace(out)


def archive_problems(path: Path) -> list[str]:
    """krew_problems of an archive already written (what the tests check of a built one)."""
    with tarfile.open(path, "r:gz") as tar:
        members = tar.getmembers()
    entries = []
    for m in members:
        kind = "dir" if m.isdir() else ("exec" if m.mode & 0o111 else "file") if m.isreg() else m.type.decode()
        entries.append((m.name, kind))
    return krew_problems(entries)


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with path.open("rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


# -- the manifest --------------------------------------------------------------------------------

@dataclass(frozen=True)
class Platform:
    os: str
    arch: str
    sha256: str

    def __post_init__(self) -> None:
        if (self.os, self.arch) not in KREW_PLATFORMS:
            raise SystemExit(f"{self.os}/{self.arch} is not a platform krew installs for")
        if not re.fullmatch(r"[0-9a-f]{64}", self.sha256):
            raise SystemExit(f"{self.sha256!r} is not a sha256")


def platform_of_archive(path: Path, tag: str) -> Platform:
    match = ARCHIVE_NAME.match(path.name)
    if not match:
        raise SystemExit(f"{path.name}: not named kubectl-oras_TAG_OS_ARCH.tar.gz")
    if match["tag"] != tag:
        raise SystemExit(f"{path.name} is of {match['tag']}, the package is {tag}")
    return Platform(match["os"], match["arch"], sha256_of(path))


def _block(text: str, indent: str) -> str:
    return "".join(indent + line if line.strip() else "\n" for line in text.splitlines(keepends=True))


def render_manifest(tag: str, platforms: list[Platform]) -> str:
    """The krew plugin manifest (YAML) for ``tag`` with one entry per platform, sorted."""
    if not platforms:
        raise SystemExit("a krew manifest needs at least one platform")
    if len({(p.os, p.arch) for p in platforms}) != len(platforms):
        raise SystemExit("two archives for the same platform")
    lines = [
        "# Generated by scripts/release.sh (scripts/release/krew.py) from the built archives: edit krew.py, not this.",
        "apiVersion: krew.googlecontainertools.github.com/v1alpha2",
        "kind: Plugin",
        "metadata:",
        f"  name: {PLUGIN}",
        "spec:",
        f"  version: {tag}",
        f"  homepage: {HOMEPAGE}",
        f"  shortDescription: {SHORT_DESCRIPTION}",
        "  description: |",
        _block(DESCRIPTION, "    ").rstrip("\n"),
        "  caveats: |",
        _block(CAVEATS, "    ").rstrip("\n"),
        "  platforms:",
    ]
    for p in sorted(platforms, key=lambda p: (p.os, p.arch)):
        executable = EXECUTABLE + (".exe" if p.os == "windows" else "")
        lines += [
            "  - selector:",
            "      matchLabels:",
            f"        os: {p.os}",
            f"        arch: {p.arch}",
            f"    uri: {HOMEPAGE}/releases/download/{tag}/{archive_name(tag, p.os, p.arch)}",
            f"    sha256: {p.sha256}",
            f"    bin: {executable}",
            "    files:",
            f"    - from: {executable}",
            "      to: .",
            "    - from: _internal",
            "      to: .",
            *([f"    - from: {COMPLETER}", "      to: ."] if p.os != "windows" else []),
            f"    - from: {LICENSE}",
            "      to: .",
        ]
    return "\n".join(lines) + "\n"


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(prog="krew.py")
    sub = parser.add_subparsers(dest="command", required=True)
    a = sub.add_parser("archive", help="the reproducible krew archive of a bundle")
    a.add_argument("bundle", type=Path)
    a.add_argument("out_dir", type=Path)
    a.add_argument("os")
    a.add_argument("arch")
    c = sub.add_parser("completer", help=f"write {COMPLETER} into a bundle")
    c.add_argument("bundle", type=Path)
    m = sub.add_parser("manifest", help="the krew manifest for built archives")
    m.add_argument("archives", type=Path, nargs="+")
    m.add_argument("--output", type=Path)
    args = parser.parse_args(argv)
    tag = tag_of(package_version())
    if args.command == "completer":
        script = args.bundle / COMPLETER
        script.write_text(COMPLETER_SCRIPT)
        script.chmod(0o755)
    elif args.command == "archive":
        out = args.out_dir / archive_name(tag, args.os, args.arch)
        write_archive(args.bundle, out, mtime=int(os.environ.get("SOURCE_DATE_EPOCH", "0")))
        print(out)
    else:
        text = render_manifest(tag, [platform_of_archive(p, tag) for p in args.archives])
        if args.output:
            args.output.write_text(text)
        else:
            sys.stdout.write(text)


if __name__ == "__main__":
    main(sys.argv[1:])
