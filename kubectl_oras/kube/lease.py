"""Leader election on a coordination.k8s.io/v1 Lease, with client-go's semantics (docs/controller.md).

Two halves. ``decide`` is pure: given the Lease as read (or None), who we are, the time and how long
our own clock has seen the Lease unchanged, it says what to write (create, take over, renew) or to
wait, and gives the body. ``LeaderElection`` does the I/O around it: one API call at a time, each
with a timeout; optimistic concurrency through ``resourceVersion`` (a Conflict means someone else
wrote: read again); the caller's ``lead`` running as a task only while we hold the Lease; and on a
requested stop, the Lease released once ``lead`` has finished, so another replica leads at once.

Expiry is judged as client-go judges it, by our own monotonic clock since the Lease's spec last
changed, never by comparing its renewTime with our wall clock: two replicas whose clocks disagree
still agree on when a holder stopped renewing. The wall-clock times we write (acquireTime,
renewTime) are for people and other tools.
"""

from __future__ import annotations

import asyncio
import copy
import datetime as dt
import enum
import json
import logging
import math
import os
import secrets
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from ..tasks import cancel_and_wait
from ..times import format_rfc3339, parse_rfc3339
from .api import LEASES, Kube
from .errors import Conflict, KubeError, ObjectNotFound

log = logging.getLogger("kubectl_oras.lease")

INT32_MAX = 2**31 - 1  # leaseDurationSeconds and leaseTransitions are int32 in the API


# -- the pure half -----------------------------------------------------------------------------


class Action(enum.Enum):
    CREATE = "create"  # no Lease yet: create it, holding it
    TAKE_OVER = "take over"  # free, released or expired: replace it, holding it
    RENEW = "renew"  # ours: replace it with a fresh renewTime
    WAIT = "wait"  # someone else's and still valid (or nothing safe to write against)


@dataclass(frozen=True)
class LeaseRecord:
    """The Lease's spec as we read it, every field made sane: a field that is missing or of the
    wrong type is read as absent, never as an error."""

    holder: str  # "" when nobody holds it (never written, or released)
    duration_seconds: int | None  # None when missing, not an integer, or not positive
    acquire_time: dt.datetime | None
    renew_time: dt.datetime | None
    transitions: int  # 0 when missing or garbage


@dataclass(frozen=True)
class Decision:
    action: Action
    body: dict[str, Any] | None  # the Lease to create or replace; None to wait
    holder: str  # who holds it as read ("" when free)
    reason: str  # for logs: "free", "released", "expired", "ours", "held by …"
    wait_seconds: float = 0.0  # for WAIT: how long until it may be taken over, by our clock


def _spec_of(lease: object) -> dict[str, Any]:
    spec = lease.get("spec") if isinstance(lease, dict) else None
    return spec if isinstance(spec, dict) else {}


def _int(value: object) -> int | None:
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def read_record(lease: object) -> LeaseRecord:
    spec = _spec_of(lease)
    holder = spec.get("holderIdentity")
    duration = _int(spec.get("leaseDurationSeconds"))
    transitions = _int(spec.get("leaseTransitions"))
    return LeaseRecord(
        holder="" if holder is None else holder if isinstance(holder, str) else json.dumps(holder),
        duration_seconds=duration if duration is not None and duration > 0 else None,
        acquire_time=parse_rfc3339(spec.get("acquireTime"), zone_required=True),
        renew_time=parse_rfc3339(spec.get("renewTime"), zone_required=True),
        transitions=transitions if transitions is not None and 0 <= transitions <= INT32_MAX else 0,
    )


def spec_key(lease: object) -> str:
    """What identifies one version of the Lease's spec: a change restarts the expiry clock."""
    return json.dumps(_spec_of(lease), sort_keys=True, default=str)


def lease_duration_field(lease_seconds: float) -> int:
    return min(INT32_MAX, max(1, math.ceil(lease_seconds)))


