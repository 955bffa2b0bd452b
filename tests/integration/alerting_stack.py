"""A real Prometheus and Alertmanager around a worker on a compressed clock, for the
end-to-end alert and board tests.

The worker and the simulator run on `TEAMPULSE_CLOCK=INSTANT*SPEED`: their 'now' runs SPEED
times faster than the wall clock. Prometheus evaluates rules on the wall clock, so the team
rules are loaded from a test-only copy generated from `deploy/prometheus/rules/` by
`scaled_rule_file`: every duration that stands for simulated time (`for:`, range windows,
subquery ranges and steps, `offset`) is divided by SPEED, everything else (expressions,
thresholds, labels, annotations) is the file as committed. The pipeline and recording rules
measure the pipeline on the wall clock and are loaded unchanged. Alertmanager runs
`deploy/alertmanager/alertmanager.yml` with its webhook URLs pointed at `WebhookReceiver` and
its group and repeat timers divided by SPEED too (at least a second): they stand for how long
L&D waits for a message, which passes in simulated time (`group_wait: 5m` of the
informational alerts would be 16 simulated hours). Prometheus finds its targets in a file
(`Prometheus.set_targets`), so a test can add a worker or take one away while it runs.
"""

from __future__ import annotations

import asyncio
import json
import math
import re
import shutil
import subprocess
import threading
import time
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import yaml
from aiohttp import web

from tests.integration.worker_harness import free_port, wait_for

REPO = Path(__file__).resolve().parents[2]
RULES = REPO / "deploy" / "prometheus" / "rules"
TEAM_RULES = RULES / "teampulse-alerts.yml"
ALERTMANAGER_CONFIG = REPO / "deploy" / "alertmanager" / "alertmanager.yml"
INTERVAL = "1s"  # scrape and rule evaluation

_UNITS_S = {"ms": 0.001, "s": 1, "m": 60, "h": 3600, "d": 86_400, "w": 604_800, "y": 31_536_000}
_DURATION = r"(?:\d+(?:ms|[smhdwy]))+"
_PART = re.compile(r"(\d+)(ms|[smhdwy])")
_RANGE = re.compile(rf"\[({_DURATION})(?::({_DURATION})?)?\]")
_OFFSET = re.compile(rf"\boffset\s+({_DURATION})")


def duration_seconds(text: str) -> float:
    return sum(int(n) * _UNITS_S[unit] for n, unit in _PART.findall(text))


def scaled(text: str, speed: float) -> str:
    """A Prometheus duration divided by `speed`, in whole milliseconds (at least 1)."""
    return f"{max(1, math.ceil(duration_seconds(text) * 1000 / speed))}ms"


def scaled_expr(expr: str, speed: float) -> str:
    def window(match: re.Match[str]) -> str:
        step = (
            f":{scaled(match.group(2), speed)}"
            if match.group(2)
            else (":" if ":" in match.group(0) else "")
        )
        return f"[{scaled(match.group(1), speed)}{step}]"

    expr = _RANGE.sub(window, expr)
    return _OFFSET.sub(lambda m: f"offset {scaled(m.group(1), speed)}", expr)


def scaled_timer(text: str, speed: float) -> str:
    """An Alertmanager timer divided by `speed`, at least a second."""
    return f"{max(1000, math.ceil(duration_seconds(text) * 1000 / speed))}ms"


def scaled_routes(route: dict[str, Any], speed: float) -> None:
    for timer in ("group_wait", "group_interval", "repeat_interval"):
        if timer in route:
            route[timer] = scaled_timer(route[timer], speed)
    for child in route.get("routes", []):
        scaled_routes(child, speed)


def scaled_rule_file(source: Path, speed: float) -> dict[str, Any]:
    """The rule file with its simulated-time durations divided by `speed`."""
    rules = yaml.safe_load(source.read_text(encoding="utf-8"))
    for group in rules["groups"]:
        group["interval"] = INTERVAL
        for rule in group["rules"]:
            rule["expr"] = scaled_expr(rule["expr"], speed)
            for duration in ("for", "keep_firing_for"):
                if duration in rule:
                    rule[duration] = scaled(rule[duration], speed)
    return rules


def binary(*names: str) -> str | None:
    return next((path for name in names if (path := shutil.which(name))), None)


