"""An OrasCache's registry: its credentials, its htpasswd Secret, and its environment.

Plain functions over plain data. The registry pod runs any CNCF distribution image (v3 by
default, 2.x-based ones too) and is configured only through ``REGISTRY_*`` variables, which
distribution reads over whatever config file the image ships (docs/registries.md says how, and
what we learned). Two Secrets per cache (their names, and the auth Secret's keys, are
kubectl_oras/orascache.py's):

- ``<cache>-oras-auth`` (``ORAS_USER``, ``ORAS_PASS``): envFrom into the agents, read by
  ``kubectl oras``;
- ``<cache>-oras-registry`` (``htpasswd``, ``password-sha256``, ``REGISTRY_HTTP_SECRET``): used
  by the registry alone, so the agents never see the hash.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from typing import Any

import bcrypt

from kubectl_oras.errors import OrasError
from kubectl_oras.orascache import PASSWORD_KEY, REGISTRY_PORT, USER_KEY

from .registry_supervisor import DRAIN_SECONDS

DATA_DIR = "/var/lib/registry"  # the registry's filesystem storage: the emptyDir or the PVC
HTPASSWD_DIR = "/etc/kubectl-oras/htpasswd"  # where the registry pod mounts the htpasswd Secret
HTPASSWD_KEY = "htpasswd"
PASSWORD_SHA256_KEY = "password-sha256"
HTPASSWD_PATH = f"{HTPASSWD_DIR}/{HTPASSWD_KEY}"
USER = "oras"
REALM = "kubectl-oras"
# The registry's HTTP secret (it signs upload state) in the registry Secret: the value of
# spec.secrets.registryHttp as the predecessor took it, or one generated once. Read through a
# secretKeyRef, so no secret value is ever in the pod spec.
HTTP_SECRET_KEY = "REGISTRY_HTTP_SECRET"

# distribution checks the bcrypt hash on every authenticated request (it caches nothing), so the
# cost is paid per blob, per manifest, per tag listing. The work factor exists to slow guessing of
# a human password; ours is 256 random bits, which no amount of guessing finds, so a higher cost
# buys nothing and costs the registry ~70 ms of CPU per request at 10, ~280 ms at 12, against
# ~1 ms at 4 (docs/registries.md has the figures). bcrypt's minimum it is.
BCRYPT_COST = 4
PASSWORD_BYTES = 32  # 256 bits, as 43 URL-safe characters: [A-Za-z0-9_-], nothing to quote

def secret_strings(secret: dict[str, Any] | None) -> dict[str, str]:
    """A Secret's ``data`` decoded; a value that is not base64 of UTF-8 text is left out."""
    out = {}
    for key, value in ((secret or {}).get("data") or {}).items():
        if not isinstance(value, str):
            continue
        try:
            out[key] = base64.b64decode(value).decode()
        except (ValueError, UnicodeDecodeError):
            continue
    return out


class InvalidCredentials(OrasError):
    """The auth Secret does not hold a user and password the registry can be given."""


def new_credentials() -> dict[str, str]:
    """The auth Secret's stringData: the fixed user and a fresh random password."""
    return {USER_KEY: USER, PASSWORD_KEY: secrets.token_urlsafe(PASSWORD_BYTES)}


def _user_and_password(credentials: Mapping[str, str]) -> tuple[str, str]:
    user, password = credentials.get(USER_KEY) or "", credentials.get(PASSWORD_KEY) or ""
    if not user or not password:
        raise InvalidCredentials(f"the auth Secret needs both {USER_KEY} and {PASSWORD_KEY}")
    # htpasswd is "user:hash" lines; basic auth splits user from password at the first ':'.
    if ":" in user or any(c in user + password for c in "\r\n\0"):
        raise InvalidCredentials(f"{USER_KEY} may not hold ':' and neither it nor {PASSWORD_KEY} a line break")
    if len(password.encode()) > 72:
        raise InvalidCredentials(f"{PASSWORD_KEY} is over the 72 bytes bcrypt reads")
    return user, password


def _password_sha256(password: str) -> str:
    # Unsalted on purpose: the password is 256 random bits, and the digest only tells the
    # controller that the password changed without a bcrypt check on every reconcile.
    return hashlib.sha256(password.encode()).hexdigest()


def htpasswd_data(credentials: Mapping[str, str]) -> dict[str, str]:
    """The htpasswd Secret's stringData for the auth Secret's ``credentials``."""
    user, password = _user_and_password(credentials)
    hashed = bcrypt.hashpw(password.encode(), bcrypt.gensalt(BCRYPT_COST)).decode()
    return {HTPASSWD_KEY: f"{user}:{hashed}\n", PASSWORD_SHA256_KEY: _password_sha256(password)}