def _body(lease: dict[str, Any] | None, *, namespace: str, name: str, spec: dict[str, Any]) -> dict[str, Any]:
    """The Lease to write: its metadata as read (resourceVersion included, so the write is
    conditional), its other spec fields kept, ours replaced."""
    metadata = copy.deepcopy(lease.get("metadata")) if lease is not None else None
    if not isinstance(metadata, dict):
        metadata = {"name": name, "namespace": namespace}
    merged = copy.deepcopy(_spec_of(lease))
    merged.update(spec)
    return {"apiVersion": LEASES.api_version, "kind": LEASES.kind, "metadata": metadata, "spec": merged}


def _resource_version(lease: dict[str, Any]) -> str | None:
    metadata = lease.get("metadata")
    version = metadata.get("resourceVersion") if isinstance(metadata, dict) else None
    return version if isinstance(version, str) and version else None


def decide(lease: dict[str, Any] | None, *, identity: str, namespace: str, name: str, now: dt.datetime,
           lease_seconds: float, unchanged_for: float) -> Decision:
    """What to do with the Lease as read (None: there is none).

    ``unchanged_for``: seconds, by our monotonic clock, that we have seen this Lease's spec
    unchanged (0 when it just changed, or when we read it for the first time). A held Lease has
    expired once that reaches its leaseDurationSeconds (our own ``lease_seconds`` when it has none
    we can read): whatever its renewTime says, since another machine's clock wrote it.
    """
    stamp = format_rfc3339(now, microseconds=True)
    ours = {"holderIdentity": identity, "leaseDurationSeconds": lease_duration_field(lease_seconds),
            "acquireTime": stamp, "renewTime": stamp}
    if lease is None:
        return Decision(Action.CREATE, _body(None, namespace=namespace, name=name, spec={**ours, "leaseTransitions": 0}),
                        holder="", reason="no lease yet")
    record = read_record(lease)
    if not isinstance(lease, dict) or _resource_version(lease) is None:
        # A write without resourceVersion would be unconditional: it could overwrite a holder.
        return Decision(Action.WAIT, None, holder=record.holder, reason="the lease has no resourceVersion",
                        wait_seconds=lease_seconds)
    if record.holder == identity:
        acquired = record.acquire_time
        spec = {**ours, "acquireTime": format_rfc3339(acquired, microseconds=True) if acquired else stamp,
                "leaseTransitions": record.transitions}
        return Decision(Action.RENEW, _body(lease, namespace=namespace, name=name, spec=spec), holder=identity,
                        reason="ours")
    taken = {**ours, "leaseTransitions": (record.transitions + 1) % (INT32_MAX + 1)}
    if not record.holder:
        reason = "released" if record.transitions or record.renew_time else "free"
        return Decision(Action.TAKE_OVER, _body(lease, namespace=namespace, name=name, spec=taken), holder="",
                        reason=reason)
    duration = record.duration_seconds or lease_seconds
    left = duration - max(0.0, unchanged_for)
    if left > 0:
        return Decision(Action.WAIT, None, holder=record.holder, reason=f"held by {record.holder}", wait_seconds=left)
    return Decision(Action.TAKE_OVER, _body(lease, namespace=namespace, name=name, spec=taken), holder=record.holder,
                    reason=f"expired (held by {record.holder}, not renewed for {max(0.0, unchanged_for):.1f}s)")


def release_body(lease: dict[str, Any], *, now: dt.datetime) -> dict[str, Any]:
    """The Lease as client-go's ReleaseOnCancel writes it: no holder, leaseDurationSeconds 1, both
    times now, the transitions kept; the next candidate takes it without waiting."""
    record = read_record(lease)
    stamp = format_rfc3339(now, microseconds=True)
    spec = {"holderIdentity": "", "leaseDurationSeconds": 1, "acquireTime": stamp, "renewTime": stamp,
            "leaseTransitions": record.transitions}
    metadata = lease.get("metadata")
    name = metadata.get("name", "") if isinstance(metadata, dict) else ""
    namespace = metadata.get("namespace", "") if isinstance(metadata, dict) else ""
    return _body(lease, namespace=namespace, name=name, spec=spec)


