"""One watch request without a cluster: lines split across chunks, events decoded, errors mapped,
the request's parameters and time limits, and the connection closed when the caller leaves."""

from __future__ import annotations

import json

import aiohttp
import pytest

from kubectl_oras.kube.api import Kube, Resource
from kubectl_oras.kube.errors import ClusterUnreachable, Forbidden, Gone, KubeError
from kubectl_oras.kube.watch import LineSplitter, collection_path, decode_event, read_timeout, watch
from tests.support.fake_apiserver import FakeApiServer, FakeResponse, line

CONFIGMAPS = Resource("v1", "ConfigMap", "configmaps")
NODES = Resource("v1", "Node", "nodes", namespaced=False)


def cm(name: str, rv: str, **extra: object) -> dict:
    return {"kind": "ConfigMap", "metadata": {"name": name, "namespace": "lab", "resourceVersion": rv}, **extra}


# -- lines --------------------------------------------------------------------------------------


def test_lines_are_whole_wherever_the_chunks_break():
    events = [line({"type": "ADDED", "object": cm(f"o{i}", str(i), data={"k": "v" * i})}) for i in range(5)]
    stream = b"".join(events)
    for cut in range(len(stream) + 1):
        for step in (1, 7, len(stream)):
            splitter = LineSplitter()
            chunks = [stream[:cut]] + [stream[i:i + step] for i in range(cut, len(stream), step)]
            lines = [piece for chunk in chunks for piece in splitter.feed(chunk)]
            assert lines == [e.rstrip(b"\n") for e in events]
            assert splitter.finish() is None


def test_a_last_line_without_newline_blank_lines_and_crlf():
    splitter = LineSplitter()
    assert splitter.feed(b'{"a":1}\r\n\n  \n{"b"') == [b'{"a":1}\r']
    assert splitter.feed(b":2}") == []
    assert splitter.finish() == b'{"b":2}'
    assert splitter.finish() is None


def test_a_line_larger_than_any_readline_limit_passes_and_the_cap_holds():
    big = line({"type": "ADDED", "object": cm("big", "7", data={"x": "a" * (3 * 1024 * 1024)})})
    splitter = LineSplitter()
    lines = [piece for i in range(0, len(big), 65536) for piece in splitter.feed(big[i:i + 65536])]
    assert len(lines) == 1 and decode_event(lines[0], what="watch")[1]["metadata"]["name"] == "big"
    small = LineSplitter(max_line=100)
    with pytest.raises(KubeError, match="larger than 100 bytes"):
        for i in range(0, len(big), 64):
            small.feed(big[i:i + 64])
    with pytest.raises(KubeError, match="larger than 100 bytes"):
        LineSplitter(max_line=100).feed(b"x" * 101 + b"\n")


# -- events -------------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["ADDED", "MODIFIED", "DELETED"])
def test_object_events_decode_to_type_and_object(kind):
    assert decode_event(line({"type": kind, "object": cm("a", "5")}), what="w") == (kind, cm("a", "5"))


