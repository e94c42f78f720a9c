"""Tier 2: leader election (kube/lease.py) on a real kube-apiserver's Lease API. Candidates run in
one event loop, each with its own connection; a crash is the elector's task cancelled (the Lease is
left to expire), a graceful stop releases it. Times are measured and printed; the assertions leave
generous room above and assert no early takeover below."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from dataclasses import dataclass, field

import pytest

from kubectl_oras.kube.api import LEASES, Kube
from kubectl_oras.kube.config import connect
from kubectl_oras.kube.lease import LeaderElection
from tests.cluster.apply import new_namespace

LEASE_SECONDS, RENEW_SECONDS, RETRY_SECONDS = 3.0, 2.0, 0.5
SLACK = 5.0  # seconds of room for a busy machine; the figures printed are what to look at


@pytest.fixture(scope="module")
def ns(control_plane) -> str:
    return new_namespace(control_plane, "lease")


@dataclass
class Candidate:
    """One replica: its connection, elector, stop event and run task; what its lead saw."""

    name: str
    kube: Kube
    election: LeaderElection
    stop: asyncio.Event = field(default_factory=asyncio.Event)
    task: asyncio.Task[None] | None = None
    terms: int = 0

    def start(self, lead) -> None:
        self.task = asyncio.create_task(self.election.run(lead, self.stop))

    async def crash(self) -> None:
        assert self.task is not None
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)

    async def close(self) -> None:
        if self.task is not None and not self.task.done():
            await self.crash()
        await self.kube.close()


async def candidate(control_plane, ns: str, lease: str, name: str) -> Candidate:
    kube = await connect(kubeconfig=str(control_plane.kubeconfig))
    election = LeaderElection(kube, namespace=ns, name=lease, identity=f"{name}_{uuid.uuid4().hex[:8]}",
                              lease_seconds=LEASE_SECONDS, renew_seconds=RENEW_SECONDS, retry_seconds=RETRY_SECONDS)
    return Candidate(name, kube, election)


async def until(predicate, timeout: float) -> float:
    """Seconds until ``predicate()`` held, polled every 20 ms."""
    began = time.monotonic()
    while not predicate():
        if time.monotonic() - began > timeout:
            raise AssertionError(f"not within {timeout}s")
        await asyncio.sleep(0.02)
    return time.monotonic() - began


def leaders(candidates: list[Candidate]) -> list[str]:
    return [c.name for c in candidates if c.election.is_leader]


async def test_exactly_one_leads_and_a_crashed_leaders_lease_passes_when_it_expires(control_plane, ns):
    lease = f"one-{uuid.uuid4().hex[:6]}"
    a, b = await candidate(control_plane, ns, lease, "a"), await candidate(control_plane, ns, lease, "b")
    running: set[str] = set()
    most_at_once = 0

    def lead_as(c: Candidate):
        async def lead(stepping_down: asyncio.Event) -> None:
            nonlocal most_at_once
            c.terms += 1
            running.add(c.name)
            most_at_once = max(most_at_once, len(running))
            try:
                await stepping_down.wait()
            finally:
                running.discard(c.name)
        return lead

    try:
        a.start(lead_as(a))
        b.start(lead_as(b))
        await until(lambda: len(leaders([a, b])) == 1, timeout=20)
        first = leaders([a, b])[0]
        # Watch for a few lease durations: always the same one leader, its lead started once.
        watch_until = time.monotonic() + 2 * LEASE_SECONDS
        while time.monotonic() < watch_until:
            assert leaders([a, b]) == [first]
            await asyncio.sleep(0.02)
        assert (a.terms + b.terms, most_at_once) == (1, 1)

        leader, other = (a, b) if first == "a" else (b, a)
        stored = await leader.kube.get(LEASES, lease, namespace=ns)
        assert stored["spec"]["holderIdentity"] == leader.election.identity
        assert stored["spec"]["leaseDurationSeconds"] == 3 and stored["spec"]["leaseTransitions"] == 0
        renewed = stored["spec"]["renewTime"]
        assert renewed.endswith("Z") and len(renewed.split(".")[1]) == 7  # MicroTime: six digits and Z

        await leader.crash()  # no release: the lease stays held until it expires
        # Leading (the flag) comes a moment before its lead task first runs: wait for both.
        takeover = await until(lambda: other.election.is_leader and other.terms == 1,
                               timeout=LEASE_SECONDS + RETRY_SECONDS + SLACK)
        print(f"\ntakeover after a crash: {takeover:.2f}s (lease {LEASE_SECONDS}s, retry {RETRY_SECONDS}s)")
        # Not before the lease could have expired: the leader renewed at most a retry period
        # (and a round trip) before it crashed.
        assert takeover >= LEASE_SECONDS - RETRY_SECONDS - 1.0
        assert most_at_once == 1 and other.terms == 1
        stored = await other.kube.get(LEASES, lease, namespace=ns)
        assert stored["spec"]["holderIdentity"] == other.election.identity
        assert stored["spec"]["leaseTransitions"] == 1
    finally:
        for c in (a, b):
            c.stop.set()
        await asyncio.wait_for(asyncio.gather(*(c.task for c in (a, b) if c.task), return_exceptions=True), 30)
        for c in (a, b):
            await c.close()


class Recorder(logging.Handler):
    """Puts the elector's "released the lease" into the same list as the leads' own events."""

    def __init__(self, events: list[tuple[str, str]], names: dict[str, str]) -> None:
        super().__init__(logging.INFO)
        self.events, self.names = events, names

    def emit(self, record: logging.LogRecord) -> None:
        if record.getMessage().startswith("released the lease"):
            self.events.append((self.names[getattr(record, "identity", "")], "released"))


async def test_a_graceful_stop_finishes_the_work_in_flight_releases_and_the_other_leads_at_once(control_plane, ns):
    lease = f"stop-{uuid.uuid4().hex[:6]}"
    a, b = await candidate(control_plane, ns, lease, "a"), await candidate(control_plane, ns, lease, "b")
    events: list[tuple[str, str]] = []
    handler = Recorder(events, {a.election.identity: "a", b.election.identity: "b"})
    logger = logging.getLogger("kubectl_oras.lease")
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)

    def lead_as(c: Candidate):
        async def lead(stepping_down: asyncio.Event) -> None:
            events.append((c.name, "leads"))
            await stepping_down.wait()
            events.append((c.name, "stepping down"))
            await asyncio.sleep(1.0)  # work in flight, finished before the lease goes
            events.append((c.name, "work done"))
        return lead

    try:
        a.start(lead_as(a))
        await until(lambda: a.election.is_leader, timeout=20)
        b.start(lead_as(b))
        await asyncio.sleep(2 * RETRY_SECONDS)  # b stands by
        assert not b.election.is_leader

        a.stop.set()
        assert a.task is not None
        await asyncio.wait_for(a.task, 20)
        released = time.monotonic()
        takeover = await until(lambda: b.election.is_leader, timeout=RETRY_SECONDS + SLACK)
        print(f"\ntakeover after a graceful stop: {takeover:.2f}s after the release (retry {RETRY_SECONDS}s)")
        assert time.monotonic() - released < LEASE_SECONDS  # well before the lease would have expired
        await until(lambda: ("b", "leads") in events, timeout=5)
        assert events == [("a", "leads"), ("a", "stepping down"), ("a", "work done"), ("a", "released"), ("b", "leads")]
        stored = await b.kube.get(LEASES, lease, namespace=ns)
        assert stored["spec"]["leaseTransitions"] == 1 and stored["spec"]["leaseDurationSeconds"] == 3
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
        for c in (a, b):
            c.stop.set()
        await asyncio.wait_for(asyncio.gather(*(c.task for c in (a, b) if c.task), return_exceptions=True), 30)
        for c in (a, b):
            await c.close()


def plant(control_plane, ns: str, name: str, spec: dict) -> None:
    r = control_plane.session().post(f"{control_plane.server}/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
                                     json={"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                           "metadata": {"name": name}, "spec": spec})
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("spec, taken", [
    # a holder that wrote nothing else: no duration (ours is assumed), no times
    ({"holderIdentity": "gone-replica", "leaseTransitions": 7}, "after our lease duration"),
    # released, with times from a clock far ahead
    ({"holderIdentity": "", "leaseDurationSeconds": 3600, "renewTime": "2099-01-01T00:00:00.000000Z",
      "acquireTime": "2099-01-01T00:00:00.000000Z"}, "at once"),
    # held for an hour by a holder whose clock is far behind: its renewTime looks stale to us, but
    # only our own clock since the spec last changed decides
    ({"holderIdentity": "slow-clock", "leaseDurationSeconds": 3600, "renewTime": "1999-01-01T00:00:00.000000Z"},
     "never"),
    ({}, "at once"),
])
async def test_a_lease_written_oddly_by_someone_else_is_handled(control_plane, ns, spec, taken):
    lease = f"odd-{uuid.uuid4().hex[:6]}"
    plant(control_plane, ns, lease, spec)
    c = await candidate(control_plane, ns, lease, "c")

    async def lead(stepping_down: asyncio.Event) -> None:
        await stepping_down.wait()

    try:
        began = time.monotonic()
        c.start(lead)
        if taken == "never":
            await asyncio.sleep(2 * LEASE_SECONDS)
            assert not c.election.is_leader and c.task is not None and not c.task.done()
        else:
            limit = (LEASE_SECONDS if taken == "after our lease duration" else 0) + RETRY_SECONDS + SLACK
            await until(lambda: c.election.is_leader, timeout=limit)
            waited = time.monotonic() - began
            print(f"\n{spec}: taken after {waited:.2f}s")
            if taken == "after our lease duration":
                assert waited >= LEASE_SECONDS - 0.5
            stored = await c.kube.get(LEASES, lease, namespace=ns)
            assert stored["spec"]["holderIdentity"] == c.election.identity
            assert stored["spec"]["leaseTransitions"] == spec.get("leaseTransitions", 0) + 1
        c.stop.set()
        assert c.task is not None
        await asyncio.wait_for(c.task, 20)  # returns, never raises
    finally:
        await c.close()


@pytest.mark.parametrize("spec, status", [
    ({"holderIdentity": "x", "acquireTime": "yesterday"}, 400),  # a MicroTime that is not one: not decoded
    ({"holderIdentity": "x", "leaseDurationSeconds": "15"}, 400),
    ({"holderIdentity": "x", "leaseDurationSeconds": 0}, 422),
    ({"holderIdentity": "x", "leaseTransitions": -1}, 422),
])
def test_what_the_apiserver_refuses_to_store_in_a_lease(control_plane, ns, spec, status):
    """The oddities above are the ones a Lease can hold; these never reach a reader."""
    r = control_plane.session().post(f"{control_plane.server}/apis/coordination.k8s.io/v1/namespaces/{ns}/leases",
                                     json={"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                                           "metadata": {"name": f"refused-{uuid.uuid4().hex[:6]}"}, "spec": spec})
    assert r.status_code == status, r.text
