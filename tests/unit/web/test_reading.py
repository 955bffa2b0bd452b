"""When a pending alert fires, read from Prometheus' activeAt and its rule's `for:`."""

from __future__ import annotations

import datetime as dt

from teampulse.web.reading import fires_in_s, pending_words

ACTIVE_AT = "2026-12-07T15:26:05.123456789Z"  # Prometheus' RFC 3339, nanoseconds
ACTIVE = dt.datetime(2026, 12, 7, 15, 26, 5, 123456, tzinfo=dt.UTC).timestamp()


def test_a_pending_alert_fires_its_for_after_it_became_active() -> None:
    assert fires_in_s(ACTIVE_AT, 60.0, ACTIVE + 20) == 40.0


def test_an_alert_past_its_for_fires_now_and_unknown_rules_say_nothing() -> None:
    assert fires_in_s(ACTIVE_AT, 60.0, ACTIVE + 600) == 0.0
    assert fires_in_s(ACTIVE_AT, None, ACTIVE) is None
    assert fires_in_s("not a time", 60.0, ACTIVE) is None


def test_pending_in_words() -> None:
    assert pending_words(None) == "pending"
    assert pending_words(40.0) == "pending, fires within a minute"
    assert pending_words(95.0) == "pending, fires in about 2 min"
