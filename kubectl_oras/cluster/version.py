"""The controller's version, for `kubectl oras version`: read from its Deployment in
kubectl-oras-system (the ``app.kubernetes.io/version`` label install sets, else the image's
tag), within a short timeout; None when the cluster or the Deployment cannot be read."""

from __future__ import annotations

import asyncio
from typing import Any

from ..errors import OrasError
from ..kube.api import Kube
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


async def controller_version(kube: Kube, *, timeout: float = TIMEOUT) -> str | None:
    try:
        deployment = await asyncio.wait_for(kube.get(DEPLOYMENTS, DEPLOYMENT, namespace=NAMESPACE, timeout=timeout),
                                            timeout)
    except (OrasError, TimeoutError):
        return None
    return version_of(deployment)


def read_controller_version(*, kubeconfig: str | None = None, context: str | None = None,
                            timeout: float = TIMEOUT) -> str | None:
    """Connect as kubectl would and read the controller's version; None when unreachable."""
    from ..kube.config import connect

    async def read() -> str | None:
        try:
            kube = await connect(kubeconfig=kubeconfig, context=context)
        except OrasError:
            return None
        async with kube:
            return await controller_version(kube, timeout=timeout)

    return asyncio.run(read())