class WebhookReceiver:
    """An aiohttp server on 127.0.0.1 collecting Alertmanager's webhook notifications."""

    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.notifications: list[tuple[str, dict[str, Any]]] = []  # (path, payload)
        self._lock = threading.Lock()
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._runner: web.AppRunner | None = None

    async def _handle(self, request: web.Request) -> web.Response:
        payload = await request.json()
        with self._lock:
            self.notifications.append((request.path, payload))
        return web.Response(text="ok")

    async def _start(self) -> None:
        app = web.Application()
        app.router.add_post("/{tail:.*}", self._handle)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    def start(self) -> WebhookReceiver:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._start(), self._loop).result(timeout=10)
        return self

    def received(self) -> list[tuple[str, dict[str, Any]]]:
        with self._lock:
            return list(self.notifications)

    def stop(self) -> None:
        if self._runner is not None:
            asyncio.run_coroutine_threadsafe(self._runner.cleanup(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)


class Alertmanager:
    def __init__(
        self,
        workdir: Path,
        receiver: WebhookReceiver,
        speed: float = 1.0,
        receiver_extras: dict[str, dict[str, Any]] | None = None,
    ) -> None:
        """`receiver_extras`: receiver name -> keys added to it (Slack, e-mail configs)."""
        path = binary("alertmanager", "prometheus-alertmanager")
        if path is None:
            raise RuntimeError("no alertmanager binary (Debian package prometheus-alertmanager)")
        config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text(encoding="utf-8"))
        for entry in config["receivers"]:  # the URLs change, and the timers at a speed
            for hook in entry.get("webhook_configs", []):
                hook["url"] = f"{receiver.url}/alerts/{entry['name']}"
        # the templates, relative to the shipped config, wherever the copy is written
        config["templates"] = [
            str(ALERTMANAGER_CONFIG.parent / pattern) for pattern in config.get("templates", [])
        ]
        for entry in config["receivers"]:
            extra = receiver_extras.get(entry["name"], {}) if receiver_extras else {}
            entry.update(extra)
        if speed != 1.0:
            scaled_routes(config["route"], speed)
        workdir.mkdir(parents=True, exist_ok=True)
        config_file = workdir / "alertmanager.yml"
        config_file.write_text(yaml.safe_dump(config), encoding="utf-8")
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "alertmanager.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                path,
                f"--config.file={config_file}",
                f"--storage.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
                "--cluster.listen-address=",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: _ready(self.url), 30, "Alertmanager to become ready")

    def stop(self) -> None:
        _stop(self.process)
        self.log.close()


class Prometheus:
    """Scrapes `targets` every second and evaluates the scaled team rules every second."""

    def __init__(
        self, workdir: Path, targets: list[str], alertmanager: Alertmanager, speed: float
    ) -> None:
        workdir.mkdir(parents=True, exist_ok=True)
        rules = workdir / "rules"
        rules.mkdir()
        for source in sorted(RULES.glob("*.yml")):
            if source == TEAM_RULES:
                text = yaml.safe_dump(scaled_rule_file(source, speed), width=10**6)
                (rules / source.name).write_text(text, encoding="utf-8")
            else:
                shutil.copy(source, rules / source.name)
        self.targets_file = workdir / "targets.json"
        self.set_targets(targets)
        config = {
            "global": {"scrape_interval": INTERVAL, "evaluation_interval": INTERVAL},
            "rule_files": [str(rules / "*.yml")],
            "alerting": {
                "alertmanagers": [
                    {"static_configs": [{"targets": [f"127.0.0.1:{alertmanager.port}"]}]}
                ]
            },
            "scrape_configs": [
                {
                    "job_name": "teampulse-worker",
                    "file_sd_configs": [
                        {"files": [str(self.targets_file)], "refresh_interval": INTERVAL}
                    ],
                }
            ],
        }
        config_file = workdir / "prometheus.yml"
        config_file.write_text(json.dumps(config), encoding="utf-8")  # JSON is YAML
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log = open(workdir / "prometheus.log", "ab")  # noqa: SIM115 - closed in stop()
        self.process = subprocess.Popen(
            [
                "prometheus",
                f"--config.file={config_file}",
                f"--storage.tsdb.path={workdir / 'data'}",
                f"--web.listen-address=127.0.0.1:{self.port}",
            ],
            stdout=self.log,
            stderr=subprocess.STDOUT,
        )
        wait_for(lambda: _ready(self.url), 30, "Prometheus to become ready")
        self.started = time.monotonic()

    def set_targets(self, targets: list[str]) -> None:
        """The workers Prometheus scrapes from now on (it rereads the file within a second)."""
        draft = self.targets_file.with_suffix(".draft")
        draft.write_text(json.dumps([{"targets": targets}]), encoding="utf-8")
        draft.replace(self.targets_file)

    def api(self, path: str, **params: str) -> Any:
        url = f"{self.url}/api/v1/{path}"
        if params:
            url += "?" + urllib.parse.urlencode(params)
        try:
            with urllib.request.urlopen(url, timeout=10) as response:
                body = json.load(response)
        except urllib.error.HTTPError as error:
            body = json.load(error)
        return body

    def query(self, promql: str) -> dict[str, Any]:
        """The whole API answer of an instant query (status, data or error)."""
        return self.api("query", query=promql)

    def firing(self) -> list[dict[str, str]]:
        """Label sets (with alertname) of the alerts firing now."""
        body = self.api("alerts")
        return [alert["labels"] for alert in body["data"]["alerts"] if alert["state"] == "firing"]

    def stop(self) -> None:
        _stop(self.process)
        self.log.close()


def _ready(url: str) -> bool:
    try:
        with urllib.request.urlopen(f"{url}/-/ready", timeout=2) as response:
            return response.status == 200
    except OSError:
        return False


def _stop(process: subprocess.Popen) -> None:
    process.terminate()
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)
