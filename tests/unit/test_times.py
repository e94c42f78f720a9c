"""RFC 3339 times: the one reader (a registry's created annotation, the apiserver's Time and
MicroTime, our own status) and the one writer (manifests, statuses, Events, Leases)."""

from __future__ import annotations

import datetime as dt

import pytest

from kubectl_oras.times import format_rfc3339, now_rfc3339, parse_rfc3339

TEN = dt.datetime(2026, 11, 23, 10, tzinfo=dt.UTC)


@pytest.mark.parametrize("text, expected", [
    ("2026-11-23T10:00:00Z", TEN),
    ("2026-11-23T10:00:00z", TEN),
    ("2026-11-23t10:00:00Z", TEN),
    ("2026-11-23 10:00:00Z", TEN),
    (" 2026-11-23T10:00:00Z\n", TEN),
    ("2026-11-23T11:00:00+01:00", TEN),
    ("2026-11-23T05:30:00-04:30", TEN),
    ("2026-11-23T10:00:00+00:00", TEN),
    ("2026-11-23T10:00:00.5Z", TEN.replace(microsecond=500000)),
    ("2026-11-23T10:00:00.12Z", TEN.replace(microsecond=120000)),
    ("2026-11-23T10:00:00.123Z", TEN.replace(microsecond=123000)),
    ("2026-11-23T10:00:00.1234Z", TEN.replace(microsecond=123400)),
    ("2026-11-23T10:00:00.12345Z", TEN.replace(microsecond=123450)),
    ("2026-11-23T10:00:00.123456Z", TEN.replace(microsecond=123456)),
    ("2026-11-23T10:00:00.1234567Z", TEN.replace(microsecond=123456)),
    ("2026-11-23T10:00:00.12345678Z", TEN.replace(microsecond=123456)),
    ("2026-11-23T10:00:00.123456789Z", TEN.replace(microsecond=123456)),
    ("2026-11-23T11:00:00.123456789+01:00", TEN.replace(microsecond=123456)),
    ("2026-11-23T10:00:00", TEN),  # no zone: read as UTC, unless one is required
])
def test_a_time_is_read_in_utc_whatever_its_form(text, expected):
    moment = parse_rfc3339(text)
    assert moment == expected and moment is not None and moment.utcoffset() == dt.timedelta(0)


@pytest.mark.parametrize("text", [
    "yesterday", "", " ", "now", "2026-13-01T00:00:00Z", "2026-11-23T25:00:00Z", "2026-11-23T10:00:00+25:00",
    "2026-11-23T10:00:00ZZ", "9" * 100, "2026-11-23T10:00:00." + "1" * 60 + "Z",
    "9999-12-31T23:59:59-23:59", "0001-01-01T00:00:00+01:00",  # past what a datetime holds in UTC
])
def test_junk_is_no_time(text):
    assert parse_rfc3339(text) is None
    assert parse_rfc3339(text, zone_required=True) is None


@pytest.mark.parametrize("value", [None, 12345, 1.5, [], {}, b"2026-11-23T10:00:00Z", TEN])
def test_what_is_not_text_is_no_time(value):
    assert parse_rfc3339(value) is None


def test_a_time_without_a_zone_is_none_when_one_is_required():
    assert parse_rfc3339("2026-11-23T10:00:00", zone_required=True) is None
    assert parse_rfc3339("2026-11-23T10:00:00.123456", zone_required=True) is None
    assert parse_rfc3339("2026-11-23T10:00:00Z", zone_required=True) == TEN
    assert parse_rfc3339("2026-11-23T12:00:00+02:00", zone_required=True) == TEN


def test_times_are_written_in_utc_with_a_z():
    assert format_rfc3339(TEN) == "2026-11-23T10:00:00Z"
    assert format_rfc3339(TEN.replace(microsecond=999999)) == "2026-11-23T10:00:00Z"  # whole seconds
    assert format_rfc3339(TEN.astimezone(dt.timezone(dt.timedelta(hours=-3, minutes=-30)))) == "2026-11-23T10:00:00Z"


def test_a_micro_time_has_six_fraction_digits_always():
    assert format_rfc3339(TEN, microseconds=True) == "2026-11-23T10:00:00.000000Z"
    assert format_rfc3339(TEN.replace(microsecond=120), microseconds=True) == "2026-11-23T10:00:00.000120Z"
    east = TEN.replace(microsecond=123456).astimezone(dt.timezone(dt.timedelta(hours=2)))
    assert format_rfc3339(east, microseconds=True) == "2026-11-23T10:00:00.123456Z"


@pytest.mark.parametrize("microseconds", [False, True])
def test_what_is_written_reads_back(microseconds):
    moment = TEN.replace(microsecond=654321)
    expected = moment if microseconds else TEN
    assert parse_rfc3339(format_rfc3339(moment, microseconds=microseconds), zone_required=True) == expected


def test_now_is_written_as_any_time_is():
    before = dt.datetime.now(dt.UTC).replace(microsecond=0)
    written = now_rfc3339()
    after = dt.datetime.now(dt.UTC)
    moment = parse_rfc3339(written, zone_required=True)
    assert written.endswith("Z") and len(written) == len("2026-11-23T10:00:00Z")
    assert moment is not None and before <= moment <= after
