"""`make bench`: one run against the local stack, one table, one JSON document.

    .venv/bin/python -m benchmarks.run [--events 1000000] [--latency-seconds 60]

Phases, each alone on the machine (docs/benchmarks.md explains every figure):
1. load: the simulated corpus (10,000 people, 500 teams; cached in benchmarks/.cache) is
   produced once to a fresh `events` topic, with the roster;
2. ceiling and baseline: a bare aiokafka consumer reads the topic three times, then three
   times more parsing every record and counting per team; the medians are kept;
3. peer: benchmarks/quix_peer.py (Quix Streams) aggregates the same topic;
4. teampulse: a real `teampulse worker` process, frozen clock, from its first record read
   to the last record reflected in the gauges; its peak RSS;
5. memory: N more events (the corpus's second half) to the same worker; peak RSS again;
6. two workers: the first N records copied byte for byte to a second prefix, two workers in
   one consumer group; their rate, and their gauges compared with the one-worker run's;
7. latency: a wall-clock worker under a steady offered rate, produce-to-gauge for probes;
8. state (`--state`, or `--large-org`): the first N events through the core in this process,
   the state's bytes per person and per event kept, and the time to load the teams snapshot
   (benchmarks/state_size.py).

`--large-org` draws 100,000 people in 5,000 teams (`--people`/`--teams` still win) and adds
the state phase: the figures docs/scaling.md gives for a large organisation.
The worker's topics all share one prefix (`TEAMPULSE_TOPIC_PREFIX`), so every pipeline run
gets its own prefix; the run's topics and Redis keys are deleted at the end (`--keep` keeps
them).
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import logging
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import orjson
import redis
from tqdm import tqdm

from benchmarks import kafka_io
from benchmarks.corpus import Corpus, CorpusSpec, load_corpus
from benchmarks.latency import probe_event, probe_roster, steady_latency, wait_probe
from benchmarks.report import (
    Figures,
    build_result,
    render_table,
    snapshot_differences,
    write_results,
)
from benchmarks.state_size import measure_state
from benchmarks.worker_process import (
    WorkerProcess,
    free_port,
    gauge_snapshot,
    teampulse_command,
    wait_reflected,
)
from teampulse.gauges.config import load_gauge_config
from teampulse.settings import Settings
from teampulse.sinks.redis_connection import redis_tls_options

REPO = Path(__file__).resolve().parents[1]
RESULTS_DIR = Path(__file__).resolve().parent / "results"
PHASES = ("ceiling", "baseline", "quix", "teampulse", "memory", "two-workers", "latency", "state")
# `--large-org`: the organisation the scaling guide plans for (docs/scaling.md).
LARGE_ORG_PEOPLE = 100_000
LARGE_ORG_TEAMS = 5_000
READS = 3


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="make bench", description=__doc__.splitlines()[0] if __doc__ else None
    )
    parser.add_argument("--events", type=int, default=1_000_000, help="N, the measured load")
    parser.add_argument("--people", type=int, help="people in the organisation (10,000)")
    parser.add_argument("--teams", type=int, help="teams in the organisation (500)")
    parser.add_argument(
        "--large-org",
        action="store_true",
        help=f"{LARGE_ORG_PEOPLE:,} people in {LARGE_ORG_TEAMS:,} teams unless --people/--teams"
        " say otherwise, with the state phase",
    )
    parser.add_argument(
        "--state",
        action="store_true",
        help="also measure the core's state per person and the snapshot's restore, in process",
    )
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--latency-rate", type=float, default=5000, help="offered events/s")
    parser.add_argument("--latency-seconds", type=float, default=60)
    parser.add_argument(
        "--latency-drain-s",
        type=float,
        default=120,
        help="after the offered load stops, wait this long for the last probes",
    )
    parser.add_argument(
        "--skip", action="append", default=[], choices=PHASES, help="leave a phase out"
    )
    parser.add_argument(
        "--quiet-s",
        type=float,
        default=3.0,
        help="Redis must stay unchanged this long to count as settled",
    )
    parser.add_argument("--no-cache", action="store_true", help="draw the corpus afresh")
    parser.add_argument("--keep", action="store_true", help="keep the run's topics and keys")
    parser.add_argument("--results-dir", type=Path, default=RESULTS_DIR)
    args = parser.parse_args(argv)
    if args.events < 1000:
        parser.error("--events must be at least 1000")
    if "teampulse" in args.skip:
        args.skip.append("memory")
    if args.people is None:
        args.people = LARGE_ORG_PEOPLE if args.large_org else 10_000
    if args.teams is None:
        args.teams = LARGE_ORG_TEAMS if args.large_org else 500
    if not (args.state or args.large_org):
        args.skip.append("state")
    return args


def check_stack(settings: Settings) -> None:
    """Fail early, with the fix, when Kafka or Redis is not answering."""
    host, _, port = settings.kafka_bootstrap.split(",")[0].rpartition(":")
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=3).close()
    except OSError as exc:
        raise SystemExit(
            f"Kafka is not answering at {settings.kafka_bootstrap} (TEAMPULSE_KAFKA_BOOTSTRAP): "
            f"{exc}. Start the stack with `make up`, or run `make bench`, which starts it."
        ) from exc
    try:
        redis.Redis.from_url(
            settings.redis_url, socket_timeout=3, **redis_tls_options(settings)
        ).ping()
    except redis.RedisError as exc:
        raise SystemExit(
            f"Redis is not answering at {urlparse(settings.redis_url).netloc} "
            f"(TEAMPULSE_REDIS_URL): {str(exc).rstrip('.')}. "
            "Start the stack with `make up`, or run `make bench`, which starts it."
        ) from exc


def machine() -> dict[str, object]:
    meminfo = Path("/proc/meminfo")
    memory_kib = 0
    if meminfo.exists():
        for line in meminfo.read_text().splitlines():
            if line.startswith("MemTotal:"):
                memory_kib = int(line.split()[1])
    return {
        "cores": os.cpu_count(),
        "memory_mib": memory_kib // 1024,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "load_average_1m": os.getloadavg()[0],
    }


def commit() -> str:
    def git(*args: str) -> str:
        done = subprocess.run(["git", *args], cwd=REPO, capture_output=True, text=True)
        return done.stdout.strip()

    head = git("rev-parse", "HEAD") or "unknown"
    return head + ("-dirty" if git("status", "--porcelain", "--untracked-files=no") else "")


@dataclass
class Pipeline:
    """One isolated TeamPulse deployment: its own topics, consumer group and Redis keys."""

    name: str
    env: dict[str, str]
    workdir: Path

    @classmethod
    def create(
        cls, run: str, name: str, settings: Settings, workdir: Path, clock: float | None
    ) -> Pipeline:
        env = {
            "TEAMPULSE_KAFKA_BOOTSTRAP": settings.kafka_bootstrap,
            "TEAMPULSE_REDIS_URL": settings.redis_url,
            "TEAMPULSE_TOPIC_PREFIX": f"bench-{run}-{name}.",
            "TEAMPULSE_APP_ID": f"bench-{run}-{name}",
            "TEAMPULSE_REDIS_PREFIX": f"bench:{run}:{name}:",
            "TEAMPULSE_CLOCK": "wall" if clock is None else _rfc3339(clock),
        }
        pipeline = cls(name, env, workdir / name)
        done = subprocess.run(
            [*teampulse_command(), "topics"],
            env={**os.environ, **env},
            capture_output=True,
            text=True,
        )
        if done.returncode != 0:
            raise SystemExit(f"`teampulse topics` failed:\n{done.stderr}")
        return pipeline

    def topic(self, name: str) -> str:
        return self.env["TEAMPULSE_TOPIC_PREFIX"] + name

    @property
    def redis_prefix(self) -> str:
        return self.env["TEAMPULSE_REDIS_PREFIX"]

    def worker(self, number: int = 1) -> WorkerProcess:
        env = {
            **self.env,
            "TEAMPULSE_WEB_PORT": str(free_port()),
            "TEAMPULSE_INGEST_PORT": str(free_port()),
            "TEAMPULSE_DATA_DIR": str(self.workdir / f"worker-{number}"),
        }
        return WorkerProcess(env, self.workdir / f"worker-{number}.log")


def _rfc3339(epoch: float) -> str:
    instant = dt.datetime.fromtimestamp(epoch, tz=dt.UTC)
    return instant.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _progress(total: int, desc: str) -> tqdm:
    return tqdm(total=total, desc=desc, unit=" ev", mininterval=0.5)


def measure_reads(
    settings: Settings, topic: str, corpus: Corpus, figures: Figures, skip: list[str]
) -> None:
    n = corpus.spec.events
    team_of = corpus.team_of_person()
    if "ceiling" not in skip:
        for _ in range(READS):
            rate = asyncio.run(kafka_io.ceiling_read(settings.kafka_bootstrap, topic, n))
            figures.ceiling_rates.append(rate)
        print(f"ceiling  reads: {', '.join(f'{r:,.0f}' for r in figures.ceiling_rates)} records/s")
    if "baseline" not in skip:
        for _ in range(READS):
            rate, counts = asyncio.run(
                kafka_io.baseline_read(settings.kafka_bootstrap, topic, n, team_of)
            )
            figures.baseline_rates.append(rate)
        print(
            f"baseline reads: {', '.join(f'{r:,.0f}' for r in figures.baseline_rates)} "
            f"records/s ({len(counts)} teams)"
        )


def measure_quix(
    settings: Settings, run: str, source: Pipeline, n: int, workdir: Path, figures: Figures
) -> None:
    state_dir = workdir / "quix-state"
    print("peer: Quix Streams per-team 7-day count and distinct members ...", flush=True)
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "benchmarks.quix_peer",
            "--bootstrap",
            settings.kafka_bootstrap,
            "--topic",
            source.topic("events"),
            "--roster-topic",
            source.topic("roster"),
            "--expected",
            str(n),
            "--group",
            f"bench-{run}-quix",
            "--state-dir",
            str(state_dir),
        ],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=4 * 3600,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise SystemExit(f"the Quix Streams peer failed:\n{done.stderr[-3000:]}")
    outcome = orjson.loads(lines[-1])
    figures.quix_rate = outcome["rate"]
    print(f"peer: {outcome['rate']:,.0f} events/s over {outcome['teams']} teams")


def measure_teampulse(
    pipeline: Pipeline,
    corpus: Corpus,
    client: redis.Redis,
    figures: Figures,
    settings: Settings,
    quiet_s: float,
    memory: bool,
) -> dict[str, dict[str, str]]:
    n = corpus.spec.events
    worker = pipeline.worker()
    worker.start()
    try:
        with _progress(n, "teampulse: one worker") as bar:
            reflected = wait_reflected(
                [worker],
                n,
                client,
                pipeline.redis_prefix,
                quiet_s=quiet_s,
                progress=bar,
            )
        figures.teampulse_rate = n / reflected.seconds
        figures.teampulse_seconds = reflected.seconds
        figures.rss_bytes_n = worker.peak_rss()
        snapshot = gauge_snapshot(client, pipeline.redis_prefix)
        counted_s = reflected.counted_at - reflected.first_read_at
        figures.teampulse_counted_seconds = counted_s
        figures.teampulse_cpu_seconds = reflected.cpu_seconds
        print(
            f"teampulse: {figures.teampulse_rate:,.0f} events/s ({reflected.seconds:.1f} s; "
            f"all counted {counted_s:.1f} s after the first read), {len(snapshot)} hashes"
        )
        if memory:
            asyncio.run(
                kafka_io.produce(
                    settings.kafka_bootstrap,
                    pipeline.topic("events"),
                    corpus.second_half,
                    desc="loading the second N",
                )
            )
            with _progress(2 * n, "teampulse: to 2N") as bar:
                wait_reflected(
                    [worker],
                    2 * n,
                    client,
                    pipeline.redis_prefix,
                    quiet_s=quiet_s,
                    first_read_at=time.time(),
                    progress=bar,
                )
            figures.rss_bytes_2n = worker.peak_rss()
        return snapshot
    finally:
        worker.stop()


def measure_two_workers(
    pipeline: Pipeline,
    n: int,
    client: redis.Redis,
    figures: Figures,
    quiet_s: float,
    one_worker: dict[str, dict[str, str]] | None,
) -> None:
    workers = [pipeline.worker(1), pipeline.worker(2)]
    for worker in workers:
        worker.start()
    try:
        with _progress(n, "teampulse: two workers") as bar:
            reflected = wait_reflected(
                workers,
                n,
                client,
                pipeline.redis_prefix,
                quiet_s=quiet_s,
                progress=bar,
            )
        figures.two_worker_rate = n / reflected.seconds
        if one_worker is not None:
            differences = snapshot_differences(
                one_worker, gauge_snapshot(client, pipeline.redis_prefix)
            )
            figures.two_worker_gauges_equal = not differences
            figures.two_worker_differences = differences
        print(
            f"two workers: {figures.two_worker_rate:,.0f} events/s; gauges "
            + (
                "not compared"
                if one_worker is None
                else "equal"
                if not figures.two_worker_differences
                else f"DIFFER: {figures.two_worker_differences[:3]}"
            )
        )
    finally:
        for worker in workers:
            worker.stop()


def measure_latency(
    pipeline: Pipeline,
    corpus: Corpus,
    client: redis.Redis,
    figures: Figures,
    settings: Settings,
    run: str,
    rate: float,
    seconds: float,
    drain_s: float,
) -> None:
    worker = pipeline.worker()
    worker.start()
    try:
        bootstrap, topic = settings.kafka_bootstrap, pipeline.topic("events")
        # One probe first: the worker has joined, read the roster and exports.
        asyncio.run(
            kafka_io.produce(
                bootstrap,
                topic,
                [(f"{run}-probe".encode(), probe_event(1, run, time.time()))],
                desc="",
            )
        )
        asyncio.run(wait_probe(client, pipeline.redis_prefix, 1, timeout=180))
        print(f"latency: offering {rate:,.0f} events/s for {seconds:g} s ...", flush=True)
        templates = [value for _, value in corpus.records[:20_000]]
        outcome = asyncio.run(
            steady_latency(
                bootstrap,
                topic,
                client,
                pipeline.redis_prefix,
                templates,
                rate,
                seconds,
                run,
                warm_up_probes=1,
                drain_s=drain_s,
            )
        )
        figures.latencies_s = outcome.latencies_s
        figures.latency_offered_rate = outcome.offered_rate
        figures.latency_unreflected = outcome.unreflected
    finally:
        worker.stop()


def measure_state_phase(corpus: Corpus, figures: Figures, settings: Settings) -> None:
    print(f"state: applying {corpus.spec.events:,} events in process, allocations traced ...")
    state = measure_state(corpus.roster, corpus.first_half, load_gauge_config(settings))
    figures.state_bytes_per_person = state.bytes_per_person
    figures.state_bytes_per_event = state.bytes_per_event
    figures.snapshot_bytes = state.snapshot_bytes
    figures.restore_s = state.restore_s
    print(
        f"state: {state.state_bytes / 2**20:,.1f} MiB for {state.people:,} people "
        f"({state.bytes_per_person:,.0f} B each, {state.bytes_per_event:,.0f} B per event kept);"
        f" teams snapshot {state.snapshot_bytes / 2**20:,.1f} MiB loaded in {state.restore_s:.2f} s"
    )


def cleanup(settings: Settings, client: redis.Redis, run: str) -> None:
    deleted = asyncio.run(kafka_io.delete_topics(settings.kafka_bootstrap, f"bench-{run}"))
    keys = list(client.scan_iter(match=f"bench:{run}:*", count=1000))
    for start in range(0, len(keys), 1000):
        client.delete(*keys[start : start + 1000])
    print(f"cleaned up {len(deleted)} topics and {len(keys)} Redis keys of run {run}")


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    # A topic just created has no leader for a moment; aiokafka retries and says so each time.
    logging.getLogger("aiokafka").setLevel(logging.ERROR)
    settings = Settings()
    check_stack(settings)
    started_at = dt.datetime.now(dt.UTC)
    started = time.perf_counter()
    run = uuid.uuid4().hex[:8]
    workdir = Path(tempfile.mkdtemp(prefix=f"teampulse-bench-{run}-"))
    client = redis.Redis.from_url(settings.redis_url, **redis_tls_options(settings))
    spec = CorpusSpec(events=args.events, people=args.people, teams=args.teams, seed=args.seed)
    corpus = load_corpus(spec, cache=not args.no_cache)
    clock = corpus.last_occurred_at + 1
    figures = Figures()
    n = args.events
    try:
        one = Pipeline.create(run, "one", settings, workdir, clock)
        asyncio.run(
            kafka_io.produce(
                settings.kafka_bootstrap,
                one.topic("roster"),
                corpus.roster,
                desc="loading the roster",
            )
        )
        asyncio.run(
            kafka_io.produce(
                settings.kafka_bootstrap,
                one.topic("events"),
                corpus.first_half,
                desc=f"loading {n:,} events",
            )
        )
        loaded = asyncio.run(kafka_io.end_offsets(settings.kafka_bootstrap, one.topic("events")))
        measure_reads(settings, one.topic("events"), corpus, figures, args.skip)
        if "quix" not in args.skip:
            measure_quix(settings, run, one, n, workdir, figures)
        snapshot = None
        if "teampulse" not in args.skip:
            snapshot = measure_teampulse(
                one,
                corpus,
                client,
                figures,
                settings,
                args.quiet_s,
                memory="memory" not in args.skip,
            )
        if "two-workers" not in args.skip:
            two = Pipeline.create(run, "two", settings, workdir, clock)
            asyncio.run(
                kafka_io.produce(
                    settings.kafka_bootstrap, two.topic("roster"), corpus.roster, desc=""
                )
            )
            asyncio.run(
                kafka_io.copy_topic(
                    settings.kafka_bootstrap, one.topic("events"), two.topic("events"), loaded
                )
            )
            measure_two_workers(two, n, client, figures, args.quiet_s, snapshot)
        if "latency" not in args.skip:
            live = Pipeline.create(run, "live", settings, workdir, None)
            asyncio.run(
                kafka_io.produce(
                    settings.kafka_bootstrap,
                    live.topic("roster"),
                    corpus.roster + probe_roster(),
                    desc="",
                )
            )
            measure_latency(
                live,
                corpus,
                client,
                figures,
                settings,
                run,
                args.latency_rate,
                args.latency_seconds,
                args.latency_drain_s,
            )
        if "state" not in args.skip:
            measure_state_phase(corpus, figures, settings)
    finally:
        if not args.keep:
            cleanup(settings, client, run)
            shutil.rmtree(workdir, ignore_errors=True)
    result = build_result(
        figures,
        commit=commit(),
        machine=machine(),
        settings={
            "events": n,
            "people": args.people,
            "teams": args.teams,
            "seed": args.seed,
            "partitions": len(loaded),
            "latency_rate": args.latency_rate,
            "latency_seconds": args.latency_seconds,
            "latency_drain_s": args.latency_drain_s,
            "quiet_s": args.quiet_s,
            "skipped": sorted(set(args.skip)),
            "frozen_clock": _rfc3339(clock),
        },
        started_at=started_at,
        duration_s=time.perf_counter() - started,
    )
    path = write_results(result, args.results_dir, started_at)
    print()
    print(render_table(result))
    print(f"\nwritten: {path.relative_to(REPO) if path.is_relative_to(REPO) else path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
