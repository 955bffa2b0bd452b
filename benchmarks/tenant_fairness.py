"""Does one tenant's flood starve another's live feed at the ingest endpoint?

    .venv/bin/python -m benchmarks.tenant_fairness [--seconds 10] [--flooders 16]
        [--flood-rate 500] [--rate-b 20] [--idle-tenants 0]

Runs `teampulse ingest` against the local stack's Kafka (TEAMPULSE_KAFKA_PORT or
TEAMPULSE_KAFKA_BOOTSTRAP) with two tenants, then measures tenant B's steady feed (a
request of 10 events every 1/--rate-b seconds) in three phases of the same run:

1. B alone;
2. B while tenant A floods the endpoint from --flooders connections at --flood-rate
   requests/s (0: as fast as they are answered), A held to its tenant rate limit
   (50 requests/s);
3. the same flood with A's rate limit lifted (what a deployment without per-tenant limits
   would see).

With `--backfill N` it measures the pipeline behind the endpoint instead: tenant A backfills N
events while B's live events are timed to the gauges, with and without the worker's tenant
scheduler (benchmarks/tenant_backfill.py).

It prints, per phase, B's requests answered 200, its p50 / p99 latency and that p99 as a
ratio of phase 1's, and A's requests accepted and refused (429) per second. The endpoint's
tenants file is changed between phases 2 and 3 and reloaded by the endpoint itself, without
a restart.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from multiprocessing import Process, Queue
from pathlib import Path

import orjson
import yaml
from aiohttp import ClientSession, ClientTimeout, TCPConnector

from benchmarks import tenant_backfill

RELOAD_S = 0.5
A_LIMIT = {"per_s": 50, "burst": 100}
A_UNLIMITED = {"per_s": 1_000_000, "burst": 1_000_000}
EVENTS_PER_REQUEST = 10


def tenants(a_limit: dict[str, int], idle: int) -> dict:
    """The flooder, the steady tenant and `idle` more tenants of two credentials each, as a
    platform with many customers would have."""
    return {
        "tenants": {
            **{
                f"idle-{i}": {
                    "pseudonym_secret": f"idle-pseudonym-key-{i:06d}",
                    "credentials": [f"idle-{i}:secret-{i}", f"idle-token-{i}-0123456789"],
                }
                for i in range(idle)
            },
            "flooder": {
                "pseudonym_secret": "flooder-pseudonym-key",
                "credentials": ["flooder:flooder-secret"],
                "rate_limit": a_limit,
            },
            "steady": {
                "pseudonym_secret": "steady-pseudonym-key-1",
                "credentials": ["steady:steady-secret"],
                "rate_limit": A_LIMIT,
            },
        }
    }


def basic(user_and_secret: str) -> str:
    return "Basic " + base64.b64encode(user_and_secret.encode()).decode()


def batch() -> bytes:
    return orjson.dumps(
        [
            {
                "id": f"fair-{uuid.uuid4().hex}",
                "type": "learning.completed",
                "occurred_at": "2026-03-02T10:30:00Z",
                "actor": f"person-{i}@example.com",
                "team": "red",
                "source": "lms",
            }
            for i in range(EVENTS_PER_REQUEST)
        ]
    )


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)  # of the 200 answers
    statuses: dict[int, int] = field(default_factory=dict)

    def add(self, status: int, seconds: float) -> None:
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status == 200:
            self.latencies.append(seconds)

    def quantile(self, q: float) -> float:
        ordered = sorted(self.latencies)
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def post(http: ClientSession, url: str, authorization: str, tally: Tally) -> None:
    started = time.perf_counter()
    try:
        async with http.post(url, data=batch(), headers={"Authorization": authorization}) as r:
            await r.read()
            status = r.status
    except (TimeoutError, OSError):
        status = 0  # no answer in time
    tally.add(status, time.perf_counter() - started)


async def steady_feed(url: str, rate: float, seconds: float) -> Tally:
    tally = Tally()
    async with ClientSession(timeout=ClientTimeout(total=30)) as http:
        pending = []
        start = time.perf_counter()
        sent = 0
        while time.perf_counter() - start < seconds:
            pending.append(
                asyncio.create_task(post(http, url, basic("steady:steady-secret"), tally))
            )
            sent += 1
            await asyncio.sleep(max(0.0, start + sent / rate - time.perf_counter()))
        await asyncio.gather(*pending)
    return tally


async def flood(url: str, connections: int, seconds: float, rate: float) -> Tally:
    """A's requests from `connections` connections, paced to `rate` requests/s in all (0: as
    fast as they are answered)."""
    tally = Tally()
    start = time.perf_counter()
    deadline = start + seconds

    async def one(http: ClientSession) -> None:
        sent = 0
        while time.perf_counter() < deadline:
            await post(http, url, basic("flooder:flooder-secret"), tally)
            sent += 1
            if rate > 0:
                due = start + sent * connections / rate
                await asyncio.sleep(max(0.0, due - time.perf_counter()))

    connector = TCPConnector(limit=connections)
    async with ClientSession(connector=connector, timeout=ClientTimeout(total=30)) as http:
        await asyncio.gather(*(one(http) for _ in range(connections)))
    return tally


def flood_process(url: str, connections: int, seconds: float, rate: float, out: Queue) -> None:
    """The flood runs in its own process, so that B's client measures the endpoint, not
    an event loop it shares with sixteen busy connections."""
    out.put(asyncio.run(flood(url, connections, seconds, rate)).statuses)


async def phase(url: str, args: argparse.Namespace, flooding: bool) -> tuple[Tally, Tally | None]:
    flooder = None
    results: Queue = Queue()
    if flooding:
        flooder = Process(
            target=flood_process,
            args=(url, args.flooders, args.seconds, args.flood_rate, results),
        )
        flooder.start()
        await asyncio.sleep(0.5)  # the flood is under way before B's first request
    steady = await steady_feed(url, args.rate_b, args.seconds - 0.5 if flooding else args.seconds)
    if flooder is None:
        return steady, None
    statuses = await asyncio.to_thread(results.get)
    flooder.join()
    return steady, Tally(statuses=statuses)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


async def wait_until_serving(url: str, endpoint: subprocess.Popen, timeout_s: float = 60) -> None:
    deadline = time.monotonic() + timeout_s
    async with ClientSession() as http:
        while time.monotonic() < deadline:
            if endpoint.poll() is not None:
                raise SystemExit("teampulse ingest exited; is Kafka up (make up)?")
            try:
                async with http.get(url + "/xAPI/about") as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            await asyncio.sleep(0.3)
    raise SystemExit(f"teampulse ingest did not answer on {url} within {timeout_s:.0f} s")


def row(name: str, steady: Tally, flooder: Tally | None, alone_p99: float, seconds: float) -> str:
    sent = sum(steady.statuses.values())
    ok = steady.statuses.get(200, 0)
    p50, p99 = steady.quantile(0.5) * 1000, steady.quantile(0.99) * 1000
    ratio = p99 / (alone_p99 * 1000) if alone_p99 else float("nan")
    a_ok = a_429 = "-"
    if flooder is not None:
        a_ok = f"{flooder.statuses.get(200, 0) / seconds:,.0f}"
        a_429 = f"{flooder.statuses.get(429, 0) / seconds:,.0f}"
    return f"| {name} | {ok}/{sent} | {p50:,.1f} | {p99:,.1f} | {ratio:.2f} x | {a_ok} | {a_429} |"


async def run(args: argparse.Namespace) -> None:
    bootstrap = os.environ.get("TEAMPULSE_KAFKA_BOOTSTRAP") or (
        f"127.0.0.1:{os.environ.get('TEAMPULSE_KAFKA_PORT', '9092')}"
    )
    folder = Path(tempfile.mkdtemp(prefix="teampulse-fairness-"))
    tenants_file = folder / "tenants.yaml"
    tenants_file.write_text(yaml.safe_dump(tenants(A_LIMIT, args.idle_tenants)))
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "TEAMPULSE_KAFKA_BOOTSTRAP": bootstrap,
        "TEAMPULSE_TOPIC_PREFIX": f"fairness-{uuid.uuid4().hex[:8]}.",
        "TEAMPULSE_INGEST_PORT": str(port),
        "TEAMPULSE_TENANTS_FILE": str(tenants_file),
        "TEAMPULSE_TENANTS_RELOAD_S": str(RELOAD_S),
    }
    log = (folder / "ingest.log").open("wb")
    endpoint = subprocess.Popen(
        [sys.executable, "-m", "teampulse.cli", "ingest"], env=env, stdout=log, stderr=log
    )
    try:
        print(f"starting teampulse ingest on {url} (Kafka {bootstrap})", file=sys.stderr)
        await wait_until_serving(url, endpoint)
        events = url + "/events"
        print(f"phase 1/3: B alone, {args.seconds:g} s", file=sys.stderr)
        alone, _ = await phase(events, args, flooding=False)
        print(f"phase 2/3: B while A floods, A limited, {args.seconds:g} s", file=sys.stderr)
        limited, limited_flood = await phase(events, args, flooding=True)
        tenants_file.write_text(yaml.safe_dump(tenants(A_UNLIMITED, args.idle_tenants)))
        await asyncio.sleep(RELOAD_S * 3)  # the endpoint's own timer reloads the file
        print(f"phase 3/3: B while A floods, A unlimited, {args.seconds:g} s", file=sys.stderr)
        unlimited, unlimited_flood = await phase(events, args, flooding=True)
    finally:
        endpoint.terminate()
        endpoint.wait(timeout=30)
        log.close()
    base = alone.quantile(0.99)
    offered = f"{args.flood_rate:g} requests/s" if args.flood_rate else "as fast as answered"
    print(
        f"\nB: {args.rate_b:g} requests/s of {EVENTS_PER_REQUEST} events; A: {args.flooders} "
        f"connections, {offered}; {args.idle_tenants} more tenants in the file; "
        f"{args.seconds:g} s per phase\n"
    )
    print("| phase | B answered 200 | B p50 ms | B p99 ms | B p99 / alone | A 200/s | A 429/s |")
    print("|---|---|---|---|---|---|---|")
    print(row("B alone", alone, None, base, args.seconds))
    print(row("A floods, A limited to 50/s", limited, limited_flood, base, args.seconds))
    print(row("A floods, no limit", unlimited, unlimited_flood, base, args.seconds))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--flooders", type=int, default=16, help="A's concurrent connections")
    parser.add_argument("--rate-b", type=float, default=20.0, help="B's requests per second")
    parser.add_argument(
        "--idle-tenants", type=int, default=0, help="more tenants in the file, sending nothing"
    )
    parser.add_argument(
        "--flood-rate", type=float, default=500.0, help="A's requests per second (0: unpaced)"
    )
    parser.add_argument(
        "--backfill",
        type=int,
        default=0,
        help="instead: A backfills this many events through a worker while B's live probes "
        "are timed to Redis (benchmarks/tenant_backfill.py)",
    )
    args = parser.parse_args()
    if args.backfill:
        asyncio.run(tenant_backfill.run(args))
    else:
        asyncio.run(run(args))


if __name__ == "__main__":
    main()
