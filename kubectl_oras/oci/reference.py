"""Parse artifact references: ``repo[:tag]``, ``repo@sha256:…``, optionally ``host:port/repo…``."""

from __future__ import annotations

import re
from dataclasses import dataclass

from .errors import InvalidReference

DEFAULT_TAG = "latest"

# The grammar of the OCI distribution spec (and docker/distribution's reference package).
# Always applied with fullmatch: `$` would also match before a trailing newline.
_COMPONENT = r"[a-z0-9]+(?:(?:[._]|__|[-]+)[a-z0-9]+)*"
REPOSITORY_RE = re.compile(rf"{_COMPONENT}(?:/{_COMPONENT})*")
TAG_RE = re.compile(r"[A-Za-z0-9_][A-Za-z0-9._-]{0,127}")
DIGEST_RE = re.compile(r"sha256:[a-f0-9]{64}|sha512:[a-f0-9]{128}")
FALLBACK_TAG_RE = re.compile(r"sha256-[a-f0-9]{64}|sha512-[a-f0-9]{128}")  # a digest's referrers, as a tag
_HOST_RE = re.compile(r"localhost|[A-Za-z0-9.-]+\.[A-Za-z0-9.-]+|[A-Za-z0-9.-]+:[0-9]+|\[[0-9a-fA-F:]+\](?::[0-9]+)?")


@dataclass(frozen=True)
class Reference:
    """An artifact in a registry: repository plus a tag or a digest."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def target(self) -> str:
        """What goes after /manifests/: the digest when known (more specific), else the tag."""
        return self.digest or self.tag or DEFAULT_TAG

    def with_tag(self, tag: str) -> Reference:
        return Reference(self.registry, self.repository, tag, None)

    def __str__(self) -> str:
        text = f"{self.registry}/{self.repository}" if self.registry else self.repository
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def is_valid_repository(name: str) -> bool:
    return len(name) <= 255 and REPOSITORY_RE.fullmatch(name) is not None


def is_valid_tag(tag: str) -> bool:
    return TAG_RE.fullmatch(tag) is not None


def is_fallback_tag(tag: str) -> bool:
    """Whether ``tag`` is the tag schema's index of some manifest's referrers, ``sha256-<hex>``
    (oci/referrers.py: ``fallback_tag``); listings leave them out, and tag patterns match them
    only when they say so."""
    return FALLBACK_TAG_RE.fullmatch(tag) is not None


def registry_host_of(text: str) -> str | None:
    """The registry host ``text`` starts with (``host[:port]/…``), or None when it names none.

    As Docker and oras read references: a first component with a '.' or a ':', or ``localhost``,
    is a host (``parse_reference`` then checks that it is a valid one).
    """
    first, sep, _ = text.partition("/")
    return first if sep and ("." in first or ":" in first or first == "localhost") else None


MAX_QUOTED = 200  # a reference quoted in a message: a 250 kB annotation is not said back whole, twice


def _quoted(text: str) -> str:
    said = repr(text)
    return said if len(said) <= MAX_QUOTED else said[:MAX_QUOTED - 4] + "...'"


def parse_name(text: str, *, default_tag: str | None = DEFAULT_TAG,
               original: str | None = None) -> tuple[str, str | None, str | None]:
    """(repository, tag, digest) of ``repo[:tag][@digest]`` with no host; ``original`` is what errors quote."""
    original = text if original is None else original
    digest = None
    if "@" in text:
        text, digest = text.split("@", 1)
        if not DIGEST_RE.fullmatch(digest):
            raise InvalidReference(
                f"invalid reference {_quoted(original)}: digest {_quoted(digest)} is not sha256:<64 hex> or "
                "sha512:<128 hex>"
            )
    tag = None
    last_slash = text.rfind("/")
    colon = text.rfind(":")
    if colon > last_slash:
        text, tag = text[:colon], text[colon + 1 :]
        if not is_valid_tag(tag):
            raise InvalidReference(
                f"invalid reference {_quoted(original)}: tag {_quoted(tag)} must match [A-Za-z0-9_][A-Za-z0-9._-]{{0,127}}"
            )
    if not is_valid_repository(text):
        raise InvalidReference(
            f"invalid reference {_quoted(original)}: repository {_quoted(text)} must be lowercase path components "
            "of [a-z0-9] separated by '/', '.', '_', '__' or '-'"
        )
    if tag is None and digest is None:
        tag = default_tag
    return text, tag, digest


def parse_reference(text: str, *, registry: str | None = None, default_tag: str | None = DEFAULT_TAG) -> Reference:
    """Parse ``[host[:port]/]repo[:tag][@digest]``.

    ``registry`` is used when the text names no host; a text that names one wins only when no
    registry was given (so ``--registry`` with ``localhost:5000/x`` still means repository
    ``localhost:5000/x`` is invalid rather than silently going elsewhere).
    """
    original = text
    if not text or text != text.strip():
        raise InvalidReference(f"invalid reference {_quoted(original)}: empty or surrounded by spaces")
    host = None if registry else registry_host_of(text)
    if host:
        if not _HOST_RE.fullmatch(host):
            raise InvalidReference(f"invalid reference {_quoted(original)}: registry host {_quoted(host)} is not HOST[:PORT]")
        text = text[len(host) + 1 :]
    repository, tag, digest = parse_name(text, default_tag=default_tag, original=original)
    target_registry = registry or host
    if not target_registry:
        raise InvalidReference(
            f"no registry for {_quoted(original)}: pass --registry HOST:PORT or write HOST:PORT/{original}"
        )
    return Reference(target_registry, repository, tag, digest)
