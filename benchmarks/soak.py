"""`make soak`: months of simulated time through the real stack; is the worker's footprint flat?

    .venv/bin/python -m benchmarks.soak [--days 90] [--people 2000] [--teams 100]
                                        [--rate 1000] [--minutes 12] [--tolerance 0.10]

A simulated organisation (teampulse.simulation) sends a steady stream of events (its live
feed: `--rate` events per wall-clock second, spread over the teams by their activity, no
daily rhythm) to a fresh topic prefix, read by one real `teampulse worker` process writing to
Redis. Time is compressed: the worker runs with `TEAMPULSE_CLOCK=INSTANT*SPEED`, SPEED chosen
so that `--days` simulated days take `--minutes` of wall time, and every event is sent when
that clock reaches its `occurred_at` (the rule of `teampulse simulate`'s scenarios), so the
worker sees a live stream, not a backlog.

At the end of every simulated week it records (docs/benchmarks.md explains each figure):
* the worker's RSS (/proc/<pid>/status VmRSS);
* its in-memory state, `teampulse_state_entries{stage,kind}` from its /metrics (hourly
  buckets, remembered event ids, threads and their posts; adoption progress records);
* its data folder's size (`TEAMPULSE_DATA_DIR`);
* the state-log topics' bytes on the broker's disk, when the broker's log folder is readable
  (the local stack's); shown, not judged: Kafka's retention runs on the wall clock, which a
  compressed run does not advance far enough to reach;
* Redis `INFO memory` used_memory and the number of keys of the run's prefix.

The gauges keep about 31 days of event time (the baseline's reach plus 48 h lateness, read
from the gauge configuration; docs/gauges.md) and the Redis history `--redis-history-days`
(set for the run below its default 90 days so that its trimming happens inside the run). After
the later of the two horizons every judged figure must stay flat: the verdict compares the
sample of the week after the horizon with the last, and the run exits 1 when one grew by more than
`--tolerance`. The figures are written as JSON under benchmarks/results/soak/.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import math
import os
import re
import shutil
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import orjson
import redis
from aiokafka import AIOKafkaProducer
from tqdm import tqdm

from benchmarks import kafka_io
from benchmarks.report import write_results
from benchmarks.run import Pipeline, check_stack, cleanup, commit, machine
from benchmarks.worker_process import WorkerProcess, counted_events
from teampulse.gauges.config import load_gauge_config
from teampulse.settings import Settings, compressed_clock
from teampulse.simulation import build_organisation, live_events
from teampulse.simulation.scenarios import event_time

__all__ = [
    "JUDGED",
    "Sample",
    "Verdict",
    "behind_after_horizon",
    "horizon_days",
    "judge",
    "render_table",
    "sample_days",
    "speed_for",
    "state_entries",
]

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results" / "soak"
DAY_S = 86_400
WEEK_DAYS = 7
MIB = 2**20
# The worker needs a few seconds to join its groups and read the roster; simulated time
# starts this long after the worker, so the feed begins on a worker that is ready.
WARM_UP_S = 20.0
PACE_S = 0.05  # how often the feed looks which events are due
# A worker more than this many seconds of feed behind is no longer live (the table's `behind`).
BEHIND_S = 5.0
STATE_LOGS = ("team-state", "thread-state")
STATE_ENTRIES = "teampulse_state_entries"
_LABEL = re.compile(r'(\w+)="([^"]*)"')  # stage and kind are fixed words: no escapes
# The figures the verdict judges, with how the table names them. Adoption records are shown
# but not judged: they grow with the people a team has seen (bounded by the roster), not with
# time. State-log bytes neither (see the module docstring).
JUDGED: dict[str, str] = {
    "rss_bytes": "worker RSS",
    "state_entries": "state entries",
    "data_dir_bytes": "data dir",
    "redis_used_memory": "Redis used_memory",
    "redis_keys": "Redis keys",
}
# The kinds of teampulse_state_entries summed into the judged `state_entries`.
TIME_BOUNDED_KINDS = (
    ("teams", "buckets"),
    ("teams", "event_ids"),
    ("threads", "threads"),
    ("threads", "posts"),
)


# --- the pure part: figures, horizon, verdict, table -------------------------------------
@dataclass
class Sample:
    """What one simulated week's end looked like."""

    day: float  # simulated days since the start
    wall_s: float  # wall seconds since the start of simulated time
    sent: int  # events sent so far
    counted: int  # events the worker has finished with (accepted, refused, duplicate, late)
    rss_bytes: int
    state_entries: int  # the time-bounded kinds, summed
    entries: dict[str, int] = field(default_factory=dict)  # "stage/kind" -> count
    data_dir_bytes: int = 0
    state_log_bytes: int | None = None
    redis_used_memory: int = 0
    redis_keys: int = 0
    peak_rss_bytes: int = 0  # VmHWM: the most the worker has held since it started
    max_behind: int = 0  # the most events left to do seen at the daily looks of the week


