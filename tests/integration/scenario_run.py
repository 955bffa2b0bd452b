"""One simulator scenario on the real stack, in compressed time, watched through Prometheus.

Kafka and Redis are the stack's; the worker, Prometheus (scaled team rules, see
alerting_stack), Alertmanager and the webhook receiver are started for the run. The worker
and `teampulse simulate --scenario NAME` share `TEAMPULSE_CLOCK=INSTANT*SPEED`. The 35 days
of history arrive as a backfill at once; Prometheus starts scraping once the worker has caught
up with it, as monitoring would watch a deployment from its first live day (a backfill's own
transient values are not what the alerts are for, and docs/operations.md says backfills raise
the lag alerts). From then on, every second, the firing alerts are recorded.

With `second_worker_down`, Prometheus starts with the history instead, scraping a second
worker target where nothing listens: WorkerDown (`for: 2m` of wall time) is pending while
the history is taken in and fires about when the live days begin, and the live worker joins
the targets once it has caught up (`ScenarioRun.down_target`; `Prometheus.set_targets`
takes it away again).
"""

from __future__ import annotations

import datetime as dt
import math
import os
import re
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from tests.integration.alerting_stack import Alertmanager, Prometheus, WebhookReceiver
from tests.integration.worker_harness import (
    REPO,
    WorkerProcess,
    free_port,
    isolated_environment,
    wait_for,
)

_DAY_LOGGED = re.compile(r"day (\d+) of ")  # run_scenario's progress line
SPEED = 2016  # a simulated week in five minutes, a simulated hour in 1.8 s
HISTORY_TIMEOUT_S = 180
WORKER_DOWN_TIMEOUT_S = 180  # its `for: 2m` runs on the wall clock from Prometheus's start
LabelSet = tuple[tuple[str, str], ...]


