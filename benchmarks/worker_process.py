"""A real `teampulse worker` process seen from the outside: its /metrics, its Redis keys,
its memory.

"Last record reflected in the gauges" is decided from the product's public outputs only:
1. the worker's outcome counters (`teampulse_events_total`, every outcome except
   `unassigned`, which is a second label on an event already counted) reach the number of
   records loaded: every record has been validated and applied or refused;
2. then Redis settles: the change stream (`{prefix}updates`, one entry per changed gauge
   hash, see docs/redis-keys.md) has had no new entry for `quiet_s` AND for at least
   `SETTLE_TICKS` export ticks (`teampulse_export_duration_seconds_count`, summed over the
   workers). Ticks, not only seconds, because exports pause in proportion to their cost: on
   a loaded machine a gap of several seconds between two exports is normal, and roll-ups
   need a tick to publish team counts and another to publish what the roll-up owner made of
   them. The run ends at the later of the instant the counters reached N and the id (the
   Redis server's time) of the last change entry, so exporting the last batch is charged to
   the pipeline.
The first record read is the first scrape where the engine counted anything (it counts once
per batch it applied, so the resolution is a batch and the 50 ms between scrapes). Faust's
message sensor is not read: the engine's consumer does not go through Faust, so it stays at 0.
"""

from __future__ import annotations

import os
import shlex
import shutil
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import redis
from tqdm import tqdm

__all__ = [
    "WorkerProcess",
    "counted_events",
    "export_ticks",
    "free_port",
    "gauge_snapshot",
    "wait_reflected",
]

COUNTED_OUTCOMES = ("accepted", "rejected", "duplicate", "late")
SCRAPE_EVERY_S = 0.05
POLLED_METRICS = urllib.parse.urlencode(
    [
        ("name[]", name)
        for name in (
            "teampulse_events_total",
            "teampulse_export_duration_seconds_count",
            "teampulse_state_entries",  # the soak's state size
        )
    ]
)
SETTLE_TICKS = 4


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def teampulse_command() -> list[str]:
    """The installed `teampulse` entry point next to this interpreter (the venv's), or the
    command in TEAMPULSE_BENCH_COMMAND (split like a shell), to measure another build, e.g.
    an older commit's virtualenv, against the same load in the same run."""
    chosen = os.environ.get("TEAMPULSE_BENCH_COMMAND")
    if chosen:
        return shlex.split(chosen)
    beside = Path(sys.executable).with_name("teampulse")
    if beside.exists():
        return [str(beside)]
    found = shutil.which("teampulse")
    if found is None:
        raise SystemExit("the `teampulse` command is not installed: run `make venv`")
    return [found]


def _samples(text: str, name: str) -> Iterable[tuple[str, float]]:
    """(labels, value) of every sample of metric `name` in a Prometheus text exposition."""
    for line in text.splitlines():
        if line.startswith(name + "{") or line.startswith(name + " "):
            head, _, value = line.rpartition(" ")
            yield head[len(name) :], float(value)


def counted_events(text: str) -> float:
    """Records the worker has finished with: validated and applied, or refused."""
    return sum(
        value
        for labels, value in _samples(text, "teampulse_events_total")
        if any(f'outcome="{o}"' in labels for o in COUNTED_OUTCOMES)
    )


def export_ticks(text: str) -> float | None:
    """Export ticks the worker has finished, or None when it does not publish the figure."""
    samples = [value for _, value in _samples(text, "teampulse_export_duration_seconds_count")]
    return sum(samples) if samples else None


@dataclass
class WorkerProcess:
    """One `teampulse worker` subprocess with its own web port and data folder."""

    env: Mapping[str, str]
    log_path: Path
    process: subprocess.Popen | None = None

    @property
    def web_port(self) -> int:
        return int(self.env["TEAMPULSE_WEB_PORT"])

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        log = self.log_path.open("wb")
        self.process = subprocess.Popen(
            [*teampulse_command(), "worker", "--loglevel", "warning"],
            env={**os.environ, **self.env},
            stdout=log,
            stderr=subprocess.STDOUT,
        )

    def metrics(self) -> str:
        """The counters the benchmark polls. A worker renders only these when asked by name
        (every team's series are megabytes, and polled 20 times a second they would cost the
        worker and the poller a core); an older worker answers with the whole page."""
        self.check_alive()
        try:
            url = f"http://127.0.0.1:{self.web_port}/metrics?{POLLED_METRICS}"
            with urllib.request.urlopen(url, timeout=5) as response:
                return response.read().decode()
        except (OSError, urllib.error.URLError):
            return ""  # not serving yet, or busy past the timeout: try again

    def check_alive(self) -> None:
        if self.process is not None and self.process.poll() is not None:
            tail = self.log_path.read_text(errors="replace")[-3000:]
            raise SystemExit(
                f"the worker exited with code {self.process.returncode}; "
                f"its log ({self.log_path}) ends with:\n{tail}"
            )

    def status(self, field: str) -> int:
        """A /proc/<pid>/status memory figure in bytes (VmRSS now, VmHWM the peak)."""
        assert self.process is not None
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024
        raise RuntimeError(f"/proc status has no {field}")

    def peak_rss(self) -> int:
        return self.status("VmHWM")

    def cpu_seconds(self) -> float:
        """User plus system CPU time the worker has used (/proc/<pid>/stat): unlike a rate,
        it hardly moves when other loads share the machine."""
        assert self.process is not None
        stat = Path(f"/proc/{self.process.pid}/stat").read_text()
        fields = stat.rpartition(")")[2].split()  # after the command name, which may hold spaces
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")

    def stop(self, timeout: float = 30) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _last_change(client: redis.Redis, stream: str) -> float | None:
    """Unix time of the newest change entry (its id is the Redis server's ms clock)."""
    entries = client.xrevrange(stream, count=1)
    if not entries:
        return None
    raw = entries[0][0]
    entry_id = raw.decode() if isinstance(raw, bytes) else str(raw)
    return int(entry_id.split("-")[0]) / 1000


