"""The bodies of answers we read but do not stream, each within a size and a time: a refusal's, an
error's explanation, the reply to a PUT or a DELETE, a token service's answer.

Every request goes out streamed (``Transport.request``), so no answer's body is read whole
before we look at it: requests would read a non-streamed one to its end whatever its length and
however slowly it comes (each byte within the read timeout), so a registry answering a PUT with an
endless body filled the memory, and one that dripped a 500's explanation held the call past any
deadline. A body here is read as it comes, the socket's timeout set again before each read, and
left once it is over its limit or its time: the connection then goes with it (a half-read answer's
connection cannot serve another request).
"""

from __future__ import annotations

import time
from typing import Any

import requests
import urllib3

ERROR_BODY_LIMIT = 64 << 10  # an error's explanation is short; a streamed answer may be a whole blob
REFUSAL_SECONDS = 1.0  # what a refused answer's body may take to come before its connection is closed
ANSWER_BODY_SECONDS = 5.0  # what any other body read here may take to come after its headers


def read_within(response: requests.Response, *, limit: int, seconds: float) -> tuple[bytes, bool]:
    """At most ``limit`` bytes of a streamed answer's body, read as they come for at most
    ``seconds``: (what was read, whether the body ended there). A body that did not end is closed
    with its connection; one that did leaves its connection to the pool."""
    raw = response.raw
    declared = response.headers.get("Content-Length", "")
    if declared.isdigit() and int(declared) > limit:
        raw.close()
        return b"", False
    sock = getattr(getattr(raw, "connection", None), "sock", None)
    ends, body = time.monotonic() + seconds, bytearray()
    try:
        while len(body) <= limit:
            left = ends - time.monotonic()
            if left <= 0:
                break
            if sock is not None:
                sock.settimeout(left)  # urllib3 sets its own again for the connection's next request
            chunk = raw.read1(limit + 1 - len(body), decode_content=True)
            if not chunk:
                return bytes(body), True
            body += chunk
    except (OSError, urllib3.exceptions.HTTPError, requests.RequestException):
        pass  # it broke off or stalled: what came is all there is
    raw.close()
    return bytes(body[:limit]), False


def has_stated_end(response: requests.Response, *, limit: int) -> bool:
    """Whether the body says where it ends (a Content-Length within ``limit``, or chunks): one that
    does not ends only when the connection closes."""
    declared = response.headers.get("Content-Length", "")
    chunked = "chunked" in response.headers.get("Transfer-Encoding", "").lower()
    return chunked or (declared.isdigit() and int(declared) <= limit)


def finish_refusal(response: requests.Response, *, seconds: float) -> None:
    """Read a 401's body to its end, so that its connection serves the try with credentials (a
    streamed answer closed half-read closes its connection; through a cache that is a new stream
    of the port-forward). Only a short one that comes within ``seconds`` (at most REFUSAL_SECONDS:
    the caller passes the read timeout and the deadline it has left): a body of no stated end, a
    long one, or one that stalls or drips is left, and the connection closed with it."""
    if getattr(response, "_content_consumed", False):
        return  # read already
    if has_stated_end(response, limit=ERROR_BODY_LIMIT):
        read_within(response, limit=ERROR_BODY_LIMIT, seconds=min(seconds, REFUSAL_SECONDS))


def error_body(response: requests.Response, *, seconds: float) -> bytes:
    """At most ERROR_BODY_LIMIT bytes of an error answer's explanation, as much of it as comes within
    ``seconds`` (at most ANSWER_BODY_SECONDS)."""
    if getattr(response, "_content_consumed", False):
        return (response.content or b"")[:ERROR_BODY_LIMIT]
    return read_within(response, limit=ERROR_BODY_LIMIT, seconds=min(seconds, ANSWER_BODY_SECONDS))[0]


def settle(response: requests.Response, *, seconds: float) -> None:
    """The body of an answer the caller did not stream (a PUT's, a DELETE's, a HEAD's), read within
    ERROR_BODY_LIMIT and ``seconds`` (at most ANSWER_BODY_SECONDS) and kept as its ``content``:
    what is beyond is not read, and the call's outcome is its status. No caller reads such a body;
    one that needs a body asks for it streamed and reads it within bounds of its own."""
    body, _ = read_within(response, limit=ERROR_BODY_LIMIT, seconds=min(seconds, ANSWER_BODY_SECONDS))
    response._content = body
    response._content_consumed = True  # type: ignore[attr-defined]


def settle_redirect(response: requests.Response, *args: Any, **kwargs: Any) -> requests.Response:
    """A response hook: requests reads a redirect's body whole (``resp.content``) before it
    follows the redirect, so an endless one filled the memory; read it here within bounds first
    (``kwargs['timeout']``: the request's, whose read part bounds the time too)."""
    if response.is_redirect and not getattr(response, "_content_consumed", False):
        timeout = kwargs.get("timeout")
        read = timeout[1] if isinstance(timeout, tuple) else timeout
        settle(response, seconds=read if isinstance(read, (int, float)) else ANSWER_BODY_SECONDS)
    return response
