"""Simulated behaviour -> worker -> a real Prometheus evaluating the project's rule files ->
a real Alertmanager with the project's routing -> the L&D webhook.

The scenarios run in compressed time (scenario_run.SPEED: a simulated hour in 1.8 s); the
team rules are the committed file with its simulated-time durations divided by SPEED
(alerting_stack.scaled_rule_file), so `for: 2h` holds for 2 simulated hours. Days are counted
from the scenario's start: the history is days 0-35, the drop in `team-drops` is at day 36,
which the run places on a Tuesday at about 01:00 UTC (scenario_run.start_scenario).

`adoption-stalls` runs with a second worker target that is down from the start: its
WorkerDown is a pipeline outage while AdoptionStalled fires, and L&D must hear of the
outage, not of the stall; once the down target is taken away, the stall comes through.
"""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass

import pytest

from teampulse.simulation.scenarios import SCENARIOS, TEAM_ALERTS
from tests.integration.scenario_run import LabelSet, ScenarioRun, start_scenario

pytestmark = pytest.mark.integration

DROPPED = "sales-nova"
DROP_DAY = 36
# The signal's target: an alert within one simulated day of the drop (benchmarks/signal.py);
# the drop is the moment the simulator logged sending day 36, to within a simulated hour.
WITHIN_DAYS = 1 + 1 / 24
STEADY_UNTIL_DAY = 37.5  # two and a half simulated days of live steady behaviour
LD_RECEIVER = "/alerts/learning-and-development"
OPS_RECEIVER = "/alerts/operations"
STALLED = "data-literacy"
# After AdoptionStalled fires, longer than Alertmanager's scaled group_wait and
# group_interval (1 s each) take to send what is not inhibited.
HELD_BACK_FOR_S = 8


def _notified(run: ScenarioRun, receiver: str, alertname: str) -> list[dict]:
    """The alerts of the firing notifications of `alertname` that reached `receiver`."""
    return [
        alert
        for path, payload in run.receiver.received()
        if path == receiver and payload["status"] == "firing"
        for alert in payload["alerts"]
        if alert["labels"]["alertname"] == alertname and alert["status"] == "firing"
    ]


@dataclass
class StallRun:
    """What the adoption-stalls run recorded; its processes are stopped by then."""

    seen: dict[LabelSet, float]  # alert label set -> simulated day first seen firing
    held_back: list[tuple[str, dict]]  # what the receiver got while the worker was down
    received: list[tuple[str, dict]]  # everything the receiver got
    down_target: str | None

    def fired(self, alertname: str) -> bool:
        return any(dict(labels)["alertname"] == alertname for labels in self.seen)


@pytest.fixture(scope="module")
def stall(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, redis_url: str
) -> StallRun:
    """adoption-stalls until AdoptionStalled fired while WorkerDown did, then without the
    down worker until the stall reached L&D (or the bounds passed). Its tests come first in
    this module and the run stops before the next starts: the team-drops run must still be in
    its live days when test_board_queries.py reads it."""
    if shutil.which("prometheus") is None:
        pytest.skip("needs the prometheus binary on PATH (deploy/stack/up.sh installs it)")
    root = tmp_path_factory.mktemp("adoption-stalls")
    run = start_scenario(
        "adoption-stalls", root, kafka_bootstrap, redis_url, second_worker_down=True
    )
    try:
        stalled_since: list[float] = []

        def stalled_a_while(run: ScenarioRun) -> bool:
            if not stalled_since and run.fired("AdoptionStalled"):
                stalled_since.append(time.monotonic())
            return bool(stalled_since) and time.monotonic() - stalled_since[0] > HELD_BACK_FOR_S

        run.watch(stalled_a_while, timeout_s=240)
        held_back = run.receiver.received()
        run.prometheus.set_targets([run.live_target])
        run.watch(lambda run: bool(_notified(run, LD_RECEIVER, "AdoptionStalled")), timeout_s=120)
        return StallRun(dict(run.seen), held_back, run.receiver.received(), run.down_target)
    finally:
        run.stop()


def test_adoption_stalls_fires_adoption_stalled_for_that_initiative_only(stall: StallRun) -> None:
    # The run's WorkerDown is the test's own doing (the down target), not the scenario's.
    alerts = [alert for alert in map(dict, stall.seen) if alert["alertname"] != "WorkerDown"]

    assert SCENARIOS["adoption-stalls"].check(alerts) == [], stall.seen


