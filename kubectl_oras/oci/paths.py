"""Decide whether a path from an artifact (a layer title, a tar member, a link target) is safe."""

from __future__ import annotations

import os
import posixpath
from collections.abc import Mapping

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


MAX_LINK_HOPS = 40  # as Linux: past this many links in one lookup the kernel gives up (ELOOP)


def link_escape(member: str, links: Mapping[str, str]) -> list[str] | None:
    """Whether the symlink at ``member`` leaves the root when followed as the kernel does.

    ``links`` holds every symlink of the tree (relative path, without links on it -> target).
    The target is walked one component at a time from the link's directory, each link met on the
    way followed in turn; climbing above the root at any step counts as leaving, so the answer
    does not depend on where the root sits (``d -> .`` makes ``u -> d/..`` climb out, though its
    text normalises to ``.``). Returns None if the link stays inside, else the links followed
    up to the step that left, ``member`` first. Names that are not links are taken as plain
    directories; a loop longer than MAX_LINK_HOPS leads nowhere, so it stays inside.
    """
    chain: list[str] = []

    def walk(base: list[str], link: str) -> list[str] | None:
        chain.append(link)
        target = links[link]
        if not target or target.startswith("/"):
            return None
        parts = list(base)
        for comp in target.split("/"):
            if comp in ("", "."):
                continue
            if comp == "..":
                if not parts:
                    return None
                parts.pop()
                continue
            parts.append(comp)
            key = "/".join(parts)
            if key in links:
                if len(chain) > MAX_LINK_HOPS:
                    raise _Loop
                resolved = walk(parts[:-1], key)
                if resolved is None:
                    return None
                parts = resolved
        return parts

    try:
        return None if walk(member.split("/")[:-1], member) is not None else chain
    except _Loop:
        return None


class _Loop(Exception):
    pass


def is_within(path: str, root: str) -> bool:
    """Whether ``path`` (after resolving links that exist) lies within ``root``."""
    real_root = os.path.realpath(root)
    real = os.path.realpath(path)
    return real == real_root or real.startswith(real_root + os.sep)