@dataclass(frozen=True)
class Verdict:
    measure: str
    reference_day: float | None
    reference: float | None
    last: float | None
    ratio: float | None  # last / reference
    tolerance: float

    @property
    def flat(self) -> bool | None:
        """True when within tolerance, False when it grew, None without two samples to
        compare (the run ended too soon after the horizon)."""
        if self.ratio is None:
            return None
        return self.ratio <= 1 + self.tolerance


def speed_for(days: float, minutes: float) -> float:
    """Clock speed that makes `days` simulated days pass in `minutes` of wall time."""
    if days <= 0 or minutes <= 0:
        raise ValueError("days and minutes must be positive")
    return days * DAY_S / (minutes * 60)


def sample_days(days: float) -> list[float]:
    """When to sample: the end of every simulated week, and the end of the run."""
    weeks = [float(week * WEEK_DAYS) for week in range(1, math.floor(days / WEEK_DAYS) + 1)]
    return weeks if weeks and weeks[-1] == days else [*weeks, float(days)]


def horizon_days(retention_s: int, redis_history_days: int) -> float:
    """Simulated days after which nothing more is kept: the gauges' retention (reach plus
    lateness) or the Redis history, whichever is longer."""
    return max(retention_s / DAY_S, float(redis_history_days))


def state_entries(metrics_text: str) -> dict[str, int]:
    """`teampulse_state_entries{stage,kind}` of a /metrics page as "stage/kind" -> count."""
    found: dict[str, int] = {}
    for line in metrics_text.splitlines():
        if line.startswith(STATE_ENTRIES + "{"):
            labels, _, value = line.rpartition(" ")
            named = dict(_LABEL.findall(labels))
            found[f"{named.get('stage')}/{named.get('kind')}"] = int(float(value))
    return found


def judge(
    samples: Sequence[Sample], horizon: float, tolerance: float, measures: Sequence[str] = ()
) -> list[Verdict]:
    """Per measure: the sample of the week after the horizon (the first a week or more past
    it) against the last sample. A week, because state that expires some time after its last
    use outlives the horizon a little: a thread is kept 31 days after its last post, and
    threads take replies for days."""
    names = list(measures) or list(JUDGED)
    after = [s for s in samples if s.day >= horizon + WEEK_DAYS]
    reference = after[0] if len(after) >= 2 else None
    last = after[-1] if len(after) >= 2 else None
    verdicts = []
    for name in names:
        if reference is None or last is None:
            verdicts.append(Verdict(name, None, None, None, None, tolerance))
            continue
        first_value, last_value = float(getattr(reference, name)), float(getattr(last, name))
        ratio = last_value / first_value if first_value > 0 else (1.0 if last_value == 0 else None)
        verdicts.append(Verdict(name, reference.day, first_value, last_value, ratio, tolerance))
    return verdicts


def behind_after_horizon(samples: Sequence[Sample], horizon: float, events: float) -> list[Sample]:
    """Samples after the horizon where the worker had more than `events` left to do."""
    return [s for s in samples if s.day >= horizon and s.max_behind > events]


def _mib(value: float | None) -> str:
    return "-" if value is None else f"{value / MIB:,.1f}"


