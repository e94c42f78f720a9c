"""Decide whether a path from an artifact (a layer title, a tar member, a link target) is safe."""

from __future__ import annotations

import os
import posixpath

from .errors import UnsafePath


def safe_relative_path(name: str, *, what: str) -> str:
    """Normalise a slash-separated relative path, refusing anything that could leave its root.

    ``what`` names the culprit in the error (e.g. "layer title" or "archive member").
    """
    if not name or "\x00" in name:
        raise UnsafePath(f"{what} {name!r} is empty or contains NUL")
    if name.startswith("/") or (len(name) > 1 and name[1] == ":") or name.startswith("\\"):
        raise UnsafePath(f"{what} {name!r} is an absolute path; refusing to write outside the output directory")
    parts = [p for p in name.replace("\\", "/").split("/") if p not in ("", ".")]
    if any(p == ".." for p in parts):
        raise UnsafePath(f"{what} {name!r} contains '..'; refusing to write outside the output directory")
    if not parts:
        raise UnsafePath(f"{what} {name!r} names no file")
    return "/".join(parts)


def link_stays_inside(member: str, target: str) -> bool:
    """Whether a symlink at ``member`` (relative to a root) pointing at ``target`` resolves inside the root."""
    if target.startswith("/") or not target:
        return False
    resolved = posixpath.normpath(posixpath.join(posixpath.dirname(member), target))
    return resolved != ".." and not resolved.startswith("../") and not resolved.startswith("/")


def is_within(path: str, root: str) -> bool:
    """Whether ``path`` (after resolving links that exist) lies within ``root``."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root + os.sep)
