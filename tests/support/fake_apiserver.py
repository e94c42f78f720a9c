"""An in-process stand-in for kubernetes-asyncio's ApiClient, answering list and watch of one
collection the way the apiserver does, for the informer's tier-0 tests (no process, no socket).

It keeps objects and a history of events with resourceVersions; a list answers in pages
(``limit``/``continue``) at the current resourceVersion; a watch streams the history after its
resourceVersion and then live events until its ``timeoutSeconds`` (scaled by ``time_scale``) run
out, or an ERROR 410 when the resourceVersion is older than ``oldest`` (what compaction does).
``failures`` queues exceptions to raise or responses to give for the next requests.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass, field
from types import SimpleNamespace
from typing import Any

from kubernetes_asyncio.client.exceptions import ApiException


def api_exception(status: int, message: str, reason: str = "") -> ApiException:
    e = ApiException(status=status, reason=reason or "Error")
    e.body = json.dumps({"kind": "Status", "status": "Failure", "message": message, "reason": reason, "code": status})
    return e


class FakeContent:
    def __init__(self, stream: Any) -> None:
        self._stream = stream

    def iter_any(self) -> Any:
        return self._stream


class FakeResponse:
    """What ``call_api(..., _preload_content=False)`` hands back: aiohttp's response, unread."""

    def __init__(self, status: int = 200, chunks: Any = (), body: bytes = b"", reason: str = "OK") -> None:
        self.status = status
        self.reason = reason
        self._body = body
        self.released = False
        self.closed = False

        async def stream() -> Any:
            for chunk in chunks:
                if isinstance(chunk, BaseException):
                    raise chunk
                yield chunk

        self.content = FakeContent(chunks if hasattr(chunks, "__anext__") else stream())

    async def read(self) -> bytes:
        return self._body

    def release(self) -> None:
        self.released = True

    def close(self) -> None:
        self.closed = True


def line(event: dict[str, Any]) -> bytes:
    return json.dumps(event).encode() + b"\n"


@dataclass
class FakeApiServer:
    namespace: str = "lab"
    resource_version: int = 100
    oldest: int = 0  # a watch from an older resourceVersion gets 410
    time_scale: float = 0.01  # a watch's timeoutSeconds, in seconds of this fake
    expire_continue: int = 0  # this many continue tokens are answered 410
    objects: dict[str, dict[str, Any]] = field(default_factory=dict)
    history: list[tuple[int, str, dict[str, Any]]] = field(default_factory=list)
    failures: list[Any] = field(default_factory=list)
    requests: list[tuple[str, str, dict[str, Any]]] = field(default_factory=list)
    configuration: Any = field(default_factory=lambda: SimpleNamespace(host="https://fake-apiserver"))
    _changed: asyncio.Condition | None = None

    # -- what tests do to the objects ---------------------------------------------------------

    def put(self, name: str, data: dict[str, str] | None = None, *, uid: str | None = None) -> dict[str, Any]:
        self.resource_version += 1
        old = self.objects.get(name)
        obj = {"apiVersion": "v1", "kind": "ConfigMap",
               "metadata": {"name": name, "namespace": self.namespace, "resourceVersion": str(self.resource_version),
                            "uid": uid or (old["metadata"]["uid"] if old else f"uid-{name}-{self.resource_version}")},
               "data": data or {}}
        self.objects[name] = obj
        self._record("MODIFIED" if old else "ADDED", obj)
        return obj

    def remove(self, name: str) -> None:
        self.resource_version += 1
        obj = json.loads(json.dumps(self.objects.pop(name)))
        obj["metadata"]["resourceVersion"] = str(self.resource_version)
        self._record("DELETED", obj)

    def compact(self) -> None:
        """Forget the history: a watch from any resourceVersion seen so far gets 410."""
        self.oldest = self.resource_version + 1
        self.history.clear()

    def _record(self, kind: str, obj: dict[str, Any]) -> None:
        self.history.append((self.resource_version, kind, json.loads(json.dumps(obj))))
        self._notify()

    def _notify(self) -> None:
        if self._changed is not None:
            changed = self._changed

            async def wake() -> None:
                async with changed:
                    changed.notify_all()

            asyncio.get_running_loop().create_task(wake())

    def count(self, kind: str) -> int:
        return sum(1 for _, _, query in self.requests if ("watch" in query) == (kind == "watch"))

    # -- ApiClient ----------------------------------------------------------------------------

    async def call_api(self, path: str, method: str, *, query_params: Any = None, _preload_content: bool = True,
                       **_: Any) -> Any:
        query = dict(query_params or [])
        self.requests.append((method, path, query))
        await asyncio.sleep(0)
        if self.failures:
            failure = self.failures.pop(0)
            if isinstance(failure, BaseException):
                raise failure
            return failure
        if "watch" in query:
            assert not _preload_content
            return self._watch(int(query["resourceVersion"]), float(query["timeoutSeconds"]))
        assert _preload_content
        return self._list(int(query["limit"]), query.get("continue"))

    def _list(self, limit: int, token: str | None) -> dict[str, Any]:
        if token:
            if self.expire_continue:
                self.expire_continue -= 1
                raise api_exception(410, "The provided continue parameter is too old to display a consistent list "
                                         "result. You can start a new list without the continue parameter.", "Expired")
            version, start = (int(part) for part in token.split(":"))
        else:
            version, start = self.resource_version, 0
        names = sorted(self.objects)
        page = names[start:start + limit]
        items = []
        for name in page:
            item = json.loads(json.dumps(self.objects[name]))
            del item["apiVersion"], item["kind"]  # as in a real list
            items.append(item)
        metadata: dict[str, Any] = {"resourceVersion": str(version)}
        if start + limit < len(names):
            metadata["continue"] = f"{version}:{start + limit}"
        return {"kind": "ConfigMapList", "apiVersion": "v1", "metadata": metadata, "items": items}

    def _watch(self, since: int, timeout_seconds: float) -> FakeResponse:
        if since < self.oldest - 1:
            status = {"kind": "Status", "apiVersion": "v1", "status": "Failure", "reason": "Expired", "code": 410,
                      "message": f"too old resource version: {since} ({self.oldest - 1})"}
            return FakeResponse(chunks=[line({"type": "ERROR", "object": status})])
        if self._changed is None:
            self._changed = asyncio.Condition()
        changed = self._changed

        async def stream() -> Any:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + timeout_seconds * self.time_scale
            sent = since
            while True:
                for version, kind, obj in list(self.history):
                    if version > sent:
                        sent = version
                        yield line({"type": kind, "object": obj})
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return
                async with changed:
                    try:
                        await asyncio.wait_for(changed.wait(), remaining)
                    except TimeoutError:
                        pass

        return FakeResponse(chunks=stream())
