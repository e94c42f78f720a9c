"""kubectl's config flags (``--as``, ``--token``, ``--server``...) as one value, with the standard
library alone: the command line reads them before any command and leaves them here for
``kube/config.py: connect`` to apply, as kubectl applies them over the kubeconfig.

One value per process, like kubectl's own global flags: the command line sets it once (``use``)
and every connection it opens (a cluster command's, a cache's port-forward, `version`'s) reads it.
The controller and the webhook never set it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import OrasError


@dataclass(frozen=True)
class ConfigFlags:
    """What the user gave of kubectl's config flags; None (or empty) where not given."""

    impersonate: str | None = None  # --as
    impersonate_groups: tuple[str, ...] = ()  # --as-group
    token: str | None = None  # --token: never shown (``__repr__`` leaves it out)
    server: str | None = None  # --server, -s
    certificate_authority: str | None = None  # --certificate-authority
    insecure_skip_tls_verify: bool = False  # --insecure-skip-tls-verify
    request_timeout: float | None = None  # --request-timeout in seconds; 0: no limit; None: not given
    user: str | None = None  # --user: the kubeconfig user
    cluster: str | None = None  # --cluster: the kubeconfig cluster

    def __post_init__(self) -> None:
        # kubectl takes an empty value as a flag not given: a script's --token "$TOKEN" with TOKEN
        # unset keeps the kubeconfig user's credentials, --user "" the context's user
        for name in ("impersonate", "token", "server", "certificate_authority", "user", "cluster"):
            if getattr(self, name) == "":
                object.__setattr__(self, name, None)

    def __repr__(self) -> str:
        shown = {k: v for k, v in self.__dict__.items() if v not in (None, (), False)}
        if "token" in shown:
            shown["token"] = "(hidden)"
        return f"ConfigFlags({', '.join(f'{k}={v!r}' for k, v in shown.items())})"


_NUMBER = re.compile(r"^\d+(?:\.\d+)?$")
_DURATION = re.compile(r"^(?:\d+(?:\.\d+)?(?:ms|s|m|h))+$")
_PART = re.compile(r"(\d+(?:\.\d+)?)(ms|s|m|h)")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0}


def request_timeout(text: str) -> float:
    """kubectl's --request-timeout: a number of seconds (``30``), or a duration with units
    (``1s``, ``2m``, ``500ms``, ``1h30m``); ``0`` waits without limit."""
    if _NUMBER.match(text):
        return float(text)
    if not _DURATION.match(text):
        raise OrasError(f"--request-timeout {text!r}: give a number of seconds or a duration with units "
                        "(30, 1s, 2m, 1h30m); 0 for no limit")
    return sum(float(number) * _UNIT[unit] for number, unit in _PART.findall(text))


_given = ConfigFlags()


def use(flags: ConfigFlags) -> None:
    """The command line's flags, for every connection this process opens."""
    global _given
    _given = flags


def given() -> ConfigFlags:
    return _given
