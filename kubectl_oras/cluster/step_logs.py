"""`kubectl oras logs TYPE/NAME` in a cluster: find the workload's pods, and write each container's
log, as ``pods/step_logs.py`` orders and names them, through ``Kube.stream``."""

from __future__ import annotations

import asyncio
import codecs
from collections.abc import Callable
from typing import Any

from ..errors import OrasError
from ..kube.api import JOBS, PODS, Kube
from ..kube.errors import ObjectNotFound
from ..pods.step_logs import ContainerLog, container_logs, in_order, owned_by, pod_selector
from .annotate import RESOURCES

FOLLOW_SILENCE = 7 * 24 * 3600.0  # a followed step may print nothing for long: this is no limit on it
LOOK_EVERY = 1.0  # how often -f looks whether a container has started
FINISHED = ("Succeeded", "Failed")


async def workload_pods(kube: Kube, kind: str, name: str, namespace: str) -> list[dict[str, Any]]:
    """The pods of the workload (or the pod), in the order they were made."""
    try:
        obj = await kube.get(RESOURCES[kind], name, namespace=namespace)
    except ObjectNotFound:
        raise OrasError(f"no {kind} {name!r} in namespace {namespace}") from None
    if kind == "Pod":
        return [obj]
    owners = [obj]
    if kind == "CronJob":
        owners = owned_by((await kube.list(JOBS, namespace=namespace)).get("items") or [], "CronJob", name)
    pods: list[dict[str, Any]] = []
    for owner in owners:
        pods += (await kube.list(PODS, namespace=namespace, label_selector=pod_selector(
            str(owner.get("kind") or kind), owner))).get("items") or []
    return in_order(pods)


async def _started(kube: Kube, part: ContainerLog, namespace: str, say: Callable[[str], None]) -> ContainerLog:
    """``part`` once its container has started (-f), looking every LOOK_EVERY s; as it is last
    seen when the pod finished, or went, without starting it."""
    said = False
    while part.waiting:
        if not said:
            say(f"waiting: {part.container}: {part.waiting}")
            said = True
        await asyncio.sleep(LOOK_EVERY)
        try:
            pod = await kube.get(PODS, part.pod, namespace=namespace)
        except ObjectNotFound:
            return ContainerLog(part.pod, part.container, part.role, "the pod is gone")
        (part,) = container_logs(pod, container=part.container)
        if part.waiting and (pod.get("status") or {}).get("phase") in FINISHED:
            return part
    return part


async def write_logs(kube: Kube, pods: list[dict[str, Any]], namespace: str, *, container: str | None,
                     follow: bool, write: Callable[[str], None], say: Callable[[str], None]) -> None:
    """Each pod's containers' logs, in order, each after its header (``write``); a container
    with no log yet is said so (``say``), and with ``follow`` waited for."""
    for pod in pods:
        for part in container_logs(pod, container=container):
            write(part.header + "\n")
            if follow:
                part = await _started(kube, part, namespace, say)
            if part.waiting:
                say(f"{part.container}: {part.waiting}")
                continue
            query = [("container", part.container)] + ([("follow", "true")] if follow else [])
            decoder = codecs.getincrementaldecoder("utf-8")(errors="replace")
            last = ""
            async for chunk in kube.stream(PODS.path(namespace=namespace, name=part.pod, subresource="log"),
                                           what=f"read the log of pod/{part.pod} container {part.container}",
                                           query=query, connect_timeout=10, read_timeout=FOLLOW_SILENCE):
                text = decoder.decode(chunk)
                if text:
                    write(text)
                    last = text
            rest = decoder.decode(b"", final=True)
            if rest:
                write(rest)
                last = rest
            if last and not last.endswith("\n"):  # the next header starts a line of its own
                write("\n")