def test_a_down_worker_holds_back_the_team_alerts_from_learning_and_development(
    stall: StallRun,
) -> None:
    to_ld = [
        alert["labels"]["alertname"]
        for path, payload in stall.held_back
        if path == LD_RECEIVER
        for alert in payload["alerts"]
    ]

    assert stall.fired("AdoptionStalled")  # firing in Prometheus meanwhile
    assert "WorkerDown" in to_ld  # L&D heard of the outage ...
    assert not set(to_ld) & set(TEAM_ALERTS), to_ld  # ... and of no team alert


def test_the_down_worker_reaches_operations(stall: StallRun) -> None:
    down = {
        alert["labels"].get("instance")
        for path, payload in stall.held_back
        if path == OPS_RECEIVER
        for alert in payload["alerts"]
        if alert["labels"]["alertname"] == "WorkerDown"
    }

    assert down == {stall.down_target}


def test_once_the_worker_is_back_the_stall_reaches_learning_and_development_by_department(
    stall: StallRun,
) -> None:
    notifications = [
        payload
        for path, payload in stall.received
        if path == LD_RECEIVER and payload["groupLabels"].get("alertname") == "AdoptionStalled"
    ]

    assert notifications, stall.received
    assert {tuple(sorted(p["groupLabels"])) for p in notifications} == {("alertname", "department")}
    alerts = [alert for payload in notifications for alert in payload["alerts"]]
    assert {alert["labels"]["initiative"] for alert in alerts} == {STALLED}
    assert {alert["labels"]["severity"] for alert in alerts} == {"info"}


def _dropped_alert_notified(run: ScenarioRun) -> bool:
    return any(
        path == LD_RECEIVER
        and payload["groupLabels"].get("alertname") == "TeamEngagementDropped"
        and payload["status"] == "firing"
        for path, payload in run.receiver.received()
    )


@pytest.fixture(scope="module")
def dropped(team_drops_run: ScenarioRun) -> ScenarioRun:
    """team-drops, watched until its alert reached the L&D webhook (or the bound passed)."""
    team_drops_run.watch(
        lambda run: _dropped_alert_notified(run) or run.simulated_day() > DROP_DAY + 3,
        timeout_s=400,
    )
    return team_drops_run


def test_team_drops_fires_engagement_dropped_for_that_team_within_a_simulated_day(
    dropped: ScenarioRun,
) -> None:
    fired = {alert["team"]: day for labels, day in dropped.seen.items()
             if (alert := dict(labels))["alertname"] == "TeamEngagementDropped"}  # fmt: skip
    assert DROPPED in fired, dropped.worker.log_tail()
    dropped_at = dropped.days_sent[DROP_DAY]
    assert dropped_at <= fired[DROPPED] <= dropped_at + WITHIN_DAYS


def test_team_drops_fires_no_other_team_alert(dropped: ScenarioRun) -> None:
    alerts = [dict(labels) for labels in dropped.seen]

    assert SCENARIOS["team-drops"].check(alerts) == [], dropped.seen


def test_the_drop_reaches_learning_and_development_grouped_by_alert_and_department(
    dropped: ScenarioRun,
) -> None:
    notifications = [
        payload
        for path, payload in dropped.receiver.received()
        if path == LD_RECEIVER
        and payload["groupLabels"].get("alertname") == "TeamEngagementDropped"
    ]

    assert notifications, dropped.receiver.received()
    first = notifications[0]
    assert first["receiver"] == "learning-and-development"
    assert first["groupLabels"] == {"alertname": "TeamEngagementDropped", "department": "sales"}
    assert {alert["labels"]["team"] for alert in first["alerts"]} == {DROPPED}
    alert = first["alerts"][0]
    assert alert["labels"]["severity"] == "warning"
    assert alert["annotations"]["runbook"] == "docs/operations.md#teamengagementdropped"


def test_the_team_alert_does_not_reach_operations(dropped: ScenarioRun) -> None:
    operations = [
        payload for path, payload in dropped.receiver.received() if path == "/alerts/operations"
    ]

    assert not any(
        alert["labels"]["alertname"] in TEAM_ALERTS
        for payload in operations
        for alert in payload["alerts"]
    )


def test_steady_fires_none_of_the_team_alerts(steady_run: ScenarioRun) -> None:
    steady_run.watch(lambda run: run.simulated_day() > STEADY_UNTIL_DAY, timeout_s=400)

    team_alerts = [dict(labels) for labels in steady_run.seen
                   if dict(labels)["alertname"] in TEAM_ALERTS]  # fmt: skip
    assert steady_run.simulated_day() > STEADY_UNTIL_DAY
    assert team_alerts == []
