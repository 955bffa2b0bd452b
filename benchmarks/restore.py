"""How long a restart takes to rebuild the teams stage's state, before and after snapshots.

Before snapshots a restore replayed the state log from its start: every event the worker
ever accepted (until the broker's retention deleted the oldest, and the cumulative state with
them). After, it loads the latest snapshot and replays only the log records written since:
at most one snapshot interval (`TEAMPULSE_SNAPSHOT_INTERVAL_S`).

The history of a simulated organisation (10,000 people in 500 teams by default) is applied
as the teams stage applies it, four partitions of teams, and logged as the worker logs it
(one framed record per partition and batch of 2,000). Then, per history length:

* before: a fresh state replays the whole log (`TeamPartition.replay`);
* after: the snapshot taken one interval before the end is loaded (`load_teams`) and the log
  records after it are replayed (the tail: the events of the last interval of event time,
  the rate of a live organisation).

Both are the CPU work of a restore in one process; reading the records from Kafka adds about
2 µs each (docs/architecture.md). The thread stage restores beside the teams stage in the
same way; it is left out here. Printed per length: events, log records, the two times, their
ratio, the snapshot's size and the time to take it (spent in a forked child by the worker).

    .venv/bin/python -m benchmarks.restore [--people 10000] [--teams 500] [--days 31 62]
"""

from __future__ import annotations

import argparse
import time
import zlib
from collections import defaultdict

import orjson

from teampulse.contract.event import Event
from teampulse.engine.state_store import frame_ops
from teampulse.gauges.config import load_gauge_config
from teampulse.settings import load_settings
from teampulse.sinks.exporter import team_partition
from teampulse.streams.partitions import TeamPartition, event_op
from teampulse.streams.state_snapshots import dump_teams, load_teams

from .gauges_memory import START, simulated_history

DAY_S = 86_400
PARTITIONS = 4
BATCH = 2_000  # TEAMPULSE_BATCH_MAX: one log record per partition and batch, at least


def restore_times(records: list[bytes], days: float, interval_s: float) -> dict[str, float]:
    config = load_gauge_config(load_settings())
    live = [TeamPartition(config) for _ in range(PARTITIONS)]
    logs: list[list[bytes]] = [[] for _ in range(PARTITIONS)]
    # One interval before the last event (a history may end in a quiet night or weekend).
    last = max(orjson.loads(raw)["occurred_at"] for raw in records[-BATCH:])
    snapshot_at = min(START + days * DAY_S, last) - interval_s
    snapshots: list[bytes | None] = [None] * PARTITIONS
    tails: list[list[bytes]] = [[] for _ in range(PARTITIONS)]
    dump_s = 0.0
    for first in range(0, len(records), BATCH):
        ops: dict[int, list[bytes]] = defaultdict(list)
        for raw in records[first : first + BATCH]:
            event = Event.from_wire(orjson.loads(raw))
            if snapshots[0] is None and event.occurred_at >= snapshot_at:
                started = time.perf_counter()
                snapshots = [zlib.compress(dump_teams(config)(p), 1) for p in live]
                dump_s = time.perf_counter() - started
            partition = team_partition(str(event.team), PARTITIONS)
            outcome = live[partition].apply_event(event)
            if outcome in ("accepted", "stale"):
                ops[partition].append(event_op(raw))
        for partition, applied in ops.items():
            framed = frame_ops(applied)
            logs[partition].extend(framed)
            if snapshots[0] is not None:
                tails[partition].extend(framed)

    started = time.perf_counter()
    for log in logs:
        replayed = TeamPartition(config)
        for record in log:
            replayed.replay(record)
    before_s = time.perf_counter() - started

    started = time.perf_counter()
    for partition, snapshot in enumerate(snapshots):
        assert snapshot is not None, "the history is shorter than one snapshot interval"
        restored = load_teams(config)(partition, zlib.decompress(snapshot))
        for record in tails[partition]:
            restored.replay(record)
    after_s = time.perf_counter() - started
    return {
        "log_records": sum(len(log) for log in logs),
        "tail_records": sum(len(tail) for tail in tails),
        "before_s": before_s,
        "after_s": after_s,
        "snapshot_bytes": sum(len(s or b"") for s in snapshots),
        "dump_s": dump_s,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--people", type=int, default=10_000)
    parser.add_argument("--teams", type=int, default=500)
    parser.add_argument("--days", type=float, nargs="+", default=[31, 62])
    parser.add_argument("--interval-s", type=float, default=300.0)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()
    print(
        f"restore of the teams stage, {args.people:,} people in {args.teams} teams, "
        f"{PARTITIONS} partitions, snapshot interval {args.interval_s:.0f} s"
    )
    print(
        f"{'days':>5} {'events':>10} {'log recs':>9} {'before s':>9} {'tail recs':>10} "
        f"{'after s':>8} {'after/before':>13} {'snapshot MiB':>13} {'dump s':>7}"
    )
    for days in args.days:
        started = time.perf_counter()
        _roster, records = simulated_history(args.people, args.teams, days, args.seed)
        print(f"      ({len(records):,} events generated in {time.perf_counter() - started:.0f} s)")
        t = restore_times(records, days, args.interval_s)
        print(
            f"{days:>5.0f} {len(records):>10,} {t['log_records']:>9,.0f} {t['before_s']:>9.2f} "
            f"{t['tail_records']:>10,.0f} {t['after_s']:>8.2f} "
            f"{t['after_s'] / t['before_s']:>12.3f}x {t['snapshot_bytes'] / 2**20:>13.1f} "
            f"{t['dump_s']:>7.2f}",
            flush=True,
        )


if __name__ == "__main__":
    main()
