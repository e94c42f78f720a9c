"""What can go wrong moving artifacts: each error says what was being done, and where."""

from __future__ import annotations

from ..errors import OrasError


class InvalidReference(OrasError):
    """An artifact reference (repo[:tag] or repo@digest) is malformed."""


class LocalPathError(OrasError):
    """A local file or directory to push is missing or cannot be archived."""


class UnsafePath(OrasError):
    """An artifact would write outside the output directory (absolute path, '..', escaping link)."""


class DigestMismatch(OrasError):
    """Content received from the registry does not match its descriptor."""


# Answers that may go away when the request is made again: too many requests, a server error,
# a gateway that could not reach the registry (for the registry and its token service alike).
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class RegistryError(OrasError):
    """The registry answered with an error.

    ``transient`` errors (429, 5xx) may go away when tried again; ``retry_after`` is the wait
    the registry asked for, in seconds.
    """

    def __init__(self, message: str, *, status: int | None = None, codes: tuple[str, ...] = (),
                 transient: bool = False, retry_after: float | None = None):
        super().__init__(message)
        self.status = status
        self.codes = codes
        self.transient = transient
        self.retry_after = retry_after


class RegistryUnreachable(RegistryError):
    """The registry could not be reached (connection refused, DNS, TLS, timeout).

    ``refused``: the port is closed or the connection was cut, as while a registry restarts."""

    def __init__(self, message: str, *, transient: bool = True, refused: bool = False) -> None:
        super().__init__(message, transient=transient)
        self.refused = refused


class DeadlineExceeded(RegistryError):
    """The whole operation took longer than the time the user allowed it (--timeout)."""


class AuthenticationFailed(RegistryError):
    """The registry refused our credentials or asked for ones we do not have."""


class NotFound(RegistryError):
    """The repository, tag, manifest or blob does not exist."""


class Cancelled(OrasError):
    """The operation was stopped (Ctrl-C, SIGTERM, or another part of it failed)."""


class DeleteRefused(OrasError):
    """Deleting a tag would also delete other tags that share its manifest."""


class UnsupportedArtifact(OrasError):
    """The reference points at something we cannot pull (an index, an unknown manifest type)."""