def test_a_bookmark_carries_only_a_resource_version():
    bookmark = {"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"resourceVersion": "210"}}
    assert decode_event(line({"type": "BOOKMARK", "object": bookmark}), what="w") == ("BOOKMARK", bookmark)


def test_an_error_event_with_410_is_gone_with_the_apiservers_words():
    status = {"kind": "Status", "status": "Failure", "message": "too old resource version: 1 (322)",
              "reason": "Expired", "code": 410}
    with pytest.raises(Gone) as gone:
        decode_event(line({"type": "ERROR", "object": status}), what="watch configmaps in lab")
    assert str(gone.value) == "watch configmaps in lab: too old resource version: 1 (322)"
    assert gone.value.status == 410 and gone.value.reason == "Expired"


def test_other_error_events_and_bare_statuses_are_mapped():
    with pytest.raises(KubeError) as error:
        decode_event(line({"type": "ERROR", "object": {"kind": "Status", "code": 500, "message": "etcd is sad"}}),
                     what="w")
    assert type(error.value) is KubeError and error.value.status == 500 and str(error.value) == "w: etcd is sad"
    with pytest.raises(KubeError, match="the API answered 0 in an ERROR event"):
        decode_event(line({"type": "ERROR", "object": {"kind": "Status", "code": "x"}}), what="w")
    with pytest.raises(Forbidden, match="w: nope"):
        decode_event(line({"kind": "Status", "code": 403, "message": "nope"}), what="w")


@pytest.mark.parametrize("raw, says", [
    (b"{not json", "not JSON"),
    (b"\xff\xfe{}", "not JSON"),
    (b"[1, 2]", "not an event"),
    (b'{"type": "ADDED"}', "without a type and an object"),
    (b'{"type": 5, "object": {}}', "without a type and an object"),
    (b'{"type": "ADDED", "object": []}', "without a type and an object"),
    (b'{"type": "RENAMED", "object": {}}', "unknown type 'RENAMED'"),
    (b'{"type": "ADDED", "object": {"metadata": {"name": "a"}}}', "without metadata.resourceVersion"),
    (b'{"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": 7}}}', "without metadata.resourceVersion"),
    (b'{"type": "MODIFIED", "object": {"metadata": {"resourceVersion": "7", "name": ""}}}', "without a name"),
    (b"[" * 100_000, "not JSON"),
])
def test_malformed_lines_are_a_kube_error_naming_what_is_wrong(raw, says):
    with pytest.raises(KubeError) as error:
        decode_event(raw, what="watch configmaps in lab")
    assert type(error.value) is KubeError
    assert str(error.value).startswith("watch configmaps in lab: ") and says in str(error.value)


# -- the request --------------------------------------------------------------------------------


def test_paths_for_one_namespace_and_all_of_them():
    assert collection_path(CONFIGMAPS, "lab") == "/api/v1/namespaces/lab/configmaps"
    assert collection_path(CONFIGMAPS, None) == "/api/v1/configmaps"
    assert collection_path(NODES, None) == "/api/v1/nodes"


class Recorder(FakeApiServer):
    """Answers every request with the next of ``responses`` and keeps the request's arguments."""

    def __init__(self, *responses: object) -> None:
        super().__init__()
        self.responses = list(responses)
        self.calls: list[dict] = []

    async def call_api(self, path, method, **kwargs):  # type: ignore[override]
        self.calls.append({"path": path, "method": method, **kwargs})
        response = self.responses.pop(0)
        if isinstance(response, BaseException):
            raise response
        return response


async def events_of(api: FakeApiServer, **kwargs: object) -> list:
    kwargs = {"namespace": "lab", "resource_version": "5", "timeout_seconds": 60, **kwargs}
    return [event async for event in watch(Kube(api), CONFIGMAPS, **kwargs)]  # type: ignore[arg-type]


async def test_the_request_asks_for_a_bounded_watch_with_bookmarks_through_the_api_clients_auth():
    stream = line({"type": "ADDED", "object": cm("a", "6")}) + line({"type": "BOOKMARK", "object": {
        "metadata": {"resourceVersion": "9"}}})
    response = FakeResponse(chunks=[stream[:10], stream[10:]])
    api = Recorder(response)
    assert await events_of(api, label_selector="app=x") == [
        ("ADDED", cm("a", "6")), ("BOOKMARK", {"metadata": {"resourceVersion": "9"}})]
    call = api.calls[0]
    assert call["path"] == "/api/v1/namespaces/lab/configmaps" and call["method"] == "GET"
    assert call["query_params"] == [("watch", "1"), ("resourceVersion", "5"), ("timeoutSeconds", "60"),
                                    ("allowWatchBookmarks", "true"), ("labelSelector", "app=x")]
    assert call["auth_settings"] == ["BearerToken"] and call["_preload_content"] is False
    timeout = call["_request_timeout"]
    assert isinstance(timeout, aiohttp.ClientTimeout)
    assert timeout.total is None and timeout.connect == timeout.sock_connect == 10
    assert 60 < timeout.sock_read == read_timeout(60) <= 75
    assert response.released and not response.closed


async def test_without_bookmarks_and_across_namespaces():
    api = Recorder(FakeResponse(chunks=[]))
    assert await events_of(api, namespace=None, bookmarks=False) == []
    assert api.calls[0]["path"] == "/api/v1/configmaps"
    assert ("allowWatchBookmarks", "true") not in api.calls[0]["query_params"]


@pytest.mark.parametrize("status, kind", [(410, Gone), (403, Forbidden), (500, KubeError)])
async def test_an_http_error_answer_is_mapped(status, kind):
    body = json.dumps({"kind": "Status", "code": status, "message": "the apiserver says no"}).encode()
    response = FakeResponse(status=status, body=body, reason="Whatever")
    with pytest.raises(KubeError) as error:
        await events_of(Recorder(response))
    assert type(error.value) is kind and str(error.value) == "watch configmaps in lab: the apiserver says no"
    assert response.closed


async def test_an_error_event_mid_stream_ends_it_with_gone_after_the_events_before():
    status = {"kind": "Status", "code": 410, "reason": "Expired", "message": "too old resource version: 5 (9)"}
    stream = [line({"type": "ADDED", "object": cm("a", "6")}), line({"type": "ERROR", "object": status})]
    response = FakeResponse(chunks=stream)
    seen = []
    with pytest.raises(Gone, match="too old resource version"):
        async for event in watch(Kube(Recorder(response)), CONFIGMAPS, namespace="lab",  # type: ignore[arg-type]
                                 resource_version="5", timeout_seconds=5):
            seen.append(event)
    assert seen == [("ADDED", cm("a", "6"))] and response.closed


@pytest.mark.parametrize("failure", [aiohttp.ClientConnectorError(
    aiohttp.client_reqrep.ConnectionKey("h", 1, True, True, None, None, None), OSError(111, "Connection refused")),
    TimeoutError(), ConnectionResetError(104, "reset")])
async def test_a_connection_that_fails_is_unreachable(failure):
    with pytest.raises(ClusterUnreachable, match="cannot reach the Kubernetes API at https://fake-apiserver"):
        await events_of(Recorder(failure))


@pytest.mark.parametrize("failure, says", [
    (aiohttp.SocketTimeoutError("Timeout on reading data from socket"), "no data for 71 s"),
    (aiohttp.ClientPayloadError("Response payload is not completed"), "Response payload is not completed"),
])
async def test_a_stream_that_breaks_off_or_goes_silent_is_unreachable(failure, says):
    response = FakeResponse(chunks=[line({"type": "ADDED", "object": cm("a", "6")}), failure])
    seen = []
    with pytest.raises(ClusterUnreachable) as error:
        async for event in watch(Kube(Recorder(response)), CONFIGMAPS, namespace="lab",  # type: ignore[arg-type]
                                 resource_version="5", timeout_seconds=60):
            seen.append(event)
    assert seen == [("ADDED", cm("a", "6"))] and response.closed
    assert str(error.value) == f"watch configmaps in lab: the stream from https://fake-apiserver broke off: {says}"


async def test_leaving_early_closes_the_connection_rather_than_reusing_it():
    response = FakeResponse(chunks=[line({"type": "ADDED", "object": cm(f"o{i}", str(i))}) for i in range(3)])
    events = watch(Kube(Recorder(response)), CONFIGMAPS, namespace="lab", resource_version="0",  # type: ignore[arg-type]
                   timeout_seconds=5)
    async for _ in events:
        break
    await events.aclose()
    assert response.closed and not response.released
