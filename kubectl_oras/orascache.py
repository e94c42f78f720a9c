"""What every part agrees on about an OrasCache, said once: its API group and kind, the rule for
its name, the Service its registry answers behind, the Secrets the controller makes for it and
their keys, the form of a quantity in its spec, and the registry image it runs by default
(docs/orascache.md).

The controller makes these objects (``controller/core/``), the webhook wires them into pods
(``pods/``), and `kubectl oras` reads them and makes caches (``cluster/``, ``kube/api.py``); each
imports them from here. Plain constants and pure functions; nothing of the project but ``errors``
may be imported here, so that every layer can import it.
"""

from __future__ import annotations

import hashlib
import re
from decimal import Decimal
from typing import Any

# -- the resource (manifests/crd-orascache.yaml) ----------------------------------------------

GROUP = "cache.converged-computing.github.io"
VERSION = "v1alpha1"
API_VERSION = f"{GROUP}/{VERSION}"
KIND = "OrasCache"
PLURAL = "orascaches"

# The cache a pod uses when its `oras-cache` annotation names none, and `create-cache`'s name.
DEFAULT_CACHE = "oras"

# What the controller runs when spec.image names no registry image.
DEFAULT_REGISTRY_IMAGE = "docker.io/library/registry:3.0.0"

# -- its name ---------------------------------------------------------------------------------

# A cache's name names its Service (a DNS-1035 label) and its StatefulSet, whose pods carry the
# label controller-revision-hash: NAME-<10 characters>, at most 63: so at most 52 characters.
MAX_NAME = 52
_NAME = re.compile(r"[a-z]([-a-z0-9]*[a-z0-9])?")
NAME_RULE = (f"it names its registry's Service and StatefulSet, so it must be a DNS label of at most {MAX_NAME} "
             "characters starting with a letter (a-z, 0-9, -)")


def is_cache_name(name: Any) -> bool:
    """Whether the controller can run a cache of this name (NAME_RULE says the rule in words)."""
    return isinstance(name, str) and len(name) <= MAX_NAME and _NAME.fullmatch(name) is not None


# -- where its registry answers ---------------------------------------------------------------

REGISTRY_PORT = 5000  # the Service's port, and the registry container's


def registry_host(name: str, namespace: str, port: int = REGISTRY_PORT) -> str:
    """The cache's Service, as a registry host: ``NAME.NAMESPACE.svc:PORT``, reachable from any pod
    (no subdomain or hostname tricks). The controller writes it as ``status.endpoint``."""
    return f"{name}.{namespace}.svc:{port}"


def endpoint_port(endpoint: Any) -> int:
    """The port of a ``status.endpoint`` (``registry_host``'s form); REGISTRY_PORT otherwise."""
    if isinstance(endpoint, str) and ":" in endpoint:
        text = endpoint.rsplit(":", 1)[1]
        if text.isdigit() and 0 < int(text) < 65536:
            return int(text)
    return REGISTRY_PORT


# -- its Secrets ------------------------------------------------------------------------------

# The auth Secret's keys. The agents take them by envFrom, so they are also the variables the
# engine reads credentials from (oci/auth.py: Credentials.from_env); `kubectl oras` reads them
# from the Secret.
USER_KEY = "ORAS_USER"
PASSWORD_KEY = "ORAS_PASS"

MAX_SECRET_NAME = 253  # a Secret's name is a DNS subdomain


def _named(cache: str, suffix: str) -> str:
    """``cache + suffix``; when that is over 253 characters, the cache name cut short and marked
    with a hash of the whole of it, so two long names that share a beginning stay apart."""
    name = cache + suffix
    if len(name) <= MAX_SECRET_NAME:
        return name
    digest = hashlib.sha256(cache.encode()).hexdigest()[:8]
    # A cut may end in '.' or '-': '.-' would start a label with '-', which a DNS name may not.
    head = cache[: MAX_SECRET_NAME - len(suffix) - len(digest) - 1].rstrip(".-")
    return f"{head}-{digest}{suffix}"


def auth_secret_name(cache: str) -> str:
    """The Secret with USER_KEY and PASSWORD_KEY for the cache's registry (envFrom in the agents)."""
    return _named(cache, "-oras-auth")


def registry_secret_name(cache: str) -> str:
    """The Secret with the registry's own secrets (its htpasswd file, its HTTP secret): only the
    registry uses it, so the agents never see the password's hash."""
    return _named(cache, "-oras-registry")


# -- its status -------------------------------------------------------------------------------

# The Degraded reason of a cache whose registry pod is stuck (an image that cannot be pulled, a
# claim no volume binds, a container that keeps dying): the webhook denies its steps, and
# `create-cache --wait` stops waiting, both naming the pod's or the claim's reason.
REGISTRY_CANNOT_START = "RegistryCannotStart"

# -- quantities in its spec (storage sizes, resources) ----------------------------------------

# A Kubernetes quantity, as the apiserver parses one (and the CRD's isQuantity accepts): a signed
# decimal number, then a binary suffix (Ki … Ei), a decimal one (m, k, M … E) or an exponent (e3).
# The apiserver reads a number with no digits as 0: "Gi", ".", "+" and "e3" are quantities (of 0).
_QUANTITY = re.compile(r"([+-]?)([0-9]*\.?[0-9]*)(Ki|Mi|Gi|Ti|Pi|Ei|m|k|M|G|T|P|E|[eE][-+]?[0-9]+)?")
_SUFFIX: dict[str, Decimal | int] = {
    "": 1, "m": Decimal("0.001"), "k": 10**3, "M": 10**6, "G": 10**9, "T": 10**12, "P": 10**15, "E": 10**18,
    "Ki": 2**10, "Mi": 2**20, "Gi": 2**30, "Ti": 2**40, "Pi": 2**50, "Ei": 2**60}


def quantity(value: Any) -> Decimal | None:
    """A Kubernetes quantity's value ("1Gi", "1024Mi", "0.5", 2, "500m", "1e3"), or None when it
    is none. The apiserver keeps quantities in a canonical form of its own: compare values, not
    strings. The CRD also refuses a negative one: that is the caller's to check."""
    if isinstance(value, bool) or not isinstance(value, int | str):
        return None
    match = _QUANTITY.fullmatch(str(value))
    if not match or not str(value):
        return None
    sign, digits, suffix = match.group(1), match.group(2).strip("."), match.group(3) or ""
    try:
        number = Decimal(sign + match.group(2)) if digits else Decimal(0)
        if suffix in _SUFFIX:  # "Ei" and "E" are suffixes, not exponents
            return number * _SUFFIX[suffix]
        return number * Decimal(10) ** int(suffix[1:])
    except (ArithmeticError, ValueError):  # decimal's InvalidOperation and Overflow are ArithmeticErrors
        return None
