"""The bodies of answers we read but do not stream, each within a size and a time: a refusal's, an
error's explanation, the reply to a PUT or a DELETE, a redirect's, a token service's answer.

Every request goes out streamed (``Transport.request``), so no answer's body is read whole
before we look at it: requests would read a non-streamed one to its end whatever its length and
however slowly it comes (each byte within the read timeout), so a registry answering a PUT with an
endless body filled the memory, and one that dripped a 500's explanation held the call past any
deadline. A body here is read as it comes and left once it is over its limit or its time: the
connection then goes with it (a half-read answer's connection cannot serve another request).

The time is kept from outside the read (``cut_off_after``): one ``read1`` can go on inside
http.client and urllib3 for as long as bytes keep coming without giving us any (trailer lines
without end, a chunk-size line whose extension drips, gzip blocks that inflate to nothing), so a
clock checked between reads, or a socket timeout, which counts silence, never ends it.
"""

from __future__ import annotations

import heapq
import math
import os
import socket
import threading
import time

import requests
import urllib3

ERROR_BODY_LIMIT = 64 << 10  # an error's explanation is short; a streamed answer may be a whole blob
REFUSAL_SECONDS = 1.0  # what a refused answer's body may take to come before its connection is closed
ANSWER_BODY_SECONDS = 5.0  # what any other body read here may take to come after its headers

ENDED, TOO_BIG, OUT_OF_TIME, BROKEN_OFF = "ended", "too big", "out of time", "broken off"


class Watch:
    """One read's watch: ``fired`` once the watchdog has shut its connection down."""

    __slots__ = ("sock", "when", "fired", "done")

    def __init__(self, sock: socket.socket, when: float) -> None:
        self.sock, self.when, self.fired, self.done = sock, when, False, False

    def __lt__(self, other: Watch) -> bool:
        return self.when < other.when


