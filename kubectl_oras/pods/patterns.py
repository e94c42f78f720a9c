"""Tag patterns in an input (``results/pi:run-*``): shell-style ``*`` and ``?``, in the tag alone.

An input whose tag is a pattern pulls every tag of its repository that matches, each into a
subdirectory named by the tag (docs/annotations.md). Pure: the agent lists the tags, and what
this module says of them decides what it pulls.

A failed step's outputs go to ``<tag>-failed`` (push-on-failure: failed-tag), so a tag ending in
``-failed`` is matched only by a pattern that ends in ``-failed`` itself: ``run-*`` gathers the
runs, never a failed run's leftovers; ``run-*-failed`` gathers those.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from ..oci.reference import TAG_RE, is_valid_tag
from .step import FAILED_TAG_SUFFIX

WILDCARDS = "*?"
# The most tags one pattern input may pull. A fan-in of a few hundred pods is pulled in seconds
# from a cache in the cluster; a pattern matching more is more likely too wide (`*`) than meant,
# and would fill the pod's emptyDir one pull after another (docs/annotations.md).
MAX_MATCHES = 256


class MatchError(ValueError):
    """A pattern input that cannot be pulled as listed; the message says why (the caller names the annotation)."""


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


def _quoted(text: str) -> str:
    said = repr(text)
    return said if len(said) <= 60 else said[:57] + "..."


def select_matches(repository: str, pattern: str, listed: Sequence[str]) -> list[str]:
    """The tags of ``repository`` (as its registry listed them) that ``pattern`` pulls.

    MatchError, before anything is pulled, when the listing holds something that is not a tag (a
    registry that lies could name ``..`` or ``a/b``, and each match becomes a directory), when no
    tag matches, or when more than MAX_MATCHES do.
    """
    for tag in listed:
        if not is_valid_tag(tag):
            raise MatchError(f"the registry listed {_quoted(tag)} among the tags of {repository}, which is not a "
                             f"valid tag ({TAG_RE.pattern}); nothing was pulled")
    matches = matching_tags(pattern, listed)
    if not matches:
        raise MatchError(f"no tag of {repository} matches {pattern}")
    if len(matches) > MAX_MATCHES:
        raise MatchError(f"{repository}:{pattern} matches {len(matches)} tags, more than the {MAX_MATCHES} one "
                         "pattern may pull; narrow the pattern")
    return matches


def first_clash(matches: Mapping[int, Sequence[str]],
                plain: Mapping[int, Iterable[str]] | None = None) -> tuple[str, int, int] | None:
    """The first name two inputs would both place in input-path: (name, one input, the other).

    ``matches``: each pattern input's tags (each a directory); ``plain``: each plain input's
    top-level names. Plain inputs are not compared with each other (a later one wins on equal
    names: docs/pod-protocol.md); everything else must be apart.
    """
    owner: dict[str, int] = {}
    for index in sorted(matches):
        for tag in matches[index]:
            if tag in owner and owner[tag] != index:
                return tag, owner[tag], index
            owner.setdefault(tag, index)
    for index in sorted(plain or {}):
        for name in (plain or {})[index]:
            if name in owner:
                return name, min(owner[name], index), max(owner[name], index)
    return None
