"""The step description the webhook hands the agent containers (JSON in KUBECTL_ORAS_STEP)."""

from __future__ import annotations

import json
import os
from dataclasses import dataclass

from typing import TYPE_CHECKING

from ..errors import OrasError
from ..reference import Reference, parse_reference

if TYPE_CHECKING:
    from ..registry import RegistryClient

EXIT_CODE_ANNOTATION = "dev.kubectl-oras.exit-code"


@dataclass(frozen=True)
class Step:
    registry: str
    plain_http: bool
    inputs: tuple[str, ...]
    output: str | None
    unpack: bool
    push_on_failure: str
    debug: bool
    share: str

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> Step:
        env = os.environ if environ is None else environ
        raw = env.get("KUBECTL_ORAS_STEP")
        if not raw:
            raise OrasError("KUBECTL_ORAS_STEP is not set: this container was not injected by kubectl-oras")
        try:
            d = json.loads(raw)
            return cls(d["registry"], bool(d["plainHttp"]), tuple(d.get("inputs") or ()), d.get("output"),
                       bool(d.get("unpack", True)), d.get("pushOnFailure", "never"), bool(d.get("debug")), d["share"])
        except (ValueError, KeyError, TypeError) as e:
            raise OrasError(f"KUBECTL_ORAS_STEP is malformed: {e}") from e

    def reference(self, name: str) -> Reference:
        return parse_reference(name, registry=self.registry)

    def client(self, *, push: bool) -> RegistryClient:
        from ..registry import Credentials, RegistryClient  # imported on first use: see inputs.run

        return RegistryClient(self.registry, plain_http=self.plain_http, credentials=Credentials.from_env(push=push))

    def path(self, *parts: str) -> str:
        return os.path.join(self.share, *parts)
