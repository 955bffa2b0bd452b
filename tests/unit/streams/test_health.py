"""Pipeline-health metrics: batched counts in, bounded labels out."""

from __future__ import annotations

from collections import Counter

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from teampulse.contract.rejections import Reason
from teampulse.streams.health import PipelineHealth, StateEntries


def scrape(registry: CollectorRegistry, family: str) -> dict[tuple[str, frozenset], float]:
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for f in text_string_to_metric_families(text)
        if f.name == family
        for sample in f.samples
    }


def key(name: str, **labels: str) -> tuple[str, frozenset]:
    return name, frozenset(labels.items())


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def test_outcomes_are_counted_per_source_and_a_new_source_starts_every_outcome_at_zero(registry):
    health = PipelineHealth(registry)

    health.record_outcomes("moodle", Counter(accepted=5, rejected=1))
    health.record_outcomes("moodle", Counter(accepted=2, late=1))

    name = "teampulse_events_total"
    assert scrape(registry, "teampulse_events") == {
        key(name, source="moodle", outcome="accepted"): 7,
        key(name, source="moodle", outcome="rejected"): 1,
        key(name, source="moodle", outcome="duplicate"): 0,
        key(name, source="moodle", outcome="late"): 1,
        key(name, source="moodle", outcome="unassigned"): 0,
        key(name, source="moodle", outcome="erased"): 0,
    }


def test_sources_beyond_the_maximum_are_folded_into_other(registry):
    health = PipelineHealth(registry, max_sources=2)

    for source in ("lms", "chat", "build-42", "build-43"):
        health.record_outcomes(source, Counter(accepted=1))
        health.record_last_event(source, 1000.0)

    accepted = {
        dict(labels)["source"]: value
        for (_, labels), value in scrape(registry, "teampulse_events").items()
        if dict(labels)["outcome"] == "accepted"
    }
    assert accepted == {"lms": 1, "chat": 1, "other": 2}
    last = {
        dict(labels)["source"]
        for _, labels in scrape(registry, "teampulse_last_event_timestamp_seconds")
    }
    assert last == {"lms", "chat", "other"}


def test_an_unknown_outcome_is_a_programming_error(registry):
    health = PipelineHealth(registry)

    with pytest.raises(ValueError, match="unknown event outcome"):
        health.record_outcomes("lms", Counter(accepted=1, exploded=1))


def test_dead_letters_start_at_zero_for_every_reason_and_unknown_reasons_fold_into_other(registry):
    health = PipelineHealth(registry)

    health.record_dead_letters(Counter({"late": 3, "schema": 1, "made-up": 2}))

    counts = {
        dict(labels)["reason"]: value
        for (_, labels), value in scrape(registry, "teampulse_dead_letters").items()
    }
    assert counts == {**{r.value: 0 for r in Reason}, "late": 3, "schema": 1, "other": 2}


def test_event_time_lags_fill_cumulative_buckets_in_one_call(registry):
    health = PipelineHealth(registry)

    health.record_event_time_lag([0.05, 1.0, 3600.0, 200_000.0, -5.0])

    lag = scrape(registry, "teampulse_event_time_lag_seconds")
    bucket = "teampulse_event_time_lag_seconds_bucket"
    assert lag[key(bucket, le="0.1")] == 2  # 0.05, and -5 clamped to 0
    assert lag[key(bucket, le="1.0")] == 3
    assert lag[key(bucket, le="3600.0")] == 4
    assert lag[key(bucket, le="172800.0")] == 4
    assert lag[key(bucket, le="+Inf")] == 5
    assert lag[key("teampulse_event_time_lag_seconds_count")] == 5
    assert lag[key("teampulse_event_time_lag_seconds_sum")] == 0.05 + 1.0 + 3600.0 + 200_000.0


def test_consumer_lag_is_replaced_so_a_partition_that_moved_away_disappears(registry):
    health = PipelineHealth(registry)
    health.set_consumer_lag({("teampulse.events", 0): 12, ("teampulse.events", 1): 3})

    health.set_consumer_lag({("teampulse.events", 1): 0})

    assert scrape(registry, "teampulse_consumer_lag") == {
        key("teampulse_consumer_lag", topic="teampulse.events", partition="1"): 0
    }


def test_last_event_time_never_moves_backwards(registry):
    health = PipelineHealth(registry)

    health.record_last_event("lms", 2000.0)
    health.record_last_event("lms", 1500.0)  # an older batch, e.g. a late partition

    assert scrape(registry, "teampulse_last_event_timestamp_seconds") == {
        key("teampulse_last_event_timestamp_seconds", source="lms"): 2000.0
    }


def test_redis_and_export_metrics(registry):
    health = PipelineHealth(registry)

    health.record_redis_failure()
    health.record_redis_failure()
    health.set_redis_pending_keys(17)
    health.observe_export_duration(0.03)

    assert scrape(registry, "teampulse_redis_write_failures") == {
        key("teampulse_redis_write_failures_total"): 2
    }
    assert scrape(registry, "teampulse_redis_pending_keys") == {
        key("teampulse_redis_pending_keys"): 17
    }
    export = scrape(registry, "teampulse_export_duration_seconds")
    assert export[key("teampulse_export_duration_seconds_bucket", le="0.025")] == 0
    assert export[key("teampulse_export_duration_seconds_bucket", le="0.05")] == 1
    assert export[key("teampulse_export_duration_seconds_count")] == 1


def test_state_entries_are_read_from_their_source_at_each_scrape(registry):
    sizes = {("teams", "buckets"): 744, ("threads", "posts"): 12}
    StateEntries(lambda: sizes, registry)
    sizes[("teams", "buckets")] = 745  # the state changed after registration

    assert scrape(registry, "teampulse_state_entries") == {
        key("teampulse_state_entries", stage="teams", kind="buckets"): 745,
        key("teampulse_state_entries", stage="threads", kind="posts"): 12,
    }