@dataclass(frozen=True)
class Reflected:
    first_read_at: float  # Unix time
    counted_at: float
    reflected_at: float
    cpu_seconds: float  # the workers' CPU time from the first read until Redis settled

    @property
    def seconds(self) -> float:
        return self.reflected_at - self.first_read_at


def wait_reflected(
    workers: Sequence[WorkerProcess],
    expected: int,
    client: redis.Redis,
    redis_prefix: str,
    quiet_s: float = 3.0,
    timeout_s: float = 7200.0,
    first_read_at: float | None = None,
    progress: tqdm | None = None,
) -> Reflected:
    """Wait until `workers` together counted `expected` records and Redis settled."""
    deadline = time.time() + timeout_s
    counted = 0.0

    def cpu() -> float:
        return sum(w.cpu_seconds() for w in workers)

    cpu_at_first_read = None if first_read_at is None else cpu()
    while counted < expected:
        texts = [w.metrics() for w in workers]
        now = time.time()
        if first_read_at is None and any(counted_events(t) > 0 for t in texts):
            first_read_at, cpu_at_first_read = now, cpu()
        counted = sum(counted_events(t) for t in texts)
        if progress is not None and counted > progress.n:
            progress.update(int(counted) - progress.n)
        if now > deadline:
            raise SystemExit(f"timed out: the workers counted {counted:,.0f} of {expected:,}")
        time.sleep(SCRAPE_EVERY_S)
    counted_at = time.time()
    assert first_read_at is not None and cpu_at_first_read is not None
    stream = f"{redis_prefix}updates"
    last = _last_change(client, stream)
    quiet_since, ticks_then = time.time(), _ticks(workers)
    while True:
        time.sleep(0.2)
        newest, ticks = _last_change(client, stream), _ticks(workers)
        if newest != last:
            last, quiet_since, ticks_then = newest, time.time(), ticks
        elif time.time() - quiet_since >= quiet_s and (
            ticks is None or ticks_then is None or ticks - ticks_then >= SETTLE_TICKS
        ):
            break
        if time.time() > deadline:
            raise SystemExit("timed out waiting for the Redis gauges to settle")
    reflected_at = max(counted_at, last or counted_at)
    return Reflected(first_read_at, counted_at, reflected_at, cpu() - cpu_at_first_read)


def _ticks(workers: Sequence[WorkerProcess]) -> float | None:
    counts = [export_ticks(w.metrics()) for w in workers]
    return None if any(c is None for c in counts) else sum(c for c in counts if c is not None)


def gauge_snapshot(client: redis.Redis, redis_prefix: str) -> dict[str, dict[str, str]]:
    """Every published scope hash (teams, departments, divisions, org, initiatives) without
    `updated_at`, which says when a worker wrote it, not what it holds."""
    snapshot: dict[str, dict[str, str]] = {}
    keys = [
        k.decode() if isinstance(k, bytes) else k
        for k in client.scan_iter(match=f"{redis_prefix}*", count=1000)
    ]
    hashes = [k for k in keys if client.type(k) in (b"hash", "hash")]
    pipe = client.pipeline(transaction=False)
    for key in hashes:
        pipe.hgetall(key)
    for key, fields in zip(hashes, pipe.execute(), strict=True):
        decoded = {
            (f.decode() if isinstance(f, bytes) else f): (v.decode() if isinstance(v, bytes) else v)
            for f, v in fields.items()
        }
        decoded.pop("updated_at", None)
        snapshot[key.removeprefix(redis_prefix)] = decoded
    return snapshot
