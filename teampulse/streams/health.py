"""Pipeline-health metrics: what flows in, what is refused, how far behind the stream is.

The agents report per batch (a Counter of outcomes, a list of lags), never per event, and
every label value is bounded: outcomes and dead-letter reasons are fixed sets, `source`
comes from producers and is capped (the first `max_sources` sources seen keep their name,
later ones are folded into `other`). All metrics live in one collector with one lock, so a
batch is recorded atomically and a scrape never sees half of it.

    teampulse_events_total{source, outcome}          counter  accepted|rejected|duplicate|
                                                               late|unassigned|erased
    teampulse_dead_letters_total{reason}             counter  reason codes of the contract
    teampulse_event_time_lag_seconds                 histogram  ingest time - event time
    teampulse_consumer_lag{topic, partition}         gauge    messages behind, owned partitions
    teampulse_last_event_timestamp_seconds{source}   gauge    newest event time per source
    teampulse_redis_write_failures_total             counter  failed Redis flushes
    teampulse_redis_pending_keys                     gauge    keys waiting to be written
    teampulse_export_duration_seconds                histogram  one export tick
    teampulse_state_entries{stage, kind}             gauge    entries of the in-memory state
                                                               (StateEntries, read at scrape)
"""

from __future__ import annotations

import logging
import threading
from bisect import bisect_left
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence

from prometheus_client.metrics_core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector, CollectorRegistry
from prometheus_client.utils import floatToGoString

from teampulse.contract.rejections import Reason

__all__ = ["BoundedLabel", "BulkHistogram", "PipelineHealth", "StateEntries"]

log = logging.getLogger(__name__)

OUTCOMES = ("accepted", "rejected", "duplicate", "late", "unassigned", "erased")
OTHER = "other"
# Producers name their source; a handful of platforms is normal, dozens means a producer
# is putting something variable (a host, a version) into the field.
DEFAULT_MAX_SOURCES = 20
# Event-time lag spans a live stream (sub-second) to the lateness horizon (48 h by default).
EVENT_TIME_LAG_BUCKETS = (
    0.1,
    0.25,
    0.5,
    1,
    2.5,
    5,
    10,
    30,
    60,
    120,
    300,
    600,
    1800,
    3600,
    7200,
    14400,
    28800,
    43200,
    86400,
    172800,
)
# One export tick: recomputing the changed teams' gauges, from a few ms to seconds.
EXPORT_DURATION_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5)


class BulkHistogram:
    """A histogram fed a batch at a time (bisect per value, no per-value lock or call)."""

    def __init__(self, bounds: Sequence[float]) -> None:
        self.bounds = tuple(float(b) for b in bounds)
        self.counts = [0] * (len(self.bounds) + 1)  # last slot: above every bound (+Inf)
        self.total = 0.0

    def observe(self, values: Iterable[float]) -> None:
        counts, bounds = self.counts, self.bounds
        for value in values:
            if value != value:  # NaN: belongs to no bucket and would poison the sum
                continue
            counts[bisect_left(bounds, value)] += 1  # `le` buckets: value <= bound
            self.total += value

    def family(self, name: str, documentation: str) -> HistogramMetricFamily:
        cumulative, buckets = 0, []
        for bound, count in zip((*self.bounds, float("inf")), self.counts, strict=True):
            cumulative += count
            buckets.append((floatToGoString(bound), cumulative))
        return HistogramMetricFamily(name, documentation, buckets=buckets, sum_value=self.total)


class BoundedLabel:
    """Keeps the values of one label to a fixed set plus the first `limit` newcomers."""

    def __init__(self, label: str, limit: int, known: Iterable[str] = ()) -> None:
        self.label = label
        self.limit = limit
        self.known = set(known)
        self.admitted: set[str] = set()
        self._warned = False

    def __call__(self, value: str) -> str:
        if value in self.known or value in self.admitted:
            return value
        if len(self.admitted) < self.limit:
            self.admitted.add(value)
            return value
        if not self._warned:
            self._warned = True
            log.warning(
                "%s %r is neither a known value nor among the first %d others seen: it and "
                "later newcomers are counted as %r; check what producers put in that field",
                self.label,
                value,
                self.limit,
                OTHER,
            )
        return OTHER


