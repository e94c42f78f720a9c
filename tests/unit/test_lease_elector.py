"""The I/O half of leader election (kube/lease.py: LeaderElection) against an in-memory Lease API
with the apiserver's optimistic concurrency: what happens when renewals fail, when the leader's
work fails or will not stop, and when the elector is cancelled. The real apiserver: tests/cluster/."""

from __future__ import annotations

import asyncio
import copy
import logging

import pytest

from kubectl_oras.kube.api import LEASES
from kubectl_oras.kube.errors import ClusterUnreachable, Conflict, ObjectNotFound
from kubectl_oras.kube.lease import LeaderElection

NS, NAME = "kubectl-oras", "kubectl-oras-controller"


class FakeLeases:
    """One namespace's Leases, kept as the apiserver keeps them: a write must name the current
    resourceVersion, a create of an existing name conflicts."""

    def __init__(self) -> None:
        self.timeout = 5.0
        self.objects: dict[str, dict] = {}
        self.version = 0
        self.down = False  # every call fails as an unreachable apiserver's would
        self.writes: list[dict] = []

    def _check(self, what: str) -> None:
        if self.down:
            raise ClusterUnreachable(f"{what}: cannot reach the Kubernetes API")

    def _store(self, body: dict) -> dict:
        self.version += 1
        stored = copy.deepcopy(body)
        stored["metadata"]["resourceVersion"] = str(self.version)
        self.objects[stored["metadata"]["name"]] = stored
        self.writes.append(copy.deepcopy(stored))
        return copy.deepcopy(stored)

    async def get(self, resource, name, *, namespace=None, timeout=None):
        await asyncio.sleep(0)
        self._check("get")
        if name not in self.objects:
            raise ObjectNotFound(f"get {resource.plural} {namespace}/{name}: not found", status=404)
        return copy.deepcopy(self.objects[name])

    async def call(self, method, path, *, what, body=None, timeout=None, **_):
        await asyncio.sleep(0)
        self._check(what)
        name = body["metadata"]["name"]
        if method == "POST":
            assert path == LEASES.path(namespace=NS)
            if name in self.objects:
                raise Conflict(f"{what}: already exists", status=409)
            return self._store(body)
        assert method == "PUT" and path == LEASES.path(namespace=NS, name=name)
        current = self.objects.get(name)
        if current is None:
            raise ObjectNotFound(f"{what}: not found", status=404)
        if body["metadata"].get("resourceVersion") != current["metadata"]["resourceVersion"]:
            raise Conflict(f"{what}: the object has been modified", status=409)
        return self._store(body)

    def holder(self) -> str | None:
        lease = self.objects.get(NAME)
        return lease["spec"].get("holderIdentity") if lease else None


def elector(kube: FakeLeases, identity: str, **kw) -> LeaderElection:
    times = {"lease_seconds": 0.8, "renew_seconds": 0.5, "retry_seconds": 0.05, **kw}
    return LeaderElection(kube, namespace=NS, name=NAME, identity=identity, **times)  # type: ignore[arg-type]


async def until(predicate, timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.01)


async def test_renewals_that_fail_for_renew_seconds_step_down_and_a_stubborn_leader_is_cancelled():
    kube = FakeLeases()
    e = elector(kube, "a", grace_seconds=0.2, shutdown_seconds=0.3)
    seen = []

    async def stubborn(stepping_down: asyncio.Event) -> None:
        try:
            await stepping_down.wait()
            seen.append("stepping down")
            await asyncio.sleep(3600)  # ignores it
        except asyncio.CancelledError:
            seen.append("cancelled")
            raise

    stop = asyncio.Event()
    task = asyncio.create_task(e.run(stubborn, stop))
    await until(lambda: e.is_leader)
    kube.down = True
    loop = asyncio.get_running_loop()
    began = loop.time()
    await until(lambda: seen == ["stepping down"])
    assert not e.is_leader
    assert 0.3 <= loop.time() - began  # not before renewals had failed for a while
    await until(lambda: seen == ["stepping down", "cancelled"])
    kube.down = False  # the apiserver is back; the lease is still ours by its record, so we lead again
    await until(lambda: e.is_leader)
    stop.set()  # it ignores that too: cancelled after shutdown_seconds, then the lease is released
    await asyncio.wait_for(task, 5)
    assert seen[2:] == ["stepping down", "cancelled"]
    assert kube.holder() == ""


