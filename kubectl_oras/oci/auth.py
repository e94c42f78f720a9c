"""Registry authentication: where credentials come from, and how a 401 challenge is answered.

The decision is a pure function (``answer_challenge``: the ``Www-Authenticate`` header and what
credentials we hold in, "send basic auth" or "ask this token service for this scope" out);
``parse_token_answer`` judges the token service's reply. The transport does the I/O between them
and keeps what was obtained in an ``AuthCache``.

oras-py does the parts it does right: reading the docker/oras config that `oras login` and
`docker login` write, and splitting a ``Www-Authenticate`` header (docs/oras-py.md).
"""

from __future__ import annotations

import base64
import json
import os
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from ..orascache import PASSWORD_KEY, USER_KEY
from .errors import RETRY_STATUSES, AuthenticationFailed

# The variables credentials are read from: an OrasCache's auth Secret has these keys, so the
# agents take it by envFrom.
CREDENTIALS_HINT = f"; set {USER_KEY} and {PASSWORD_KEY}"


@dataclass(frozen=True)
class Credentials:
    username: str
    password: str = field(repr=False)

    @classmethod
    def from_env(cls, *, push: bool, environ: Mapping[str, str] | None = None) -> Credentials | None:
        """ORAS_USER with ORAS_PASS, or the predecessor's ORAS_PUSH_PASS / ORAS_PULL_PASS."""
        env = os.environ if environ is None else environ
        user = env.get(USER_KEY)
        password = env.get("ORAS_PUSH_PASS" if push else "ORAS_PULL_PASS") or env.get(PASSWORD_KEY)
        if user and password:
            return cls(user, password)
        return None

    def basic_header(self) -> str:
        return "Basic " + base64.b64encode(f"{self.username}:{self.password}".encode()).decode()


def docker_config_credentials(hostname: str) -> Credentials | None:
    """Credentials saved by `oras login` / `docker login` for ``hostname``, if any."""
    import oras.auth.utils  # only when no credentials came from the environment

    try:
        config = oras.auth.utils.load_configs(None)
    except Exception:  # an unreadable config is the same as none: we never fail on it
        return None
    auths = config.get("auths") if isinstance(config, dict) else None
    entry = auths.get(hostname) if isinstance(auths, dict) else None
    auth = entry.get("auth") if isinstance(entry, dict) else None
    if not auth or not isinstance(auth, str):  # a config of another shape is the same as none too
        return None
    try:
        user, _, password = base64.b64decode(auth).decode().partition(":")
    except ValueError:
        return None
    return Credentials(user, password) if user else None


# -- the decision ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class UseBasic:
    """Send the credentials as HTTP basic auth from now on."""


@dataclass(frozen=True)
class RequestToken:
    """Ask ``realm`` for a bearer token (with basic auth when we have credentials)."""

    realm: str
    params: dict[str, str]
    authorization: str | None = field(default=None, repr=False)


def answer_challenge(challenge: str, *, credentials: Credentials | None, registry: str, what: str) -> UseBasic | RequestToken:
    """What to do about a 401 carrying ``challenge``; AuthenticationFailed when nothing can be done."""
    scheme = challenge.split(" ", 1)[0].lower()
    if scheme == "basic":
        if not credentials:
            raise AuthenticationFailed(f"{what}: registry {registry} requires credentials{CREDENTIALS_HINT}", status=401)
        return UseBasic()
    if scheme != "bearer":
        raise AuthenticationFailed(f"{what}: registry {registry} refused the request (401) without an auth challenge",
                                   status=401)
    from oras.auth.utils import parse_auth_header

    h = parse_auth_header(challenge)
    if not h.realm:
        raise AuthenticationFailed(f"{what}: registry {registry} asked for a token without naming a token service",
                                   status=401)
    params = {k: v for k, v in (("service", h.service), ("scope", h.scope)) if v}
    return RequestToken(h.realm, params, credentials.basic_header() if credentials else None)


def parse_token_answer(status: int, body: bytes, *, realm: str, registry: str, have_credentials: bool, what: str,
                       content_type: str = "") -> str:
    """The bearer token in a token service's answer; AuthenticationFailed naming the service and the registry."""
    service = f"token service {realm} (for registry {registry})"
    if status != 200:
        hint = "" if have_credentials else CREDENTIALS_HINT
        raise AuthenticationFailed(f"{what}: {service} refused ({status}){hint}", status=status,
                                   transient=status in RETRY_STATUSES)  # a busy token service may recover
    try:
        data: Any = json.loads(body)
    except ValueError:
        kind = f" ({content_type.split(';')[0].strip()})" if content_type.strip() else ""
        raise AuthenticationFailed(f"{what}: {service} answered with something that is not JSON{kind}") from None
    token = (data.get("token") or data.get("access_token")) if isinstance(data, dict) else None
    if not token or not isinstance(token, str):
        raise AuthenticationFailed(f"{what}: {service} answered without a token")
    return token


# -- what was obtained ----------------------------------------------------------------------------

Scope = tuple[str | None, bool]  # (repository, whether the request writes)


class AuthCache:
    """Tokens per (repository, read/write), and whether basic auth is in use; shared by threads."""

    def __init__(self, credentials: Credentials | None) -> None:
        self.credentials = credentials
        self._tokens: dict[Scope, str] = {}
        self._basic = False
        self._lock = threading.Lock()

    def headers(self, scope: Scope) -> dict[str, str]:
        with self._lock:
            token = self._tokens.get(scope)
            if token:
                return {"Authorization": f"Bearer {token}"}
            if self._basic and self.credentials:
                return {"Authorization": self.credentials.basic_header()}
        return {}

    def use_basic(self) -> None:
        with self._lock:
            self._basic = True

    def remember(self, scope: Scope, token: str) -> None:
        with self._lock:
            self._tokens[scope] = token
