"""Where a Snakemake file lives in a registry: the query ``oras://ROOT/DIR/.../NAME`` is the
artifact ``ROOT/DIR/...:NAME``, each directory a component of the repository and the file's name
its tag, so one tag listing tells every file of a directory. Pure: text in, text out.

A registry's names are narrower than a file's (a repository is lower-case components, a tag
``[A-Za-z0-9_][A-Za-z0-9._-]{0,127}``), so a name outside them is written in an escaped form that
reads back to exactly that name: two paths never map to one artifact (docs/snakemake.md).

- A directory that is a lower-case word, or words joined by one ``-`` or ``_``, is itself
  (``results``, ``run-1``); any other is a readable hint, ``__`` and the name's UTF-8 bytes in hex
  (``Sample A`` is ``sample-a__53616d706c652041``). A plain name never holds ``__``, so the two
  forms never meet.
- A file's name keeps letters, digits, ``.`` and ``-`` (but not first); ``_`` is written ``__``
  and every other byte of its UTF-8 form ``_`` and two hex digits (``my file+1.txt`` is
  ``my_20file_2b1.txt``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

SCHEME = "oras://"
MAX_REPOSITORY = 255  # distribution's limit on a repository's name
MAX_TAG = 128
_PLAIN_DIRECTORY = re.compile(r"[a-z0-9]+(?:[_-][a-z0-9]+)*")
_TAG_LITERAL = re.compile(r"[A-Za-z0-9.-]")
_HEX = re.compile(r"[0-9a-f]+")
# A first component that reads as a registry host (localhost, a dotted name, HOST:PORT) would be
# taken for one by a reference: the root is a plain directory and never ``localhost``.
_HOST_WORDS = frozenset({"localhost"})


class UnmappablePath(ValueError):
    """A query that names no artifact; the message names the query and says why."""


@dataclass(frozen=True)
class Artifact:
    """Where one file (or directory() output) is stored: ``repository:tag``."""

    repository: str
    tag: str

    @property
    def reference(self) -> str:
        return f"{self.repository}:{self.tag}"


def path_of(query: str) -> str:
    """The path a query names (``oras://wf/a.txt`` is ``wf/a.txt``); UnmappablePath otherwise."""
    if not query.startswith(SCHEME):
        raise UnmappablePath(f"{query!r}: an oras query starts with {SCHEME} (oras://ROOT/PATH)")
    path = query[len(SCHEME):]
    parts = path.split("/")
    if len(parts) < 2:
        raise UnmappablePath(f"{query!r}: give a root directory and a file (oras://ROOT/PATH), "
                             "e.g. --default-storage-prefix oras://my-workflow")
    for part in parts:
        if part in ("", ".", ".."):
            raise UnmappablePath(f"{query!r}: the path has an empty, '.' or '..' part")
    return path


def directory_component(name: str) -> str:
    """One directory as a repository component (see the module's rules)."""
    if _PLAIN_DIRECTORY.fullmatch(name):
        return name
    hint = "-".join(re.findall(r"[a-z0-9]+", name.lower())) or "x"
    return f"{hint}__{name.encode().hex()}"


def directory_name(component: str) -> str:
    """The directory a repository component stands for (the inverse of ``directory_component``)."""
    if "__" not in component:
        return component
    encoded = component.rsplit("__", 1)[1]
    if not _HEX.fullmatch(encoded) or len(encoded) % 2:
        raise UnmappablePath(f"{component!r} is not a directory written by this plugin")
    return bytes.fromhex(encoded).decode()


def file_tag(name: str) -> str:
    """A file's name as a tag (see the module's rules)."""
    out = []
    for index, char in enumerate(name):
        if char == "_":
            out.append("__")
        elif _TAG_LITERAL.fullmatch(char) and not (index == 0 and char in ".-"):
            out.append(char)
        else:
            out.append("".join(f"_{byte:02x}" for byte in char.encode()))
    return "".join(out)


def file_name(tag: str) -> str:
    """The file name a tag stands for (the inverse of ``file_tag``)."""
    raw = bytearray()
    index = 0
    while index < len(tag):
        char = tag[index]
        if char != "_":
            raw += char.encode()
            index += 1
        elif tag[index + 1:index + 2] == "_":
            raw += b"_"
            index += 2
        else:
            pair = tag[index + 1:index + 3]
            if len(pair) != 2 or not _HEX.fullmatch(pair):
                raise UnmappablePath(f"tag {tag!r} is not a file name written by this plugin")
            raw.append(int(pair, 16))
            index += 3
    return raw.decode()


def artifact_of(query: str) -> Artifact:
    """The artifact a query's file is stored as; UnmappablePath naming the query when there is none."""
    parts = path_of(query).split("/")
    if parts[0] in _HOST_WORDS:
        raise UnmappablePath(f"{query!r}: the root {parts[0]!r} reads as a registry host; name another")
    repository = "/".join(directory_component(part) for part in parts[:-1])
    tag = file_tag(parts[-1])
    if len(repository) > MAX_REPOSITORY:
        raise UnmappablePath(f"{query!r}: its directories make a repository name of {len(repository)} characters, "
                             f"over the registry's {MAX_REPOSITORY}; use shorter directory names")
    if len(tag) > MAX_TAG:
        raise UnmappablePath(f"{query!r}: the file name {parts[-1]!r} makes a tag of {len(tag)} characters, "
                             f"over the registry's {MAX_TAG}; use a shorter name")
    return Artifact(repository, tag)


def query_of(artifact: Artifact) -> str:
    """The query whose file is stored as ``artifact`` (the inverse of ``artifact_of``)."""
    directories = [directory_name(part) for part in artifact.repository.split("/")]
    return SCHEME + "/".join([*directories, file_name(artifact.tag)])
