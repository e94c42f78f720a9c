"""Build and compare directory trees for round-trip tests."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path


def make_tree(root: Path) -> Path:
    """A small results directory: nested files, an empty dir, a relative symlink, an executable."""
    (root / "sub" / "deeper").mkdir(parents=True)
    (root / "empty").mkdir()
    (root / "metrics.json").write_text('{"iter": 0, "time": 1.25}\n')
    (root / "sub" / "log.txt").write_text("".join(f"line {i}\n" for i in range(2000)))
    (root / "sub" / "deeper" / "data.bin").write_bytes(os.urandom(70_000))
    (root / "run.sh").write_text("#!/bin/sh\necho hi\n")
    (root / "run.sh").chmod(0o755)
    (root / "latest").symlink_to("sub/log.txt")
    (root / "name with spaces & $dollar.txt").write_text("odd name\n")
    return root


def snapshot(root: Path) -> dict[str, tuple]:
    """What a tree holds: relative path -> (kind, content or link target, exec bit)."""
    out: dict[str, tuple] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            path = Path(dirpath) / name
            rel = str(path.relative_to(root))
            if path.is_symlink():
                out[rel] = ("link", os.readlink(path), None)
            elif path.is_dir():
                out[rel] = ("dir", None, None)
            else:
                out[rel] = ("file", path.read_bytes(), bool(path.stat().st_mode & 0o100))
    return out


DEEP = 1200  # deeper than Python's recursion limit (1000)


def make_deep_tree(root: Path, depth: int = DEEP) -> Path:
    """``root/d/d/…/d/bottom.txt``, made one level at a time (pathlib's mkdir and os.makedirs recurse).
    Remove it with ``remove_deep_tree``: Python 3.11's shutil.rmtree, which pytest cleans its
    temporary directories with, recurses too, and would fail a later session."""
    path = str(root)
    os.mkdir(path)
    for _ in range(depth):
        path = os.path.join(path, "d")
        os.mkdir(path)
    Path(path, "bottom.txt").write_text("the bottom\n")
    return root


def deep_bottom(root: Path | str, depth: int = DEEP) -> str:
    """What ``make_deep_tree`` wrote at the bottom of the tree under ``root``."""
    return Path(root, *["d"] * depth, "bottom.txt").read_text()


def remove_deep_tree(*roots: Path) -> None:
    for root in roots:
        subprocess.run(["rm", "-rf", str(root)], check=True)