async def test_someone_else_writing_the_lease_is_noticed_at_the_next_renewal():
    kube = FakeLeases()
    e = elector(kube, "a", lease_seconds=30, renew_seconds=20)
    stepped = asyncio.Event()

    async def lead(stepping_down: asyncio.Event) -> None:
        await stepping_down.wait()
        stepped.set()

    stop = asyncio.Event()
    task = asyncio.create_task(e.run(lead, stop))
    await until(lambda: e.is_leader)
    intruder = copy.deepcopy(kube.objects[NAME])
    intruder["spec"]["holderIdentity"] = "intruder"
    kube._store(intruder)
    await asyncio.wait_for(stepped.wait(), 2)  # well before renew_seconds: the Conflict said it
    assert not e.is_leader and kube.holder() == "intruder"
    stop.set()
    await asyncio.wait_for(task, 5)
    assert kube.holder() == "intruder"  # not ours: not released


async def test_a_leader_whose_work_fails_releases_the_lease_and_stands_again(caplog):
    kube = FakeLeases()
    e = elector(kube, "a")
    runs = []

    async def failing(stepping_down: asyncio.Event) -> None:
        runs.append(len(runs))
        if len(runs) == 1:
            raise RuntimeError("reconciler broke")
        await stepping_down.wait()

    stop = asyncio.Event()
    with caplog.at_level(logging.INFO, logger="kubectl_oras.lease"):
        task = asyncio.create_task(e.run(failing, stop))
        await until(lambda: len(runs) == 2)
        stop.set()
        await asyncio.wait_for(task, 5)
    assert any(r.levelno == logging.ERROR and "reconciler broke" in r.getMessage() and r.exc_info for r in caplog.records)
    releases = [w for w in kube.writes if w["spec"]["holderIdentity"] == ""]
    assert len(releases) == 2 and all(w["spec"]["leaseDurationSeconds"] == 1 for w in releases)
    assert [w["spec"]["leaseTransitions"] for w in kube.writes] == [0, 0, 1, 1]  # create, release, retake, release


async def test_cancelling_run_is_a_crash_the_lease_is_left_held():
    kube = FakeLeases()
    e = elector(kube, "a")
    cancelled = asyncio.Event()

    async def lead(stepping_down: asyncio.Event) -> None:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    task = asyncio.create_task(e.run(lead, asyncio.Event()))
    await until(lambda: e.is_leader)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert cancelled.is_set() and not e.is_leader
    assert kube.holder() == "a"  # left to expire, as after a crash


async def test_a_stop_waits_for_the_work_in_flight_renewing_meanwhile_then_releases():
    kube = FakeLeases()
    e = elector(kube, "a")
    order = []

    async def lead(stepping_down: asyncio.Event) -> None:
        await stepping_down.wait()
        order.append(("stepping down", kube.holder()))
        await asyncio.sleep(1.2)  # longer than lease_seconds: the lease must be renewed meanwhile
        order.append(("done", kube.holder()))

    stop = asyncio.Event()
    task = asyncio.create_task(e.run(lead, stop))
    await until(lambda: e.is_leader)
    before = len(kube.writes)
    stop.set()
    await asyncio.wait_for(task, 5)
    assert order == [("stepping down", "a"), ("done", "a")]
    assert len(kube.writes) - before > 3  # renewals while the work finished
    assert kube.holder() == "" and not e.is_leader


async def test_stop_while_not_leading_returns_promptly_and_writes_nothing():
    kube = FakeLeases()
    other = copy.deepcopy({"metadata": {"name": NAME, "namespace": NS},
                           "spec": {"holderIdentity": "b", "leaseDurationSeconds": 3600}})
    kube._store(other)
    e = elector(kube, "a")
    stop = asyncio.Event()

    async def lead(stepping_down: asyncio.Event) -> None:
        raise AssertionError("must not lead")

    task = asyncio.create_task(e.run(lead, stop))
    await asyncio.sleep(0.3)
    stop.set()
    await asyncio.wait_for(task, 1)
    assert kube.holder() == "b" and len(kube.writes) == 1


@pytest.mark.parametrize("times", [
    {"lease_seconds": 10, "renew_seconds": 10, "retry_seconds": 2},
    {"lease_seconds": 15, "renew_seconds": 2, "retry_seconds": 2},
    {"lease_seconds": 15, "renew_seconds": 10, "retry_seconds": 0},
])
def test_durations_must_nest(times):
    with pytest.raises(ValueError, match="retry_seconds < renew_seconds < lease_seconds"):
        LeaderElection(FakeLeases(), namespace=NS, name=NAME, **times)  # type: ignore[arg-type]


def test_identity_defaults_to_the_pod_name_and_a_random_suffix(monkeypatch):
    monkeypatch.setenv("KUBECTL_ORAS_POD_NAME", "kubectl-oras-controller-7d9f-abcde")
    a = LeaderElection(FakeLeases(), namespace=NS, name=NAME)  # type: ignore[arg-type]
    b = LeaderElection(FakeLeases(), namespace=NS, name=NAME)  # type: ignore[arg-type]
    assert a.identity.startswith("kubectl-oras-controller-7d9f-abcde_") and a.identity != b.identity
