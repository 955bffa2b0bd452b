"""The collector scraped by a real Prometheus server: series appear with their labels and
values, a team that stops being published goes stale at once, and when a team moves from
one worker to another it is exported by exactly one of them.

Each test runs its own Prometheus (the `prometheus` binary, 1 s scrape interval, throwaway
storage) against collectors served over HTTP on free ports, by the collector's own
`metrics_page` (what the worker serves) or by prometheus_client's `generate_latest`.
"""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, start_http_server

from teampulse.gauges.model import InitiativeSnapshot, ScopeSnapshot
from teampulse.settings import Settings
from teampulse.sinks.prometheus import GaugeCollector
from teampulse.streams.health import PipelineHealth

pytestmark = pytest.mark.integration

AS_OF = 1772452800.0
SCRAPE_INTERVAL_S = 1


def team(name: str, members: float) -> ScopeSnapshot:
    return ScopeSnapshot(
        "team",
        name,
        AS_OF,
        windowed={"7d": {"engagement_score": 0.5}},
        plain={"members": members},
        initiatives={
            "digital-workplace": InitiativeSnapshot(
                {
                    "none": 3,
                    "awareness": 1,
                    "desire": 0,
                    "knowledge": 0,
                    "ability": 1,
                    "reinforcement": 0,
                },
                members=5,
                ratio=0.2,
                index=0.3,
            )
        },
        info={"department": "eng", "division": "tech"},
    )


class Worker:
    """What a worker's /metrics serves: the gauge collector and pipeline health, rendered
    by prometheus_client's generate_latest or by the collector's cached-text page."""

    def __init__(self, page: str = "metrics_page") -> None:
        self.registry = CollectorRegistry()
        self.collector = GaugeCollector(Settings(), self.registry)
        self.health = PipelineHealth(self.registry)
        if page == "generate_latest":
            self.server, _thread = start_http_server(0, addr="127.0.0.1", registry=self.registry)
        else:
            self.server = _serve(lambda: self.collector.metrics_page(self.registry))
        self.target = f"127.0.0.1:{self.server.server_port}"

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class Prometheus:
    def __init__(self, workdir: Path, targets: list[str]) -> None:
        config = workdir / "prometheus.yml"
        config.write_text(
            json.dumps(
                {  # JSON is YAML
                    "global": {"scrape_interval": f"{SCRAPE_INTERVAL_S}s"},
                    "scrape_configs": [
                        {"job_name": "teampulse-worker", "static_configs": [{"targets": targets}]}
                    ],
                }
            )
        )
        self.port = _free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: self._ready(), 20, "Prometheus did not become ready")

    def _ready(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/-/ready", timeout=1) as response:
                return response.status == 200
        except OSError:
            return False

    def query(self, promql: str) -> dict[tuple[tuple[str, str], ...], float]:
        """Instant query -> {sorted labels without job/instance: value}."""
        url = f"{self.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
        with urllib.request.urlopen(url, timeout=5) as response:
            body = json.load(response)
        assert body["status"] == "success", body
        return {
            tuple(
                sorted((k, v) for k, v in r["metric"].items() if k not in ("job", "instance"))
            ): float(r["value"][1])
            for r in body["data"]["result"]
        }

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


def _serve(body: Callable[[], bytes]) -> ThreadingHTTPServer:
    class Metrics(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802 (the http.server API)
            payload = body()
            self.send_response(200)
            self.send_header("Content-Type", CONTENT_TYPE_LATEST)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Metrics)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def wait_for(condition: Callable[[], bool], seconds: float, message: str) -> float:
    started = time.monotonic()
    while not condition():
        if time.monotonic() - started > seconds:
            raise AssertionError(message)
        time.sleep(0.1)
    return time.monotonic() - started


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Callable[[int], tuple[list[Worker], Prometheus]]]:
    if shutil.which("prometheus") is None:
        pytest.skip("needs the prometheus binary on PATH (deploy/stack/up.sh installs it)")
    made: list[Worker | Prometheus] = []

    def make(workers: int, page: str = "metrics_page") -> tuple[list[Worker], Prometheus]:
        serving = [Worker(page) for _ in range(workers)]
        made.extend(serving)
        prometheus = Prometheus(tmp_path, [w.target for w in serving])
        made.append(prometheus)
        return serving, prometheus

    yield make
    for thing in reversed(made):
        thing.close()


