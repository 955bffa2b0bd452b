"""Reading a worker's /metrics from the outside, as `make bench` does."""

from __future__ import annotations

from benchmarks.worker_process import counted_events, export_ticks

SCRAPE = """\
# HELP teampulse_events_total Events by source and outcome
# TYPE teampulse_events_total counter
teampulse_events_total{outcome="accepted",source="lms"} 900.0
teampulse_events_total{outcome="duplicate",source="lms"} 40.0
teampulse_events_total{outcome="late",source="forum"} 5.0
teampulse_events_total{outcome="rejected",source="events"} 55.0
teampulse_events_total{outcome="unassigned",source="lms"} 12.0
teampulse_events_created{outcome="accepted",source="lms"} 1.7e+09
teampulse_export_duration_seconds_bucket{le="0.5"} 40.0
teampulse_export_duration_seconds_count 42.0
teampulse_export_duration_seconds_sum 3.5
"""


def test_counted_events_sum_every_final_outcome_but_not_unassigned():
    # `unassigned` labels an event that is also counted as accepted (or late, or duplicate).
    assert counted_events(SCRAPE) == 1000.0


def test_counted_events_of_an_empty_scrape_is_zero():
    assert counted_events("") == 0.0


def test_export_ticks_are_the_export_histogram_count():
    assert export_ticks(SCRAPE) == 42.0


def test_export_ticks_of_a_worker_without_the_histogram_are_unknown():
    assert export_ticks('teampulse_events_total{outcome="accepted",source="lms"} 1.0\n') is None
