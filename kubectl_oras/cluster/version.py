"""The controller's version, for `kubectl oras version`: read from its Deployment in
kubectl-oras-system (the ``app.kubernetes.io/version`` label install sets, else the image's
tag), within a short timeout; when the cluster or the Deployment cannot be read, why not."""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import OrasError
from ..kube.api import Kube
from ..kube.errors import ObjectNotFound
from .install import DEPLOYMENT, DEPLOYMENTS, NAMESPACE, VERSION_LABEL

TIMEOUT = 3.0  # seconds: `version` must answer even when no cluster does


def version_of(deployment: dict[str, Any]) -> str | None:
    """The label's value, else the tag of the controller container's image (pure)."""
    label = ((deployment.get("metadata") or {}).get("labels") or {}).get(VERSION_LABEL)
    if isinstance(label, str) and label:
        return label
    containers = ((((deployment.get("spec") or {}).get("template") or {}).get("spec") or {}).get("containers")) or []
    for container in containers:
        image = container.get("image") if isinstance(container, dict) else None
        if isinstance(image, str):
            name = image.split("@", 1)[0]
            tail = name.rsplit("/", 1)[-1]
            if ":" in tail:
                return tail.rsplit(":", 1)[1]
    return None


async def controller_version(kube: Kube, *, timeout: float = TIMEOUT) -> tuple[str | None, str]:
    """(the controller's version, "") or (None, why it cannot be said)."""
    try:
        deployment = await asyncio.wait_for(kube.get(DEPLOYMENTS, DEPLOYMENT, namespace=NAMESPACE, timeout=timeout),
                                            timeout)
    except ObjectNotFound:
        return None, f"not installed (no Deployment {NAMESPACE}/{DEPLOYMENT}; kubectl oras install)"
    except OrasError as e:
        return None, str(e)
    except TimeoutError:
        return None, f"the cluster did not answer within {timeout:g} s"
    found = version_of(deployment)
    if found is None:
        return None, f"the Deployment {NAMESPACE}/{DEPLOYMENT} names no version (no {VERSION_LABEL} label, no image tag)"
    return found, ""


def ask_controller_version(*, kubeconfig: str | None = None, context: str | None = None,
                           timeout: float = TIMEOUT) -> tuple[str | None, str]:
    """Connect as kubectl would and read the controller's version: (version, "") or (None, why not)."""
    from ..kube.config import connect

    async def read() -> tuple[str | None, str]:
        try:
            kube = await connect(kubeconfig=kubeconfig, context=context)
        except OrasError as e:
            return None, str(e)
        async with kube:
            return await controller_version(kube, timeout=timeout)

    return asyncio.run(read())


def read_controller_version(*, kubeconfig: str | None = None, context: str | None = None,
                            timeout: float = TIMEOUT) -> str | None:
    """The controller's version; None when it cannot be read."""
    return ask_controller_version(kubeconfig=kubeconfig, context=context, timeout=timeout)[0]