@dataclass
class ScenarioRun:
    name: str
    root: Path
    worker: WorkerProcess
    simulator: subprocess.Popen
    receiver: WebhookReceiver
    alertmanager: Alertmanager
    prometheus: Prometheus
    instant: float  # of TEAMPULSE_CLOCK
    started_wall: float  # wall time the run started: its simulated 'now' was day 35
    # alert label set (with alertname) -> simulated day it was first seen firing
    seen: dict[LabelSet, float] = field(default_factory=dict)
    # scenario day N -> simulated day (on this run's count) the simulator logged reaching it
    days_sent: dict[int, float] = field(default_factory=dict)
    live_target: str = ""  # host:port of the worker's /metrics
    down_target: str | None = None  # a second worker target that does not answer

    def simulated_day(self) -> float:
        """Days since the scenario's start (the history begins at day 0, 'now' is day 35),
        counted from the run's start: the simulator's own start is a second or two (a
        simulated hour) later, so script times are read from its log (`days_sent`)."""
        start = self.instant + (self.started_wall - self.instant) * SPEED
        return 35 + (simulated_now(self.instant) - start) / 86_400

    def watch(self, until: Callable[[ScenarioRun], bool], timeout_s: float) -> bool:
        """Record the firing alerts every second until `until(self)` or the timeout."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            day = self.simulated_day()
            for labels in self.prometheus.firing():
                self.seen.setdefault(tuple(sorted(labels.items())), day)
            log = (self.root / "simulate.log").read_text(errors="replace")
            for number in _DAY_LOGGED.findall(log):
                self.days_sent.setdefault(int(number), day)
            if until(self):
                return True
            assert self.worker.alive(), self.worker.log_tail()
            time.sleep(1)
        return False

    def fired(self, alertname: str) -> list[dict[str, str]]:
        return [dict(labels) for labels in self.seen if dict(labels)["alertname"] == alertname]

    def stop(self) -> None:
        if self.simulator.poll() is None:
            self.simulator.terminate()
            self.simulator.wait(timeout=15)
        self.prometheus.stop()
        self.alertmanager.stop()
        self.receiver.stop()
        self.worker.stop()


def last_monday(t: float) -> float:
    """00:00 UTC of the Monday at or before `t`."""
    day = math.floor(t / 86_400)
    return (day - (day + 3) % 7) * 86_400  # 1970-01-01 was a Thursday


def start_scenario(
    name: str, root: Path, kafka: str, redis_url: str, second_worker_down: bool = False
) -> ScenarioRun:
    """Start the run with the simulated 'now' at the last Monday 00:00 UTC, so that the
    scripted day 36 begins on a Tuesday at about 01:00 whatever the wall clock says: the
    drop benchmarks/signal.py measures at 18 hours (other times of day: 9-26 hours)."""
    root.mkdir(parents=True, exist_ok=True)
    wall = time.time()
    # now(w) = I + (w - I) x SPEED; now(wall) = Monday 00:00 needs I a little ahead of `wall`.
    instant = float(math.ceil(wall + (wall - last_monday(wall)) / (SPEED - 1)))
    clock = dt.datetime.fromtimestamp(instant, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    env = isolated_environment(
        name.replace("-", ""),
        kafka_bootstrap=kafka,
        redis_url=redis_url,
        clock=f"{clock}*{SPEED}",
        data_dir=str(root / "worker-data"),
    )
    # Both processes read the same 'now' from the setting. The simulator starts first (its
    # history starts 35 days before its first 'now', a second or two after `wall`).
    simulator = subprocess.Popen(
        [sys.executable, "-m", "teampulse.cli", "simulate", "--scenario", name],
        env={**os.environ, **env},
        stdout=open(root / "simulate.log", "ab"),  # noqa: SIM115 - the child owns it
        stderr=subprocess.STDOUT,
        cwd=REPO,
    )
    worker = WorkerProcess(env, root / "worker.log", free_port()).start()
    receiver: WebhookReceiver | None = None
    alertmanager: Alertmanager | None = None
    prometheus: Prometheus | None = None
    down_target = f"127.0.0.1:{free_port()}" if second_worker_down else None
    if down_target is not None:
        receiver = WebhookReceiver().start()
        alertmanager = Alertmanager(root / "alertmanager", receiver, SPEED)
        prometheus = Prometheus(root / "prometheus", [down_target], alertmanager, SPEED)

    def caught_up() -> bool:
        """Every input and internal topic drained, and events of the last hours counted."""
        samples = worker.metrics()
        lags = [v for (metric, _), v in samples.items() if metric == "teampulse_consumer_lag"]
        newest = [
            v
            for (metric, _), v in samples.items()
            if metric == "teampulse_last_event_timestamp_seconds"
        ]
        now = simulated_now(instant)
        return bool(lags and newest) and max(lags) == 0 and max(newest) >= now - 6 * 3600

    def settled() -> bool:  # drained on three reads in a row (the lag is sampled)
        for _ in range(3):
            if not caught_up():
                return False
            time.sleep(1)
        return True

    try:
        wait_for(worker.metrics_text, 90, "the worker's /metrics")
        wait_for(settled, HISTORY_TIMEOUT_S, f"the worker to take in the {name} history", 1)
        if prometheus is not None:  # the live worker joins once the down one is alerted on
            watched = prometheus
            wait_for(lambda: _worker_down(watched), WORKER_DOWN_TIMEOUT_S, "WorkerDown", 1)
    except BaseException:
        if prometheus is not None:
            prometheus.stop()
        if alertmanager is not None:
            alertmanager.stop()
        if receiver is not None:
            receiver.stop()
        raise
    target = f"127.0.0.1:{worker.web_port}"
    if prometheus is None or receiver is None or alertmanager is None:
        receiver = WebhookReceiver().start()
        alertmanager = Alertmanager(root / "alertmanager", receiver, SPEED)
        prometheus = Prometheus(root / "prometheus", [target], alertmanager, SPEED)
    else:
        prometheus.set_targets([str(down_target), target])
    return ScenarioRun(
        name, root, worker, simulator, receiver, alertmanager, prometheus, instant, wall,
        live_target=target, down_target=down_target,
    )  # fmt: skip


def _worker_down(prometheus: Prometheus) -> bool:
    return any(alert["alertname"] == "WorkerDown" for alert in prometheus.firing())


def simulated_now(instant: float) -> float:
    """The compressed clock of TEAMPULSE_CLOCK=INSTANT*SPEED (teampulse.settings)."""
    return instant + (time.time() - instant) * SPEED