def render_table(samples: Sequence[Sample], horizon: float) -> str:
    """The weekly figures as plain text, one line per sample; `*` marks samples after the
    horizon."""
    header = (
        f"{'day':>5}  {'sent':>9}  {'behind':>7}  {'RSS MiB':>8}  {'peak':>6}  {'entries':>9}  "
        f"{'buckets':>8}  {'ids':>7}  {'threads':>7}  {'posts':>8}  {'adopt':>6}  "
        f"{'data MiB':>8}  {'log MiB':>8}  {'Redis MiB':>9}  {'keys':>6}"
    )
    lines = [header, "-" * len(header)]
    for s in samples:
        e = s.entries
        lines.append(
            f"{s.day:>4.0f}{'*' if s.day >= horizon else ' '}  {s.sent:>9,}  "
            f"{s.max_behind:>7,}  {_mib(s.rss_bytes):>8}  {_mib(s.peak_rss_bytes):>6}  "
            f"{s.state_entries:>9,}  "
            f"{e.get('teams/buckets', 0):>8,}  {e.get('teams/event_ids', 0):>7,}  "
            f"{e.get('threads/threads', 0):>7,}  {e.get('threads/posts', 0):>8,}  "
            f"{e.get('teams/adoption_records', 0):>6,}  {_mib(s.data_dir_bytes):>8}  "
            f"{_mib(s.state_log_bytes):>8}  {_mib(s.redis_used_memory):>9}  {s.redis_keys:>6,}"
        )
    return "\n".join(lines)


def render_verdicts(verdicts: Sequence[Verdict]) -> str:
    lines = []
    for v in verdicts:
        label = JUDGED.get(v.measure, v.measure)
        if v.flat is None:
            lines.append(
                f"{label:<18} inconclusive: fewer than two samples a week after the horizon"
            )
            continue
        word = "flat" if v.flat else "GROWING"
        lines.append(
            f"{label:<18} {word:<8} x{v.ratio:.3f} from day {v.reference_day:.0f} to the last "
            f"sample ({v.reference:,.0f} -> {v.last:,.0f}; tolerance +{v.tolerance:.0%})"
        )
    return "\n".join(lines)


# --- the run ------------------------------------------------------------------------------
def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make soak", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--days", type=float, default=90, help="simulated days")
    parser.add_argument("--people", type=int, default=2000)
    parser.add_argument("--teams", type=int, default=100)
    parser.add_argument("--seed", type=int, default=5)
    parser.add_argument("--rate", type=float, default=1000, help="events per wall second")
    parser.add_argument(
        "--minutes", type=float, default=12, help="wall minutes the simulated days take"
    )
    parser.add_argument(
        "--redis-history-days",
        type=int,
        default=28,
        help="the worker's TEAMPULSE_REDIS_HISTORY_DAYS for the run (default 90 in production)",
    )
    parser.add_argument(
        "--tolerance",
        type=float,
        default=0.10,
        help="largest growth (last / the week after the horizon's sample - 1) counted as flat",
    )
    parser.add_argument(
        "--kafka-log-dir",
        type=Path,
        default=None,
        help="the broker's log.dirs, for the state-log bytes (default: the local stack's)",
    )
    parser.add_argument("--keep", action="store_true", help="keep the run's topics and keys")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    return parser.parse_args(argv)


def _directory_bytes(path: Path) -> int:
    if not path.exists():
        return 0
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _state_log_bytes(log_dir: Path | None, prefix: str) -> int | None:
    if log_dir is None or not log_dir.is_dir():
        return None
    names = tuple(prefix + name + "-" for name in STATE_LOGS)
    # Segment files only: Kafka preallocates each segment's index files (10 MiB apiece).
    return sum(
        segment.stat().st_size
        for folder in log_dir.iterdir()
        if folder.is_dir() and folder.name.startswith(names)
        for segment in folder.glob("*.log")
    )


def _redis_figures(client: redis.Redis, prefix: str) -> tuple[int, int]:
    used = int(client.info("memory")["used_memory"])
    keys = sum(1 for _ in client.scan_iter(match=f"{prefix}*", count=1000))
    return used, keys


