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
import string
from collections import deque
from collections.abc import Iterable, Mapping, Sequence

from ..oci.reference import TAG_RE, is_fallback_tag, is_valid_tag
from .step import FAILED_TAG_SUFFIX

WILDCARDS = "*?"
# The most tags one pattern input may pull. A fan-in of a few hundred pods is pulled in seconds
# from a cache in the cluster; a pattern matching more is more likely too wide (`*`) than meant,
# and would fill the pod's emptyDir one pull after another (docs/annotations.md).
MAX_MATCHES = 256
MAX_TAG_LENGTH = 128
# How many states telling a pod's tag patterns apart may take in all (a fraction of a second, at
# admission): realistic patterns take tens; only patterns made of dozens of wildcards need more.
SEARCH_LIMIT = 100_000
_TAG_CHARS = frozenset(string.ascii_letters + string.digits + "._-")
_FIRST_CHARS = string.ascii_letters + string.digits + "_"


class MatchError(ValueError):
    """A pattern input that cannot be pulled as listed; the message says why (the caller names the annotation)."""


class TooIntricate(ValueError):
    """Telling whether two patterns can match one tag would take too long (an admission must not)."""


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
    ``-failed`` (a failed step's) is matched only by a pattern ending in ``-failed``; a tag that
    indexes referrers (``sha256-<hex>``: an output's provenance) only by one starting ``sha``."""
    regex, failed, referrers = _regex(pattern), takes_failed(pattern), pattern.startswith("sha")
    return sorted({t for t in tags if regex.fullmatch(t) and (failed or not t.endswith(FAILED_TAG_SUFFIX))
                   and (referrers or not is_fallback_tag(t))})


def _quoted(text: str) -> str:
    said = repr(text)
    return said if len(said) <= 60 else said[:57] + "..."


def select_matches(repository: str, pattern: str, listed: Sequence[str]) -> list[str]:
    """The tags of ``repository`` (as its registry listed them) that ``pattern`` pulls; none, too.

    MatchError, before anything is pulled, when the listing holds something that is not a tag (a
    registry that lies could name ``..`` or ``a/b``, and each match becomes a directory), or when
    more than MAX_MATCHES match. Whether they are enough is ``shortfall``'s to say.
    """
    for tag in listed:
        if not is_valid_tag(tag):
            raise MatchError(f"the registry listed {_quoted(tag)} among the tags of {repository}, which is not a "
                             f"valid tag ({TAG_RE.pattern}); nothing was pulled")
    matches = matching_tags(pattern, listed)
    if len(matches) > MAX_MATCHES:
        raise MatchError(f"{repository}:{pattern} matches {len(matches)} tags, more than the {MAX_MATCHES} one "
                         "pattern may pull; narrow the pattern")
    return matches


SHOWN_MATCHES = 10  # the most matches a message lists


def _listed(tags: Sequence[str]) -> str:
    more = f", … ({len(tags) - SHOWN_MATCHES} more)" if len(tags) > SHOWN_MATCHES else ""
    return ", ".join(tags[:SHOWN_MATCHES]) + more


def shortfall(repository: str, pattern: str, matches: Sequence[str], count: int | None) -> str | None:
    """What the pattern's input still waits for: a match at all, or, with a count (annotation
    input-count), that many; None once ``matches`` are enough."""
    if count is None:
        return None if matches else f"no tag of {repository} matches {pattern}"
    if len(matches) >= count:
        return None
    found = f": {_listed(matches)}" if matches else ""
    return f"{repository}:{pattern} matches {len(matches)} of the {count} tags expected{found}"


def surplus(repository: str, pattern: str, matches: Sequence[str], count: int | None) -> str | None:
    """Why ``matches`` are more than the count asks for (a stale run's tags, a pattern too wide); None if not."""
    if count is None or len(matches) <= count:
        return None
    return (f"{repository}:{pattern} matches {len(matches)} tags, more than the {count} expected ({_listed(matches)}): "
            "nothing was pulled; remove the stale tags, or give each run its own tag prefix")


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


def _glob_step(pattern: str, i: int, c: str) -> int | None:
    """Where ``pattern``'s matcher goes from position ``i`` on character ``c`` (None: nowhere)."""
    if i == len(pattern):
        return None
    p = pattern[i]
    return i if p == "*" else i + 1 if p == "?" or p == c else None


def _suffix_step(k: int, c: str) -> int:
    """How much of ``-failed`` a string ends with, after ``c`` (``-`` is only its first character)."""
    if k < len(FAILED_TAG_SUFFIX) and c == FAILED_TAG_SUFFIX[k]:
        return k + 1
    return 1 if c == FAILED_TAG_SUFFIX[0] else 0


def _characters(one: str, i: int, other: str, j: int, k: int, track: bool) -> list[str]:
    """The characters worth trying next: a literal either pattern needs here, else (both have a
    wildcard) one of each kind the ``-failed`` tracking tells apart."""
    if i == len(one) or j == len(other):
        return []
    needed = {p for p in (one[i], other[j]) if p not in WILDCARDS}
    if needed:
        return list(needed & _TAG_CHARS) if len(needed) == 1 else []
    if not track:
        return ["x"]
    return list(dict.fromkeys(("x", FAILED_TAG_SUFFIX[0], FAILED_TAG_SUFFIX[k % len(FAILED_TAG_SUFFIX)])))


def _search(one: str, other: str, limit: int) -> tuple[str | None, int]:
    """(the shortest tag both patterns match or None, how many states that took); TooIntricate
    past ``limit`` states."""
    if takes_failed(one) != takes_failed(other):
        return None, 0  # one takes only tags ending in -failed, the other never
    track = not takes_failed(one)  # neither ends in -failed: the common tag must not either
    State = tuple[int, int, int, bool]  # positions in one and other, how much of -failed it ends with, started
    start: State = (0, 0, 0, False)
    came: dict[State, tuple[State, str] | None] = {start: None}
    length = {start: 0}
    queue: deque[State] = deque([start])
    while queue:  # 0-1 breadth first: a `*` may match nothing (a move with no character, no length)
        if len(length) > limit:
            raise TooIntricate(f"{one!r} and {other!r}")
        state = queue.popleft()
        i, j, k, started = state
        if i == len(one) and j == len(other) and started and not (track and k == len(FAILED_TAG_SUFFIX)):
            tag = []
            back = came[state]
            while back is not None:
                state, c = back
                tag.append(c)
                back = came[state]
            return "".join(reversed(tag)), len(length)
        moves: list[tuple[State, str, int]] = []
        if i < len(one) and one[i] == "*":
            moves.append(((i + 1, j, k, started), "", 0))
        if j < len(other) and other[j] == "*":
            moves.append(((i, j + 1, k, started), "", 0))
        if length[state] < MAX_TAG_LENGTH:
            for c in _characters(one, i, other, j, k, track):
                ni, nj = _glob_step(one, i, c), _glob_step(other, j, c)
                if ni is not None and nj is not None and (started or c in _FIRST_CHARS):
                    moves.append(((ni, nj, _suffix_step(k, c) if track else 0, True), c, 1))
        for following, c, cost in moves:
            if following in length and length[following] <= length[state] + cost:
                continue
            length[following] = length[state] + cost
            came[following] = (state, c)
            queue.appendleft(following) if cost == 0 else queue.append(following)
    return None, len(length)


def common_tag(one: str, other: str, *, limit: int = SEARCH_LIMIT) -> str | None:
    """The shortest valid tag both patterns match (``matching_tags``' rule for ``-failed`` included),
    or None when there is none: two pattern inputs can then never pull one tag twice.

    A search of the product of the two matchers (and of one that tracks a ``-failed`` ending),
    shortest first; where both patterns have a wildcard, characters the tracking does not tell
    apart behave alike, so one stands for them all. TooIntricate past ``limit`` states.
    """
    return _search(one, other, limit)[0]


def first_overlap(patterns: Sequence[str]) -> tuple[int, int, str] | None:
    """The first two of ``patterns`` (by index) that can match one tag, and such a tag; None when
    every two are apart. TooIntricate when telling would take more than SEARCH_LIMIT states in all
    (a few realistic patterns take a few hundred)."""
    left = SEARCH_LIMIT
    for a in range(len(patterns)):
        for b in range(a + 1, len(patterns)):
            tag, used = _search(patterns[a], patterns[b], left)
            if tag is not None:
                return a, b, tag
            left -= used
    return None
