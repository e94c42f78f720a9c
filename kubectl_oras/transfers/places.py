"""Where an artifact lives, decided once from the reference and the options: a registry by its
host, or a cache by name (reached through a port-forward). The reference is parsed here, once; the
tunnel's local address never enters it, so every message and result names what the user wrote.

Pure: plain data in and out; nothing is opened here.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..errors import OrasError
from ..oci.reference import DEFAULT_TAG, Reference, parse_name, parse_reference, registry_host_of
from .options import TransferOptions


@dataclass(frozen=True)
class Place:
    """A registry (``registry``, HOST:PORT) or a cache by name (``cache``, in the options' namespace)."""

    registry: str | None = None
    cache: str | None = None

    def __post_init__(self) -> None:
        if (self.registry is None) == (self.cache is None):
            raise ValueError("a place is a registry or a cache")


@dataclass(frozen=True)
class Located:
    """A reference and where it lives. Through a cache ``reference.registry`` is empty, so
    ``str(reference)`` is the reference as the user wrote it (``metric/hwloc:iter-0``)."""

    place: Place
    reference: Reference
    text: str  # as the user wrote it, for a message about what they wrote

    @property
    def name(self) -> str:
        return str(self.reference)


def place_of(options: TransferOptions, host: str | None = None) -> Place:
    """Where a command goes when its reference names ``host`` (or none, or it has no reference: ls, gc).
    ``--cache`` with ``--registry`` is refused by the options themselves."""
    if options.cache is not None:
        return Place(cache=options.cache)
    registry = options.registry or (None if host else options.default_registry) or host
    return Place(registry=registry) if registry else Place(cache=options.cache_name)


def locate(text: str, options: TransferOptions, *, default_tag: str | None = DEFAULT_TAG) -> Located:
    """``text`` (``[host[:port]/]repo[:tag][@digest]``) parsed once, and where it lives. A
    reference that cannot be one is refused before anything is opened; so is one that names a
    registry while the options name another, or a cache."""
    host = registry_host_of(text)
    if host and options.cache is not None:
        raise OrasError(f"{text!r} names the registry {host}: drop {host}/ to use --cache {options.cache}, "
                        "or drop --cache")
    if host and options.registry:
        raise OrasError(f"{text!r} names the registry {host} and --registry names {options.registry}: give one")
    place = place_of(options, host)
    if place.registry is None:
        repository, tag, digest = parse_name(text, default_tag=default_tag)
        return Located(place, Reference("", repository, tag, digest), text)
    # A registry given apart from the reference wins: then a host in it is part of a repository
    # name, which is refused rather than sent elsewhere.
    given = None if host else place.registry
    return Located(place, parse_reference(text, registry=given, default_tag=default_tag), text)
