"""The peer: TeamPulse's simplest gauges written with Quix Streams, on the same topic.

Per team and 7-day tumbling window (event time, from `occurred_at`): the number of events
and the number of distinct active members. The team comes from the roster (the events do not
carry one): the roster topic is read into a dict before the application starts, each event
gets its team, and `group_by("team")` repartitions the stream by team through Kafka, as
Quix Streams does for any re-keyed aggregation; the window state lives in RocksDB with a
changelog topic, the library's defaults.

Run by `benchmarks/run.py` as a subprocess:

    python -m benchmarks.quix_peer --bootstrap HOST:PORT --topic T --roster-topic R \\
        --expected N --group G --state-dir DIR

It stops after `--expected` events have left the window step and prints one JSON line:
`{"events": N, "seconds": s, "rate": events/s, "teams": k}`; the time runs from the first
record read to the last record aggregated, as for TeamPulse. When no record arrives for
IDLE_TIMEOUT_S before that, it stops and says how many it saw, instead of waiting for ever.
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from datetime import timedelta
from typing import Any

import orjson
from confluent_kafka import Consumer, TopicPartition
from quixstreams import Application
from quixstreams.dataframe.windows.aggregations import Aggregator, Count
from quixstreams.models.topics import TopicConfig

WINDOW = timedelta(days=7)
LATENESS = timedelta(hours=48)
IDLE_TIMEOUT_S = 120.0


class DistinctCount(Aggregator):
    """Distinct values of a column in the window. The state is a dict (JSON-serialisable,
    unlike a set) of the values seen."""

    def initialize(self) -> dict[str, int]:
        return {}

    def agg(self, old: dict[str, int], new: Any, timestamp: int) -> dict[str, int]:
        value = new[self.column] if self.column is not None else new
        if value not in old:
            old[value] = 1
        return old

    def result(self, value: dict[str, int]) -> int:
        return len(value)


def read_roster(bootstrap: str, topic: str, group: str) -> dict[str, str]:
    """person -> team from the compacted roster topic, read to its end once."""
    consumer = Consumer(
        {"bootstrap.servers": bootstrap, "group.id": group, "enable.auto.commit": False}
    )
    try:
        metadata = consumer.list_topics(topic, timeout=10).topics[topic]
        partitions = [TopicPartition(topic, p, 0) for p in metadata.partitions]
        ends = {
            tp.partition: consumer.get_watermark_offsets(tp, timeout=10)[1] for tp in partitions
        }
        consumer.assign(partitions)
        teams: dict[str, str] = {}
        remaining = {p for p, end in ends.items() if end > 0}
        while remaining:
            for message in consumer.consume(10_000, timeout=1.0):
                if message.error():
                    continue
                entry = orjson.loads(message.value())
                teams[entry["person"]] = entry["team"]
                if message.offset() >= ends[message.partition()] - 1:
                    remaining.discard(message.partition())
        return teams
    finally:
        consumer.close()


def occurred_at_ms(value: Any, headers: Any, timestamp: int, timestamp_type: Any) -> int:
    return int(dt.datetime.fromisoformat(value["occurred_at"]).timestamp() * 1000)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--topic", required=True)
    parser.add_argument("--roster-topic", required=True)
    parser.add_argument("--expected", type=int, required=True)
    parser.add_argument("--group", required=True)
    parser.add_argument("--state-dir", required=True)
    args = parser.parse_args()

    team_of = read_roster(args.bootstrap, args.roster_topic, f"{args.group}-roster")
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=args.state_dir,
        loglevel="WARNING",
    )
    events = app.topic(args.topic, value_deserializer="json", timestamp_extractor=occurred_at_ms)
    # Quix gives its repartition topic the source topic's time retention, and the records it
    # repartitions carry their event time as timestamp: months before the wall clock for the
    # fixed corpus. The broker deletes such a segment as soon as it rolls (within a second
    # where retention is checked every second, as in the local stack), the peer never sees
    # those records and waited for ever. Its own topics keep what they hold.
    source = events.broker_config
    events.broker_config = TopicConfig(
        num_partitions=source.num_partitions,
        replication_factor=source.replication_factor,
        extra_config={**source.extra_config, "retention.ms": "-1", "retention.bytes": "-1"},
    )
    clock = {"first": 0.0, "last": 0.0, "done": 0}
    teams: set[str] = set()

    def read(event: dict[str, Any]) -> None:
        if not clock["first"]:
            clock["first"] = time.perf_counter()
        event["team"] = event.get("team") or team_of.get(event["actor"], "unassigned")

    def aggregated(window: dict[str, Any], key: Any, *_: Any) -> None:
        teams.add(key)
        clock["done"] += 1
        if clock["done"] >= args.expected:
            clock["last"] = time.perf_counter()
            app.stop()

    sdf = app.dataframe(events)
    sdf = sdf.update(read)
    sdf = sdf.group_by("team")
    # The same lateness TeamPulse allows (48 h): without a grace, Quix drops every record
    # that reaches its window after a newer one, and the count never reaches --expected.
    window = sdf.tumbling_window(WINDOW, grace_ms=LATENESS).agg(
        events=Count(), active_members=DistinctCount("actor")
    )
    app.run(window.current().update(aggregated, metadata=True), timeout=IDLE_TIMEOUT_S)

    seconds = clock["last"] - clock["first"]
    if clock["done"] < args.expected or seconds <= 0:
        sys.exit(f"the Quix application stopped after {clock['done']} of {args.expected} events")
    result = {
        "events": clock["done"],
        "seconds": seconds,
        "rate": clock["done"] / seconds,
        "teams": len(teams),
    }
    print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    main()
