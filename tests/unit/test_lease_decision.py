"""The pure half of leader election (kube/lease.py): what to write for every Lease we may read,
including Leases whose fields are missing, of the wrong type, or written by a skewed clock."""

from __future__ import annotations

import datetime as dt

import pytest

from kubectl_oras.kube.lease import (
    Action,
    decide,
    read_record,
    release_body,
    spec_key,
)

NOW = dt.datetime(2026, 3, 1, 12, 0, 0, 123456, tzinfo=dt.UTC)
STAMP = "2026-03-01T12:00:00.123456Z"
ME, OTHER = "controller-a_1a2b3c4d", "controller-b_5e6f7a8b"


def lease(spec: object = None, *, rv: str | None = "41", **metadata: object) -> dict:
    meta = {"name": "kubectl-oras-controller", "namespace": "kubectl-oras", **metadata}
    if rv is not None:
        meta["resourceVersion"] = rv
    return {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": meta, "spec": spec}


def held_by(holder: object, **spec: object) -> dict:
    return lease({"holderIdentity": holder, "leaseDurationSeconds": 15, "acquireTime": "2026-03-01T11:00:00.000000Z",
                  "renewTime": "2026-03-01T11:59:58.000000Z", "leaseTransitions": 4, **spec})


def run(found: dict | None, *, unchanged_for: float = 0.0, identity: str = ME, lease_seconds: float = 15):
    return decide(found, identity=identity, namespace="kubectl-oras", name="kubectl-oras-controller", now=NOW,
                  lease_seconds=lease_seconds, unchanged_for=unchanged_for)


def test_no_lease_is_created_held_by_us():
    d = run(None)
    assert d.action is Action.CREATE
    assert d.body == {"apiVersion": "coordination.k8s.io/v1", "kind": "Lease",
                      "metadata": {"name": "kubectl-oras-controller", "namespace": "kubectl-oras"},
                      "spec": {"holderIdentity": ME, "leaseDurationSeconds": 15, "acquireTime": STAMP, "renewTime": STAMP,
                               "leaseTransitions": 0}}


@pytest.mark.parametrize("spec, reason", [
    ({}, "free"),
    (None, "free"),
    ({"holderIdentity": ""}, "free"),
    ({"holderIdentity": None, "leaseTransitions": 2}, "released"),
    ({"holderIdentity": "", "leaseDurationSeconds": 1, "renewTime": "2026-03-01T11:59:59.000000Z",
      "leaseTransitions": 3}, "released"),
])
def test_a_free_or_released_lease_is_taken_at_once(spec, reason):
    found = lease(spec)
    d = run(found)
    assert (d.action, d.reason) == (Action.TAKE_OVER, reason)
    assert d.body["metadata"]["resourceVersion"] == "41"  # conditional: a Conflict if anyone wrote since
    transitions = (spec or {}).get("leaseTransitions", 0)
    assert d.body["spec"] == {"holderIdentity": ME, "leaseDurationSeconds": 15, "acquireTime": STAMP,
                              "renewTime": STAMP, "leaseTransitions": transitions + 1}


def test_a_lease_held_by_another_is_waited_for_until_it_has_not_changed_for_its_duration():
    found = held_by(OTHER)
    d = run(found, unchanged_for=10)
    assert (d.action, d.holder, d.body) == (Action.WAIT, OTHER, None)
    assert d.wait_seconds == pytest.approx(5)
    d = run(found, unchanged_for=15)
    assert d.action is Action.TAKE_OVER and d.holder == OTHER and "expired" in d.reason
    assert d.body["spec"]["holderIdentity"] == ME
    assert d.body["spec"]["leaseTransitions"] == 5
    assert d.body["spec"]["acquireTime"] == STAMP


def test_the_holders_own_duration_counts_not_ours():
    found = held_by(OTHER, leaseDurationSeconds=60)
    assert run(found, unchanged_for=30, lease_seconds=15).action is Action.WAIT
    assert run(found, unchanged_for=60, lease_seconds=15).action is Action.TAKE_OVER
    short = held_by(OTHER, leaseDurationSeconds=2)
    assert run(short, unchanged_for=2, lease_seconds=15).action is Action.TAKE_OVER


@pytest.mark.parametrize("renew_time", [
    "2020-01-01T00:00:00.000000Z",  # a holder whose clock is years behind ours
    "2099-01-01T00:00:00.000000Z",  # … or far ahead
    "not a time", "", None, 17, "2026-03-01T11:59:58",  # no zone: cannot say when
])
def test_renew_time_never_decides_expiry_only_our_own_clock_does(renew_time):
    found = held_by(OTHER, renewTime=renew_time)
    assert run(found, unchanged_for=0).action is Action.WAIT
    assert run(found, unchanged_for=14.9).action is Action.WAIT
    assert run(found, unchanged_for=15).action is Action.TAKE_OVER


def test_our_own_lease_is_renewed_keeping_acquire_time_and_transitions():
    d = run(held_by(ME))
    assert (d.action, d.reason) == (Action.RENEW, "ours")
    assert d.body["spec"] == {"holderIdentity": ME, "leaseDurationSeconds": 15,
                              "acquireTime": "2026-03-01T11:00:00.000000Z", "renewTime": STAMP, "leaseTransitions": 4}
    assert d.body["metadata"]["resourceVersion"] == "41"
    # however long ago (our clock may have been stopped): it is still ours if nobody wrote since
    assert run(held_by(ME), unchanged_for=1000).action is Action.RENEW


@pytest.mark.parametrize("odd", [
    {"leaseDurationSeconds": "15"}, {"leaseDurationSeconds": 0}, {"leaseDurationSeconds": -3},
    {"leaseDurationSeconds": True}, {"leaseDurationSeconds": None}, {"leaseDurationSeconds": 1.5},
])
def test_a_duration_we_cannot_read_means_our_own(odd):
    found = held_by(OTHER, **odd)
    assert read_record(found).duration_seconds is None
    assert run(found, unchanged_for=14, lease_seconds=15).action is Action.WAIT
    assert run(found, unchanged_for=15, lease_seconds=15).action is Action.TAKE_OVER


@pytest.mark.parametrize("spec", [
    {"holderIdentity": OTHER},  # no times, no duration, no transitions
    {"holderIdentity": OTHER, "acquireTime": "garbage", "renewTime": {"a": 1}, "leaseTransitions": "many"},
    {"holderIdentity": OTHER, "leaseTransitions": -1},
    {"holderIdentity": OTHER, "leaseTransitions": 2**40},
    {"holderIdentity": OTHER, "strategy": "OldestEmulationVersion", "preferredHolder": "x", "unknown": [1, 2]},
])
def test_odd_specs_held_by_another_wait_then_are_taken(spec):
    found = lease(spec)
    assert run(found, unchanged_for=1).action is Action.WAIT
    d = run(found, unchanged_for=15)
    assert d.action is Action.TAKE_OVER
    assert d.body["spec"]["holderIdentity"] == ME
    assert isinstance(d.body["spec"]["leaseTransitions"], int) and 0 <= d.body["spec"]["leaseTransitions"] < 2**31


def test_fields_we_do_not_own_are_kept():
    found = held_by(ME, strategy="OldestEmulationVersion", preferredHolder="x")
    found["metadata"]["labels"] = {"app": "kubectl-oras"}
    d = run(found)
    assert d.body["spec"]["strategy"] == "OldestEmulationVersion" and d.body["spec"]["preferredHolder"] == "x"
    assert d.body["metadata"]["labels"] == {"app": "kubectl-oras"}
    assert found["spec"]["renewTime"] == "2026-03-01T11:59:58.000000Z"  # the lease read is not modified


@pytest.mark.parametrize("holder", [5, ["a"], {"name": ME}])
def test_a_holder_that_is_not_a_string_is_someone_else(holder):
    found = held_by(holder)
    assert read_record(found).holder not in ("", ME)
    assert run(found, unchanged_for=1).action is Action.WAIT
    assert run(found, unchanged_for=15).action is Action.TAKE_OVER


def test_our_garbage_acquire_time_is_replaced_on_renewal():
    d = run(held_by(ME, acquireTime="yesterday"))
    assert d.action is Action.RENEW and d.body["spec"]["acquireTime"] == STAMP


@pytest.mark.parametrize("found", [
    lease({"holderIdentity": ""}, rv=None),
    lease({"holderIdentity": OTHER}, rv=""),
    {"spec": {"holderIdentity": OTHER}},
    {"metadata": "nonsense", "spec": {}},
])
def test_nothing_is_written_without_a_resource_version(found):
    d = run(found, unchanged_for=100)
    assert d.action is Action.WAIT and d.body is None


def test_release_clears_the_holder_and_keeps_transitions_as_client_go_does():
    released = release_body(held_by(ME), now=NOW)
    assert released["spec"] == {"holderIdentity": "", "leaseDurationSeconds": 1, "acquireTime": STAMP,
                                "renewTime": STAMP, "leaseTransitions": 4}
    assert released["metadata"]["resourceVersion"] == "41"
    # and a released lease is free for the next candidate at once
    released["metadata"]["resourceVersion"] = "42"
    assert run(released, identity=OTHER).action is Action.TAKE_OVER


def test_a_lease_s_times_are_read_only_with_a_zone_and_garbage_is_none():
    record = read_record(held_by(OTHER, acquireTime="2026-03-01T14:00:00.123456+02:00", renewTime=STAMP))
    assert record.acquire_time == NOW and record.renew_time == NOW
    assert read_record(held_by(OTHER, renewTime="2026-03-01T12:00:00Z")).renew_time == NOW.replace(microsecond=0)
    for garbage in ("", "now", "2026-13-01T00:00:00Z", "2026-03-01T12:00:00", None, 3, [], {}):
        assert read_record(held_by(OTHER, renewTime=garbage)).renew_time is None


def test_a_lease_s_times_are_written_as_micro_times():
    body = run(None, identity=ME).body
    assert body is not None and body["spec"]["renewTime"] == STAMP  # six fraction digits, always
    taken = decide(held_by(OTHER), identity=ME, namespace="kubectl-oras", name="kubectl-oras-controller",
                   now=dt.datetime(2026, 3, 1, 14, tzinfo=dt.timezone(dt.timedelta(hours=2))), lease_seconds=15,
                   unchanged_for=60)
    assert taken.body is not None and taken.body["spec"]["renewTime"] == "2026-03-01T12:00:00.000000Z"


def test_the_expiry_clock_restarts_on_any_spec_change_only():
    a = held_by(OTHER)
    b = held_by(OTHER, renewTime="2026-03-01T12:00:01.000000Z")
    assert spec_key(a) != spec_key(b)
    relabelled = held_by(OTHER)
    relabelled["metadata"]["resourceVersion"] = "99"
    relabelled["metadata"]["labels"] = {"x": "y"}
    assert spec_key(a) == spec_key(relabelled)
    assert spec_key(lease(None)) == spec_key(lease({})) == spec_key("garbage")