def default_identity() -> str:
    """This replica's name in the Lease: the pod's name (the downward API, or the hostname a pod
    gets) and a random suffix, so a restarted container never mistakes its predecessor's lease
    for its own."""
    base = os.environ.get("KUBECTL_ORAS_POD_NAME") or socket.gethostname() or "kubectl-oras"
    return f"{base}_{secrets.token_hex(4)}"


# -- the I/O half ------------------------------------------------------------------------------


class _Outcome(enum.Enum):
    HELD = "held"  # we hold the Lease now
    OTHER = "other"  # someone else holds it
    FAILED = "failed"  # the API failed us: we do not know


Lead = Callable[[asyncio.Event], Awaitable[None]]


class LeaderElection:
    """Stand for leadership of ``namespace/name`` and run ``lead`` while we hold it.

    ``lead(stepping_down)`` runs as a task from the moment we acquire the Lease. ``stepping_down``
    is set when it must stop: on ``stop`` (the Lease is renewed while it finishes, for up to
    ``shutdown_seconds``, then released) or when renewal has failed for ``renew_seconds`` (the
    Lease may pass to another replica ``lease_seconds`` after our last renewal, so ``lead`` gets
    the difference, ``grace_seconds``, before it is cancelled). Cancelling ``run`` itself is a
    crash: ``lead`` is cancelled and the Lease left to expire.
    """

    def __init__(self, kube: Kube, *, namespace: str, name: str, identity: str | None = None,
                 lease_seconds: float = 15, renew_seconds: float = 10, retry_seconds: float = 2,
                 grace_seconds: float | None = None, shutdown_seconds: float = 20) -> None:
        if not 0 < retry_seconds < renew_seconds < lease_seconds:
            raise ValueError("leader election needs 0 < retry_seconds < renew_seconds < lease_seconds "
                             f"(got {retry_seconds}, {renew_seconds}, {lease_seconds})")
        LEASES.path(namespace=namespace, name=name)  # refuses an empty or '..' name now, not in the loop
        self.kube = kube
        self.namespace = namespace
        self.name = name
        self.identity = identity or default_identity()
        self.lease_seconds = lease_seconds
        self.renew_seconds = renew_seconds
        self.retry_seconds = retry_seconds
        self.grace_seconds = lease_seconds - renew_seconds if grace_seconds is None else grace_seconds
        self.shutdown_seconds = shutdown_seconds
        self._leading = False
        self._lease: dict[str, Any] | None = None  # the last version we read or wrote
        self._observed_key: str | None = None
        self._observed_at = 0.0  # monotonic: when the spec we last saw first appeared
        self._last_renew = 0.0  # monotonic: when our last successful write was sent
        self._last_problem = ""
        self._last_holder: str | None = None

    @property
    def is_leader(self) -> bool:
        """True while we hold the Lease: from acquiring it until we lose or release it."""
        return self._leading

    @property
    def where(self) -> str:
        return f"{self.namespace}/{self.name}"

    # -- the loop ------------------------------------------------------------------------------

    async def run(self, lead: Lead, stop: asyncio.Event) -> None:
        """Until ``stop``: acquire the Lease (every ``retry_seconds``), lead while we hold it."""
        log.info("standing for leadership of lease %s as %s", self.where, self.identity,
                 extra={"lease": self.where, "identity": self.identity})
        try:
            while not stop.is_set():
                sent = time.monotonic()
                if await self._attempt(self._call_timeout()) is _Outcome.HELD:
                    self._became_leader(sent)
                    if stop.is_set():
                        self._leading = False
                        await self._release()
                        break
                    await self._lead(lead, stop)
                    if stop.is_set():
                        break
                await _sleep_unless(stop, self.retry_seconds)
        finally:
            self._leading = False

    def _became_leader(self, sent: float) -> None:
        self._leading = True
        self._last_renew = sent
        self._last_holder = self.identity
        log.info("became leader of lease %s as %s", self.where, self.identity,
                 extra={"lease": self.where, "identity": self.identity})

    async def _lead(self, lead: Lead, stop: asyncio.Event) -> None:
        stepping_down = asyncio.Event()
        task = asyncio.create_task(_awaited(lead(stepping_down)), name=f"lead {self.where}")
        shutdown_deadline = math.inf
        try:
            while True:
                await _first_of(task, None if stepping_down.is_set() else stop, timeout=self.retry_seconds)
                if task.done():
                    break
                if stop.is_set() and not stepping_down.is_set():
                    log.info("stepping down from lease %s: shutting down", self.where, extra={"lease": self.where})
                    stepping_down.set()
                    shutdown_deadline = time.monotonic() + self.shutdown_seconds
                    continue  # let lead finish before the next renewal if it can
                if time.monotonic() >= shutdown_deadline:
                    log.warning("the leader's work did not finish within %.0fs of the stop; cancelling it",
                                self.shutdown_seconds, extra={"lease": self.where})
                    await cancel_and_wait([task])  # its failure, if any, is reported below
                    break
                sent = time.monotonic()
                left = self._last_renew + self.renew_seconds - sent
                outcome = await self._attempt(max(0.2, min(self._call_timeout(), left)))
                if outcome is _Outcome.HELD:
                    self._last_renew = sent
                    continue
                if outcome is _Outcome.OTHER or time.monotonic() - self._last_renew >= self.renew_seconds:
                    why = (f"{self._last_holder} holds it now" if outcome is _Outcome.OTHER
                           else f"not renewed for {time.monotonic() - self._last_renew:.1f}s")
                    self._leading = False
                    log.warning("lost the lease %s (%s); stepping down", self.where, why, extra={"lease": self.where})
                    stepping_down.set()
                    await _finish(task, self.grace_seconds)
                    _report(task)
                    return
        finally:
            if not task.done():  # run() was cancelled: a crash, so no release
                self._leading = False
                await cancel_and_wait([task], timeout=self.grace_seconds)
        # lead has returned: asked to, or on its own (finished, or failed)
        if not stepping_down.is_set():
            log.warning("the leader's work ended without being asked to; releasing lease %s", self.where,
                        extra={"lease": self.where})
        _report(task)
        self._leading = False
        await self._release()

    # -- one API exchange ---------------------------------------------------------------------

    def _call_timeout(self) -> float:
        return min(self.kube.timeout or self.renew_seconds, self.renew_seconds)

    def _observe(self, lease: dict[str, Any] | None, at: float) -> None:
        key = spec_key(lease) if lease is not None else None
        if key != self._observed_key:
            self._observed_key = key
            self._observed_at = at

    def _problem(self, message: str) -> None:
        if message != self._last_problem:  # once per distinct failure, not every retry
            log.warning("%s", message, extra={"lease": self.where})
            self._last_problem = message

    async def _read(self, timeout: float) -> dict[str, Any] | None:
        try:
            lease = await self.kube.get(LEASES, self.name, namespace=self.namespace, timeout=timeout)
        except ObjectNotFound:
            lease = None
        self._observe(lease, time.monotonic())
        self._lease = lease
        return lease

    async def _write(self, decision: Decision, timeout: float) -> dict[str, Any]:
        assert decision.body is not None
        if decision.action is Action.CREATE:
            return await self.kube.call("POST", LEASES.path(namespace=self.namespace), body=decision.body,
                                        timeout=timeout, what=f"create {LEASES.describe(self.name, self.namespace)}")
        return await self.kube.call("PUT", LEASES.path(namespace=self.namespace, name=self.name), body=decision.body,
                                    timeout=timeout, what=f"replace {LEASES.describe(self.name, self.namespace)}")

    async def _attempt(self, timeout: float) -> _Outcome:
        """One try to acquire or renew. The leader writes over the version it last wrote without
        reading first; a Conflict (someone else wrote) sends it to read once more at once."""
        fast = self._leading and self._lease is not None and read_record(self._lease).holder == self.identity
        for _ in range(2):
            try:
                lease = self._lease if fast else await self._read(timeout)
                decision = decide(lease, identity=self.identity, namespace=self.namespace, name=self.name,
                                  now=dt.datetime.now(dt.UTC), lease_seconds=self.lease_seconds,
                                  unchanged_for=time.monotonic() - self._observed_at)
                if decision.action is Action.WAIT:
                    if decision.holder != self._last_holder:
                        log.info("lease %s is %s; standing by", self.where, decision.reason, extra={"lease": self.where})
                        self._last_holder = decision.holder
                    self._last_problem = ""
                    return _Outcome.OTHER
                sent = time.monotonic()
                written = await self._write(decision, timeout)
            except Conflict:
                self._lease = None  # someone else wrote (or created it first): read again
                fast = False
                continue
            except KubeError as e:
                self._problem(f"lease {self.where}: {e}")
                return _Outcome.FAILED
            if decision.action is not Action.RENEW:
                log.info("took lease %s (%s)", self.where, decision.reason, extra={"lease": self.where})
            self._lease = written
            self._observe(written, sent)
            self._last_problem = ""
            return _Outcome.HELD
        return _Outcome.FAILED

    async def _release(self) -> None:
        """Hand the Lease back (client-go's ReleaseOnCancel), if it is still ours. A failure is
        logged, not raised: the Lease then expires on its own."""
        timeout = self._call_timeout()
        lease = self._lease
        for _ in range(3):
            try:
                if lease is None or read_record(lease).holder != self.identity:
                    lease = await self._read(timeout)
                if lease is None or read_record(lease).holder != self.identity:
                    log.info("lease %s is no longer ours; nothing to release", self.where, extra={"lease": self.where})
                    return
                body = release_body(lease, now=dt.datetime.now(dt.UTC))
                self._lease = await self.kube.call(
                    "PUT", LEASES.path(namespace=self.namespace, name=self.name), body=body, timeout=timeout,
                    what=f"release {LEASES.describe(self.name, self.namespace)}")
            except Conflict:
                lease = None
                continue
            except KubeError as e:
                log.warning("could not release lease %s (%s); it expires on its own", self.where, e,
                            extra={"lease": self.where})
                return
            self._last_holder = ""
            log.info("released the lease %s", self.where, extra={"lease": self.where, "identity": self.identity})
            return
        log.warning("could not release lease %s: it kept changing", self.where, extra={"lease": self.where})


async def _awaited(work: Awaitable[None]) -> None:
    await work


async def _sleep_unless(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass


async def _first_of(task: asyncio.Task[None], stop: asyncio.Event | None, *, timeout: float) -> None:
    waiters: set[asyncio.Future[Any]] = {task}
    stopped = asyncio.ensure_future(stop.wait()) if stop is not None else None
    if stopped is not None:
        waiters.add(stopped)
    try:
        await asyncio.wait(waiters, timeout=timeout, return_when=asyncio.FIRST_COMPLETED)
    finally:
        if stopped is not None:
            await cancel_and_wait([stopped])


async def _finish(task: asyncio.Task[None], grace: float) -> None:
    """Give ``task`` ``grace`` seconds to return, then cancel it and wait for it."""
    await asyncio.wait({task}, timeout=max(0.0, grace))
    if not task.done():
        log.warning("the leader's work did not stop within %.1fs; cancelling it", grace)
        await cancel_and_wait([task])  # the caller reports how it ended


def _report(task: asyncio.Task[None]) -> None:
    if task.cancelled():
        return
    error = task.exception()
    if error is not None:
        log.error("the leader's work failed: %s", error, exc_info=error)