def htpasswd_current(credentials: Mapping[str, str], htpasswd_secret: Mapping[str, str]) -> bool:
    """Whether the htpasswd Secret (its data decoded) still matches ``credentials``: same user,
    same password. False (write it again) for anything missing or malformed."""
    try:
        user, password = _user_and_password(credentials)
    except InvalidCredentials:
        return False
    lines = (htpasswd_secret.get(HTPASSWD_KEY) or "").splitlines()
    if len(lines) != 1 or not lines[0].startswith(f"{user}:$2"):
        return False
    return hmac.compare_digest(htpasswd_secret.get(PASSWORD_SHA256_KEY) or "", _password_sha256(password))


def _value(name: str, value: str) -> dict[str, Any]:
    return {"name": name, "value": value}


def new_http_secret() -> str:
    return secrets.token_urlsafe(PASSWORD_BYTES)


def registry_secret_data(credentials: Mapping[str, str] | None, http_secret: str) -> dict[str, str]:
    """The registry Secret's stringData: the HTTP secret, and with auth the htpasswd file."""
    return {HTTP_SECRET_KEY: http_secret, **(htpasswd_data(credentials) if credentials is not None else {})}


def registry_secret_current(credentials: Mapping[str, str] | None, http_secret: str, data: Mapping[str, str]) -> bool:
    """Whether a registry Secret holding ``data`` is what registry_secret_data would make (so it
    is not written again: its bcrypt salt would change every time)."""
    if not hmac.compare_digest(data.get(HTTP_SECRET_KEY) or "", http_secret):
        return False
    if credentials is None:
        return HTPASSWD_KEY not in data
    return HTPASSWD_KEY in data and htpasswd_current(credentials, data)


def registry_environment(*, auth: bool, http_secret_name: str | None) -> list[dict[str, Any]]:
    """The registry container's env (Kubernetes EnvVar dicts), sorted by name.

    Everything that matters is set here, whatever the image's config file says: the port, the
    storage (replaced whole, so a file naming another driver cannot leave two), deletes, auth
    (replaced whole too, or cleared), no debug server, no access log, the storage health check.
    """
    env = [
        _value("REGISTRY_HTTP_ADDR", f":{REGISTRY_PORT}"),
        # Some images' config (distribution's own config-dev.yml) start a debug server on :5001
        # serving pprof and metrics to anyone on the pod network; empty starts none.
        _value("REGISTRY_HTTP_DEBUG_ADDR", ""),
        # A stop for disk reclamation (registry_supervisor.py) lets requests in flight finish first.
        _value("REGISTRY_HTTP_DRAINTIMEOUT", f"{DRAIN_SECONDS}s"),
        # Every request is already logged once by the registry itself ("response completed",
        # with method, path, status, duration); the access log would log it twice.
        _value("REGISTRY_LOG_ACCESSLOG_DISABLED", "true"),
        _value("REGISTRY_STORAGE", "filesystem"),
        _value("REGISTRY_STORAGE_CACHE_BLOBDESCRIPTOR", "inmemory"),
        _value("REGISTRY_STORAGE_DELETE_ENABLED", "true"),
        _value("REGISTRY_STORAGE_FILESYSTEM_ROOTDIRECTORY", DATA_DIR),
        # A storage that stops answering makes the registry answer 503 to everything (and its
        # readiness probe on "/" fail) after 3 checks: agents wait for a 503 (docs/pod-protocol.md).
        _value("REGISTRY_HEALTH_STORAGEDRIVER_ENABLED", "true"),
        _value("REGISTRY_HEALTH_STORAGEDRIVER_INTERVAL", "10s"),
        _value("REGISTRY_HEALTH_STORAGEDRIVER_THRESHOLD", "3"),
        # distribution v3 exports traces over OTLP to localhost by default: nothing listens there,
        # and every batch would log an error. (2.x has no tracing and ignores it.)
        _value("OTEL_TRACES_EXPORTER", "none"),
    ]
    if auth:
        env += [
            _value("REGISTRY_AUTH", "htpasswd"),
            _value("REGISTRY_AUTH_HTPASSWD_PATH", HTPASSWD_PATH),
            _value("REGISTRY_AUTH_HTPASSWD_REALM", REALM),
        ]
    else:
        env.append(_value("REGISTRY_AUTH", ""))  # an image's config that turns auth on: off, as the spec says
    if http_secret_name:
        env.append({"name": "REGISTRY_HTTP_SECRET",
                    "valueFrom": {"secretKeyRef": {"name": http_secret_name, "key": HTTP_SECRET_KEY}}})
    return sorted(env, key=lambda e: e["name"])
