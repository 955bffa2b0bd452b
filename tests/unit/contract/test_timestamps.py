"""Event time and durations from text."""

from __future__ import annotations

import pytest

from teampulse.contract.timestamps import (
    iso8601_in_utc,
    parse_iso8601_duration,
    parse_iso8601_timestamp,
    parse_rfc3339,
)


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("2026-03-02T09:15:00Z", 1772442900.0),
        ("2026-03-02T10:15:00+01:00", 1772442900.0),
        ("2026-03-02T04:15:00-05:00", 1772442900.0),
        ("2026-03-02T09:15:00.25Z", 1772442900.25),
        ("2026-03-02T09:15:00.123456789Z", 1772442900.123456),
        ("2026-03-02t09:15:00z", 1772442900.0),
        ("2026-03-02 09:15:00Z", 1772442900.0),
        ("2026-12-31T23:59:60Z", 1798761600.0),  # a leap second is the next second
    ],
)
def test_rfc3339_instants(text, seconds):
    assert parse_rfc3339(text) == pytest.approx(seconds, abs=1e-6)


@pytest.mark.parametrize(
    "text",
    [
        "2026-03-02T09:15:00",
        "2026-03-02",
        "2026-03-02T09:15Z",
        "20260302T091500Z",
        "2026-02-30T09:15:00Z",
        "2026-03-02T24:00:00Z",
        "2026-03-02T09:15:00+24:00",
        "2026-03-02T09:15:00.Z",
        "2026-03-02T09:15:00.",  # a dot and nothing after it: once an IndexError
        "2026-03-02T09:15:00,5Z",
        "２０２６-03-02T09:15:00Z",
        "",
    ],
)
def test_not_rfc3339(text):
    assert parse_rfc3339(text) is None


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("2026-03-02T09:15:00Z", 1772442900.0),
        ("2026-03-02T09:15", 1772442900.0),  # xAPI: no offset is read as UTC
        ("2026-03-02T10:15:00+0100", 1772442900.0),
        ("2026-03-02T10:15:00+01", 1772442900.0),
        ("2026-03-02T09:15:00,5Z", 1772442900.5),
    ],
)
def test_xapi_timestamps(text, seconds):
    assert parse_iso8601_timestamp(text) == seconds


@pytest.mark.parametrize("text", ["2026-03-02T09:15:00-00:00", "2026-03-02", "yesterday"])
def test_not_xapi_timestamps(text):
    assert parse_iso8601_timestamp(text) is None


@pytest.mark.parametrize(
    "text, seconds",
    [
        ("PT1H30M", 5400.0),
        ("PT0.5S", 0.5),
        ("PT1,5S", 1.5),
        ("P1D", 86400.0),
        ("P1W", 604800.0),
        ("P4W", 2419200.0),
        ("P1DT2H3M4S", 93784.0),
        ("P1M", 2592000.0),
        ("P1Y", 31536000.0),
    ],
)
def test_durations(text, seconds):
    assert parse_iso8601_duration(text) == seconds


@pytest.mark.parametrize(
    "text", ["P", "PT", "P1DT", "PT1H1D", "1H", "PT-5S", "", "P4W1D", "P1Y2W", "P1WT1H", "PW"]
)
def test_not_durations(text):
    assert parse_iso8601_duration(text) is None


@pytest.mark.parametrize(
    "text, utc",
    [
        ("2026-03-02T11:30:00.250+01:00", "2026-03-02T10:30:00.250Z"),
        ("2026-03-02T05:30:00-05:00", "2026-03-02T10:30:00Z"),
        ("2026-03-02T00:30:00,5+0130", "2026-03-01T23:00:00.5Z"),
        ("2026-03-02T10:30", "2026-03-02T10:30:00Z"),
        ("2026-03-02T10:30:00.123456789Z", "2026-03-02T10:30:00.123456789Z"),
    ],
)
def test_xapi_timestamps_in_utc_keep_the_instant_and_the_fraction_as_written(text, utc):
    assert iso8601_in_utc(text) == utc


@pytest.mark.parametrize("text", ["2026-03-02T10:30:00-00:00", "9999-12-31T23:59:59-23:59"])
def test_a_malformed_or_out_of_range_timestamp_has_no_utc_form(text):
    assert iso8601_in_utc(text) is None