class _Watchdog:
    """One thread that shuts a socket down at its time unless it is let off first: what ends a
    read that keeps receiving. Arming is a heap push under a lock (no thread per read); watches let
    off are dropped from the heap once they are most of it."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._heap: list[Watch] = []
        self._done = 0  # watches in the heap already let off
        self._thread: threading.Thread | None = None
        self._wakes_at = math.inf  # when the thread looks next: an earlier watch wakes it, no other

    def arm(self, sock: socket.socket, seconds: float) -> Watch:
        watch = Watch(sock, time.monotonic() + seconds)
        with self._cond:
            heapq.heappush(self._heap, watch)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name="kubectl-oras-body-watchdog", daemon=True)
                self._thread.start()
            if watch.when < self._wakes_at:
                self._wakes_at = watch.when
                self._cond.notify()
        return watch

    def disarm(self, watch: Watch) -> None:
        """Once this returns the socket is never shut by this watch; ``watch.fired`` says whether it was."""
        with self._cond:
            if not watch.done:
                watch.done = True
                self._done += 1
            if self._done > 64 and self._done * 2 > len(self._heap):
                self._heap = [w for w in self._heap if not w.done]
                heapq.heapify(self._heap)
                self._done = 0

    def _run(self) -> None:
        with self._cond:
            while True:
                now = time.monotonic()
                while self._heap and (self._heap[0].done or self._heap[0].when <= now):
                    watch = heapq.heappop(self._heap)
                    if watch.done:
                        self._done -= 1
                        continue
                    watch.done = watch.fired = True
                    try:
                        watch.sock.shutdown(socket.SHUT_RDWR)  # the blocked read returns; the connection is done
                    except OSError:
                        pass
                self._wakes_at = self._heap[0].when if self._heap else math.inf
                self._cond.wait(self._wakes_at - now if self._heap else None)


_WATCHDOG = _Watchdog()


def _new_watchdog_in_child() -> None:
    global _WATCHDOG
    _WATCHDOG = _Watchdog()  # a forked child has no such thread, and its lock may be held


os.register_at_fork(after_in_child=_new_watchdog_in_child)


class Unwatched:
    """A read with no socket to watch (its body was all there with the headers)."""

    fired = False


class cut_off_after:  # noqa: N801 (used as a function: ``with cut_off_after(answer, 5) as watch``)
    """While inside, ``response``'s connection is shut down once ``seconds`` have passed (the
    watch it gives says whether it was: ``fired``). urllib3 puts a connection back in its pool
    inside the read that ends its body, before this is left: another thread could take it and be
    cut off in our stead. So the connection is kept from its pool while watched, and given back
    (or closed, if the watch fired) on leaving. A class, not a generator: it wraps every body read."""

    __slots__ = ("_raw", "_seconds", "_pool", "_watch")

    def __init__(self, response: requests.Response, seconds: float) -> None:
        self._raw, self._seconds = response.raw, seconds
        self._watch: Watch | None = None

    def __enter__(self) -> Watch | Unwatched:
        raw = self._raw
        sock = getattr(getattr(raw, "connection", None), "sock", None)
        if not isinstance(sock, socket.socket) or not hasattr(raw, "_pool"):
            return Unwatched()  # no connection left to it: its body came whole with the headers
        self._pool, raw._pool = raw._pool, None  # release_conn() does nothing without it
        self._watch = _WATCHDOG.arm(sock, self._seconds)
        return self._watch

    def __exit__(self, *exc: object) -> None:
        watch = self._watch
        if watch is None:
            return
        _WATCHDOG.disarm(watch)
        raw = self._raw
        raw._pool = self._pool
        if watch.fired:
            raw.close()
        elif raw.closed:  # the body ended: its connection serves the next request
            raw.release_conn()


def _declared_beyond(response: requests.Response, limit: int) -> bool:
    """Whether the body, by what the answer says of it, is longer than ``limit`` (a HEAD's, a 204's
    or a 304's Content-Length says what a GET would send: they have no body)."""
    remaining = getattr(response.raw, "length_remaining", None)
    return isinstance(remaining, int) and remaining > limit


def read_within(response: requests.Response, *, limit: int, seconds: float) -> tuple[bytes, str]:
    """At most ``limit`` bytes of a streamed answer's body, read as they come for at most
    ``seconds``: (what was read, ENDED, TOO_BIG, OUT_OF_TIME or BROKEN_OFF). A body that did not
    end is closed with its connection; one that did leaves its connection to the pool."""
    raw = response.raw
    if _declared_beyond(response, limit):
        raw.close()
        return b"", TOO_BIG
    body, ended = bytearray(), False
    watch: Watch | Unwatched = Unwatched()
    try:
        with cut_off_after(response, seconds) as watch:
            while len(body) <= limit:
                chunk = raw.read1(limit + 1 - len(body), decode_content=True)
                if not chunk:
                    ended = True
                    break
                body += chunk
    except (OSError, urllib3.exceptions.HTTPError, requests.RequestException):
        pass  # it broke off, or was cut off: what came is all there is
    if ended and not watch.fired:
        return bytes(body), ENDED
    raw.close()
    why = OUT_OF_TIME if watch.fired else TOO_BIG if len(body) > limit else BROKEN_OFF
    return bytes(body[:limit]), why


def has_stated_end(response: requests.Response, *, limit: int) -> bool:
    """Whether the body says where it ends within ``limit`` (a length, none for a HEAD, or chunks):
    one that does not ends only when the connection closes."""
    remaining = getattr(response.raw, "length_remaining", None)
    chunked = "chunked" in response.headers.get("Transfer-Encoding", "").lower()
    return chunked or (isinstance(remaining, int) and remaining <= limit)


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
    """The body of an answer the caller did not stream (a PUT's, a DELETE's, a HEAD's, a
    redirect's), read within ERROR_BODY_LIMIT and ``seconds`` (at most ANSWER_BODY_SECONDS) and kept
    as its ``content``: what is beyond is not read, and the call's outcome is its status. No caller
    reads such a body; one that needs a body asks for it streamed and reads it within bounds of its own."""
    if getattr(response, "_content_consumed", False):
        return
    body, _ = read_within(response, limit=ERROR_BODY_LIMIT, seconds=min(seconds, ANSWER_BODY_SECONDS))
    response._content = body
    response._content_consumed = True  # type: ignore[attr-defined]


def is_unread_redirect(response: requests.Response) -> bool:
    """A redirect whose body requests would read whole (``resp.content``) before following it."""
    return response.is_redirect and not getattr(response, "_content_consumed", False)