@dataclass
class Soak:
    args: argparse.Namespace
    settings: Settings
    pipeline: Pipeline
    worker: WorkerProcess
    client: redis.Redis
    start: float  # the instant simulated time starts (wall clock = simulated clock then)
    speed: float
    horizon: float
    log_dir: Path | None
    samples: list[Sample] = field(default_factory=list)

    def behind(self, sent: int) -> int:
        """Events sent that the worker has not finished with yet."""
        return sent - int(counted_events(self.worker.metrics()))

    def sample(self, day: float, sent: int, max_behind: int) -> Sample:
        text = self.worker.metrics()
        entries = state_entries(text)
        used, keys = _redis_figures(self.client, self.pipeline.redis_prefix)
        sample = Sample(
            day=day,
            wall_s=time.time() - self.start,
            sent=sent,
            counted=int(counted_events(text)),
            rss_bytes=self.worker.status("VmRSS"),
            peak_rss_bytes=self.worker.peak_rss(),
            state_entries=sum(entries.get(f"{s}/{k}", 0) for s, k in TIME_BOUNDED_KINDS),
            entries=entries,
            data_dir_bytes=_directory_bytes(Path(self.worker.env["TEAMPULSE_DATA_DIR"])),
            state_log_bytes=_state_log_bytes(
                self.log_dir, self.pipeline.env["TEAMPULSE_TOPIC_PREFIX"]
            ),
            redis_used_memory=used,
            redis_keys=keys,
        )
        sample.max_behind = max(max_behind, sample.sent - sample.counted)
        self.samples.append(sample)
        return sample

    async def feed(self) -> int:
        """Send the live feed in simulated time; sample at the end of every simulated week."""
        clock = compressed_clock(self.start, self.speed)
        end = self.start + self.args.days * DAY_S
        org = build_organisation(self.args.seed, people=self.args.people, teams=self.args.teams)
        # The feed is declared from its own start on, so no team declines: a steady load.
        events: Iterator[dict[str, Any]] = live_events(
            org,
            self.start,
            math.inf,
            self.args.rate / self.speed,
            self.args.seed,
            history_start=self.start,
        )
        topic = self.pipeline.topic("events")
        producer = AIOKafkaProducer(
            bootstrap_servers=self.settings.kafka_bootstrap, acks=1, linger_ms=20
        )
        await producer.start()
        sent, pending = 0, []
        due = sample_days(self.args.days)
        looked_at_day, max_behind = 0, 0  # the worker's backlog, looked at once a day
        upcoming = next(events)
        bar = tqdm(total=math.ceil(self.args.days), desc="simulated days", unit=" day")
        try:
            while True:
                now = min(clock(), end)
                while event_time(upcoming) <= now:
                    key = str(upcoming["id"]).encode()
                    pending.append(await producer.send(topic, orjson.dumps(upcoming), key=key))
                    sent += 1
                    upcoming = next(events)
                if len(pending) > 5000:
                    await asyncio.gather(*pending)
                    pending.clear()
                day = (now - self.start) / DAY_S
                bar.update(min(math.floor(day), bar.total) - bar.n)
                if math.floor(day) > looked_at_day:
                    looked_at_day = math.floor(day)
                    max_behind = max(max_behind, self.behind(sent))
                while due and due[0] <= day:
                    bar.write(self._line(self.sample(due.pop(0), sent, max_behind)))
                    max_behind = 0
                if now >= end:
                    break
                await asyncio.sleep(PACE_S)
            await asyncio.gather(*pending)
        finally:
            bar.close()
            await producer.stop()
        return sent

    def _line(self, s: Sample) -> str:
        mark = "*" if s.day >= self.horizon else " "
        return (
            f"day {s.day:>3.0f}{mark} sent {s.sent:>9,} behind {s.max_behind:>7,} "
            f"RSS {_mib(s.rss_bytes)} MiB (peak {_mib(s.peak_rss_bytes)}), "
            f"state {s.state_entries:,} entries, "
            f"Redis {_mib(s.redis_used_memory)} MiB in {s.redis_keys:,} keys"
        )


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    settings = Settings()
    check_stack(settings)
    started_at = dt.datetime.now(dt.UTC)
    began = time.perf_counter()
    run = uuid.uuid4().hex[:8]
    workdir = Path(tempfile.mkdtemp(prefix=f"teampulse-soak-{run}-"))
    client = redis.Redis.from_url(settings.redis_url)
    speed = speed_for(args.days, args.minutes)
    retention_s = load_gauge_config(settings).retention_s
    horizon = horizon_days(retention_s, args.redis_history_days)
    log_dir = args.kafka_log_dir or _local_stack_log_dir()
    print(
        f"soak: {args.days:g} simulated days in {args.minutes:g} min (clock x{speed:,.0f}), "
        f"{args.rate:,.0f} events/s = {args.rate * DAY_S / speed:,.0f} events per simulated "
        f"day, {args.people:,} people in {args.teams} teams; horizon {horizon:g} days",
        flush=True,
    )
    pipeline = Pipeline.create(run, "soak", settings, workdir, None)
    start = float(math.ceil(time.time() + WARM_UP_S))  # whole seconds: exact in RFC 3339
    pipeline.env["TEAMPULSE_CLOCK"] = f"{_rfc3339(start)}*{speed!r}"
    pipeline.env["TEAMPULSE_REDIS_HISTORY_DAYS"] = str(args.redis_history_days)
    worker = pipeline.worker()
    soak = Soak(args, settings, pipeline, worker, client, start, speed, horizon, log_dir)
    sent = 0
    try:
        org = build_organisation(args.seed, people=args.people, teams=args.teams)
        roster = [(r["person"].encode(), orjson.dumps(r)) for r in org.roster_records()]
        asyncio.run(
            kafka_io.produce(settings.kafka_bootstrap, pipeline.topic("roster"), roster, desc="")
        )
        worker.start()
        while time.time() < start:
            worker.check_alive()
            time.sleep(0.5)
        sent = asyncio.run(soak.feed())
        worker.check_alive()
    finally:
        worker.stop()
        if not args.keep:
            cleanup(settings, client, run)
            shutil.rmtree(workdir, ignore_errors=True)
    verdicts = judge(soak.samples, horizon, args.tolerance)
    result = {
        "started_at": started_at.isoformat().replace("+00:00", "Z"),
        "duration_s": round(time.perf_counter() - began, 1),
        "commit": commit(),
        "machine": machine(),
        "settings": {
            "days": args.days,
            "people": args.people,
            "teams": args.teams,
            "seed": args.seed,
            "rate": args.rate,
            "minutes": args.minutes,
            "speed": speed,
            "redis_history_days": args.redis_history_days,
            "retention_days": retention_s / DAY_S,
            "horizon_days": horizon,
            "tolerance": args.tolerance,
        },
        "sent": sent,
        "samples": [asdict(s) for s in soak.samples],
        "verdicts": [{**asdict(v), "flat": v.flat} for v in verdicts],
    }
    path = write_results(result, args.results_dir, started_at)
    print()
    print(render_table(soak.samples, horizon))
    print()
    print(render_verdicts(verdicts))
    lagging = behind_after_horizon(soak.samples, horizon, args.rate * BEHIND_S)
    if lagging:
        print(
            "\nnote: the worker fell behind the feed after the horizon (days "
            + ", ".join(f"{s.day:g}" for s in lagging)
            + "): a backlog enlarges batches, so RSS then holds its high-water mark as well; "
            "a lower --rate keeps the worker live"
        )
    print(f"\nwritten: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    growing = [v for v in verdicts if v.flat is False]
    inconclusive = [v for v in verdicts if v.flat is None]
    if growing:
        print("verdict: GROWING (" + ", ".join(JUDGED[v.measure] for v in growing) + ")")
        return 1
    if inconclusive:
        print(f"verdict: inconclusive: run more than {horizon + 2 * WEEK_DAYS:g} days")
        return 2
    print("verdict: flat")
    return 0


def _local_stack_log_dir() -> Path | None:
    """The broker's log folder of the local stack (deploy/stack/up.sh), if it is here."""
    stack = Path(os.environ.get("TEAMPULSE_STACK_DIR", REPO / ".stack"))
    folder = stack / "kafka" / "data"
    return folder if folder.is_dir() else None


def _rfc3339(epoch: float) -> str:
    instant = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


if __name__ == "__main__":
    sys.exit(main())