@pytest.mark.parametrize("page", ["metrics_page", "generate_latest"])
def test_prometheus_scrapes_the_gauges_and_a_team_no_longer_published_goes_stale(stack, page):
    (worker,), prometheus = stack(1, page)
    worker.collector.publish_teams({"alpha": team("alpha", 7), "beta": team("beta", 5)})
    worker.health.record_outcomes("lms", Counter(accepted=4, rejected=1))

    wait_for(
        lambda: len(prometheus.query("teampulse_team_members")) == 2,
        15,
        "Prometheus never scraped both teams",
    )
    assert prometheus.query("teampulse_team_members") == {
        (("__name__", "teampulse_team_members"), ("team", "alpha")): 7.0,
        (("__name__", "teampulse_team_members"), ("team", "beta")): 5.0,
    }
    assert prometheus.query('teampulse_adoption_members{stage="none"}') == {
        (
            ("__name__", "teampulse_adoption_members"),
            ("initiative", "digital-workplace"),
            ("stage", "none"),
            ("team", t),
        ): 3.0
        for t in ("alpha", "beta")
    }
    accepted = (("__name__", "teampulse_events_total"), ("outcome", "accepted"), ("source", "lms"))
    assert prometheus.query("teampulse_events_total")[accepted] == 4.0

    worker.collector.publish_teams({"beta": team("beta", 5)})  # alpha moved away

    # The scrape without alpha writes a staleness marker: alpha is gone from instant
    # queries within a scrape or two, not after the 5-minute lookback.
    gone_after = wait_for(
        lambda: {dict(k)["team"] for k in prometheus.query("teampulse_team_members")} == {"beta"},
        5 * SCRAPE_INTERVAL_S,
        "alpha was still exported after it stopped being published",
    )
    assert gone_after < 5 * SCRAPE_INTERVAL_S


def test_a_team_that_moves_between_workers_is_exported_by_exactly_one(stack):
    (first, second), prometheus = stack(2)
    first.collector.publish_teams({"alpha": team("alpha", 7), "beta": team("beta", 5)})
    second.collector.publish_teams({"gamma": team("gamma", 6)})
    series_per_team = "count by (team) (teampulse_team_members)"
    wait_for(
        lambda: len(prometheus.query(series_per_team)) == 3,
        15,
        "Prometheus never scraped both workers",
    )
    assert set(prometheus.query(series_per_team).values()) == {1.0}

    # Rebalance: alpha's partition moves to the second worker. Both publish at their next
    # export tick; Prometheus sees them one scrape apart at most.
    second.collector.publish_teams({"alpha": team("alpha", 7), "gamma": team("gamma", 6)})
    first.collector.publish_teams({"beta": team("beta", 5)})

    def alpha_only_on_second() -> bool:
        instances = prometheus.query('teampulse_team_members{team="alpha"}')
        return len(instances) == 1

    wait_for(alpha_only_on_second, 5 * SCRAPE_INTERVAL_S, "alpha never settled on one worker")
    time.sleep(2 * SCRAPE_INTERVAL_S)  # and it stays that way over later scrapes
    assert prometheus.query(series_per_team) == {
        (("team", "alpha"),): 1.0,
        (("team", "beta"),): 1.0,
        (("team", "gamma"),): 1.0,
    }
    owner = _instances(prometheus, 'teampulse_team_members{team="alpha"}')
    assert owner == {second.target}


def _instances(prometheus: Prometheus, promql: str) -> set[str]:
    url = f"{prometheus.url}/api/v1/query?" + urllib.parse.urlencode({"query": promql})
    with urllib.request.urlopen(url, timeout=5) as response:
        return {r["metric"]["instance"] for r in json.load(response)["data"]["result"]}
