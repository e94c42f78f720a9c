"""Tag patterns in an input (``results/pi:run-*``): shell-style ``*`` and ``?``, in the tag alone.

An input whose tag is a pattern pulls every tag of its repository that matches, each into a
subdirectory named by the tag (docs/annotations.md). Pure: the agent lists the tags.

A failed step's outputs go to ``<tag>-failed`` (push-on-failure: failed-tag), so a tag ending in
``-failed`` is matched only by a pattern that ends in ``-failed`` itself: ``run-*`` gathers the
runs, never a failed run's leftovers; ``run-*-failed`` gathers those.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .step import FAILED_TAG_SUFFIX

WILDCARDS = "*?"


def is_pattern(text: str) -> bool:
    """Whether ``text`` (a tag, or any part of a reference) holds a wildcard."""
    return any(c in text for c in WILDCARDS)


def sample(pattern: str) -> str:
    """A tag the pattern matches, with each wildcard standing for one ``x``: valid as a tag exactly
    when some tag can match (a pattern that must start with ``-`` or ``.`` never matches one)."""
    return pattern.replace("*", "x").replace("?", "x")


def split_pattern(name: str) -> tuple[str, str] | None:
    """(``repo``, tag pattern) of ``repo:pattern``; None when ``name``'s tag is no pattern."""
    repository, colon, tag = name.rpartition(":")
    if not colon or "/" in tag or "@" in tag or not is_pattern(tag):
        return None
    return repository, tag


def _regex(pattern: str) -> re.Pattern[str]:
    return re.compile("".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern), re.DOTALL)


def takes_failed(pattern: str) -> bool:
    """Whether ``pattern`` is one for failed steps' tags (it ends in ``-failed``)."""
    return pattern.endswith(FAILED_TAG_SUFFIX)


def matching_tags(pattern: str, tags: Iterable[str]) -> list[str]:
    """The tags ``pattern`` matches (case matters, as in tags), sorted, each once. A tag ending in
    ``-failed`` (a failed step's) is matched only by a pattern ending in ``-failed``."""
    regex, failed = _regex(pattern), takes_failed(pattern)
    return sorted({t for t in tags if regex.fullmatch(t) and (failed or not t.endswith(FAILED_TAG_SUFFIX))})