class PipelineHealth(Collector):
    def __init__(
        self, registry: CollectorRegistry | None = None, *, max_sources: int = DEFAULT_MAX_SOURCES
    ) -> None:
        self._lock = threading.Lock()
        self._source = BoundedLabel("source", max_sources)
        self._reason = BoundedLabel("reason", 0, known=[r.value for r in Reason])
        self._events: dict[tuple[str, str], int] = {}
        self._dead_letters: dict[str, int] = dict.fromkeys(sorted(self._reason.known), 0)
        self._event_time_lag = BulkHistogram(EVENT_TIME_LAG_BUCKETS)
        self._export_duration = BulkHistogram(EXPORT_DURATION_BUCKETS)
        self._consumer_lag: dict[tuple[str, int], int] = {}
        self._last_event: dict[str, float] = {}
        self._redis_failures = 0
        self._redis_pending = 0
        if registry is not None:
            registry.register(self)

    # --- what the agents report, once per batch -----------------------------------------
    def record_outcomes(self, source: str, outcomes: Mapping[str, int]) -> None:
        """Count a batch's events of one source by outcome (see OUTCOMES)."""
        unknown = set(outcomes) - set(OUTCOMES)
        if unknown:
            raise ValueError(f"unknown event outcome(s) {sorted(unknown)}; expected {OUTCOMES}")
        with self._lock:
            source = self._source(source)
            if (source, OUTCOMES[0]) not in self._events:
                # Every outcome of a new source starts at 0, so a later first `rejected` is
                # seen by rate(). The source's first batch is not: its series is born with it
                # (DeadLetterRateHigh divides by the lag histogram's count for that reason).
                self._events.update({(source, outcome): 0 for outcome in OUTCOMES})
            for outcome, count in outcomes.items():
                self._events[(source, outcome)] += count

    def record_dead_letters(self, reasons: Mapping[str, int]) -> None:
        """Count a batch's dead letters by reason code."""
        with self._lock:
            for reason, count in reasons.items():
                label = self._reason(reason)
                self._dead_letters[label] = self._dead_letters.get(label, 0) + count

    def record_event_time_lag(self, lags: Iterable[float]) -> None:
        """Seconds between each event's time and its ingestion (negative clamps to 0)."""
        with self._lock:
            self._event_time_lag.observe(lag if lag > 0 else 0.0 for lag in lags)

    def record_last_event(self, source: str, occurred_at: float) -> None:
        """The newest event time seen from a source in a batch; never moves backwards."""
        with self._lock:
            source = self._source(source)
            if occurred_at > self._last_event.get(source, float("-inf")):
                self._last_event[source] = occurred_at

    def set_consumer_lag(self, lags: Mapping[tuple[str, int], int]) -> None:
        """Messages behind per (topic, partition) this worker owns; replaces the previous
        mapping, so a partition that moved away stops being reported here."""
        with self._lock:
            self._consumer_lag = dict(lags)

    def record_redis_failure(self) -> None:
        with self._lock:
            self._redis_failures += 1

    def set_redis_pending_keys(self, pending: int) -> None:
        with self._lock:
            self._redis_pending = pending

    def observe_export_duration(self, seconds: float) -> None:
        with self._lock:
            self._export_duration.observe((seconds,))

    # --- scrape -----------------------------------------------------------------------
    def collect(self) -> Iterator[Metric]:
        with self._lock:
            events = CounterMetricFamily(
                "teampulse_events", "Events by source and outcome.", labels=["source", "outcome"]
            )
            for (source, outcome), count in sorted(self._events.items()):
                events.add_metric([source, outcome], count)
            dead = CounterMetricFamily(
                "teampulse_dead_letters",
                "Records sent to the dead-letter topic, by reason.",
                labels=["reason"],
            )
            for reason, count in sorted(self._dead_letters.items()):
                dead.add_metric([reason], count)
            lag = self._event_time_lag.family(
                "teampulse_event_time_lag_seconds",
                "Seconds between an event's time and its ingestion.",
            )
            consumer = GaugeMetricFamily(
                "teampulse_consumer_lag",
                "Messages not yet consumed, per topic partition owned by this worker.",
                labels=["topic", "partition"],
            )
            for (topic, partition), behind in sorted(self._consumer_lag.items()):
                consumer.add_metric([topic, str(partition)], behind)
            last = GaugeMetricFamily(
                "teampulse_last_event_timestamp_seconds",
                "Event time of the newest event ingested from the source (Unix seconds).",
                labels=["source"],
            )
            for source, occurred_at in sorted(self._last_event.items()):
                last.add_metric([source], occurred_at)
            failures = CounterMetricFamily(
                "teampulse_redis_write_failures",
                "Redis flushes that failed (each is retried with backoff).",
                value=self._redis_failures,
            )
            pending = GaugeMetricFamily(
                "teampulse_redis_pending_keys",
                "Redis keys whose latest state waits to be written.",
                value=self._redis_pending,
            )
            export = self._export_duration.family(
                "teampulse_export_duration_seconds", "Seconds one export tick took."
            )
        yield from (events, dead, lag, consumer, last, failures, pending, export)


class StateEntries(Collector):
    """`teampulse_state_entries{stage, kind}`: the size of the worker's in-memory state,
    read from `source` at each scrape (counts kept by the state itself, no walk over
    events). Flat once event time has passed the retention; growth beyond it is a leak."""

    def __init__(
        self,
        source: Callable[[], Mapping[tuple[str, str], int]],
        registry: CollectorRegistry | None = None,
    ) -> None:
        self._source = source
        if registry is not None:
            registry.register(self)

    def collect(self) -> Iterator[Metric]:
        family = GaugeMetricFamily(
            "teampulse_state_entries",
            "Entries of the worker's in-memory state, by stage and kind.",
            labels=["stage", "kind"],
        )
        for (stage, kind), count in sorted(self._source().items()):
            family.add_metric([stage, kind], count)
        yield family
