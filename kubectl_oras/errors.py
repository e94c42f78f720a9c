"""The errors a user can act on. ``str(error)`` is the one line the CLI prints."""

from __future__ import annotations


class OrasError(Exception):
    """Base of every failure reported to the user without a traceback."""


class InvalidReference(OrasError):
    """An artifact reference (repo[:tag] or repo@digest) is malformed."""


class LocalPathError(OrasError):
    """A local file or directory to push is missing or cannot be archived."""


class UnsafePath(OrasError):
    """An artifact would write outside the output directory (absolute path, '..', escaping link)."""


class DigestMismatch(OrasError):
    """Content received from the registry does not match its descriptor."""


class RegistryError(OrasError):
    """The registry answered with an error."""

    def __init__(self, message: str, *, status: int | None = None, codes: tuple[str, ...] = ()):
        super().__init__(message)
        self.status = status
        self.codes = codes


class RegistryUnreachable(RegistryError):
    """The registry could not be reached (connection refused, DNS, TLS, timeout)."""


class AuthenticationFailed(RegistryError):
    """The registry refused our credentials or asked for ones we do not have."""


class NotFound(RegistryError):
    """The repository, tag, manifest or blob does not exist."""


class DeleteRefused(OrasError):
    """Deleting a tag would also delete other tags that share its manifest."""


class UnsupportedArtifact(OrasError):
    """The reference points at something we cannot pull (an index, an unknown manifest type)."""
