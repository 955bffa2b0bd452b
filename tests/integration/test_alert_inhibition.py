"""While the pipeline is unhealthy, the team alerts are held back: a real Alertmanager running
deploy/alertmanager/alertmanager.yml, alerts added with `amtool alert add`, and their state
read back with `amtool alert query --inhibited`.

The alerts are those of deploy/prometheus/rules/*.yml, labelled as their rules label them;
the intended inhibitions are written out below. Each test resolves what it fired (an alert
ending in the past), so the next one starts from a quiet Alertmanager.
"""

from __future__ import annotations

import datetime as dt
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from tests.integration.alerting_stack import Alertmanager, WebhookReceiver, binary

pytestmark = pytest.mark.integration

RULES = Path(__file__).resolve().parents[2] / "deploy" / "prometheus" / "rules"
LD = "learning-and-development"
# Pipeline alerts that mean events are missing or late, so every team's figures are too low.
PIPELINE_OUTAGES = (
    "WorkerDown",
    "SourceSilent",
    "PipelineEventTimeLagHigh",
    "ConsumerLagHigh",
    "DeadLetterRateHigh",
)
TEAM_LABELS = {"team": "sales-nova", "department": "sales", "division": "commercial"}


def _alert_labels() -> dict[str, dict[str, str]]:
    """alertname -> the labels an instance of it carries (rule labels, plus a team's)."""
    alerts = {}
    for path in sorted(RULES.glob("*.yml")):
        for group in yaml.safe_load(path.read_text(encoding="utf-8"))["groups"]:
            for rule in group["rules"]:
                if "alert" in rule:
                    extra = TEAM_LABELS if rule["labels"]["audience"] == LD else {}
                    alerts[rule["alert"]] = {"alertname": rule["alert"], **rule["labels"], **extra}
    return alerts


ALERTS = _alert_labels()
TEAM_ALERTS = sorted(name for name, labels in ALERTS.items() if labels["audience"] == LD)
PIPELINE_ALERTS = sorted(name for name, labels in ALERTS.items() if labels["audience"] != LD)


class Amtool:
    def __init__(self, alertmanager: Alertmanager) -> None:
        path = binary("amtool")
        if path is None:
            pytest.skip("needs amtool (Debian package prometheus-alertmanager)")
        self.path = path
        self.url = f"--alertmanager.url={alertmanager.url}"
        self.added: list[str] = []

    def _run(self, *args: str) -> str:
        result = subprocess.run(
            [self.path, *args, self.url], capture_output=True, text=True, timeout=30
        )
        assert result.returncode == 0, result.stdout + result.stderr
        return result.stdout

    def fire(self, alertname: str) -> None:
        self._run("alert", "add", *(f"{k}={v}" for k, v in ALERTS[alertname].items()))
        self.added.append(alertname)

    def resolve_all(self) -> None:
        past = (dt.datetime.now(dt.UTC) - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
        for alertname in self.added:
            labels = (f"{k}={v}" for k, v in ALERTS[alertname].items())
            self._run("alert", "add", *labels, f"--end={past}")
        self.added.clear()

    def state(self, alertname: str) -> str:
        """`active` or `suppressed` (inhibited), as Alertmanager reports it now."""
        query = self._run("alert", "query", "--active", "--inhibited", "-o", "json")
        states = {
            alert["labels"]["alertname"]: alert["status"]["state"] for alert in json.loads(query)
        }
        return states[alertname]


@pytest.fixture(scope="module")
def alertmanager(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Alertmanager]:
    if binary("alertmanager", "prometheus-alertmanager") is None:
        pytest.skip("needs the alertmanager binary (Debian package prometheus-alertmanager)")
    receiver = WebhookReceiver().start()
    manager = Alertmanager(tmp_path_factory.mktemp("inhibition"), receiver)
    try:
        yield manager
    finally:
        manager.stop()
        receiver.stop()


@pytest.fixture
def amtool(alertmanager: Alertmanager) -> Iterator[Amtool]:
    tool = Amtool(alertmanager)
    try:
        yield tool
    finally:
        tool.resolve_all()


def test_the_outages_named_here_are_alerts_of_the_rule_files() -> None:
    assert set(PIPELINE_OUTAGES) <= set(PIPELINE_ALERTS)
    assert TEAM_ALERTS == ["AdoptionStalled", "TeamEngagementDropped", "TeamParticipationLow"]


@pytest.mark.parametrize("team_alert", TEAM_ALERTS)
def test_a_team_alert_alone_is_delivered(amtool: Amtool, team_alert: str) -> None:
    amtool.fire(team_alert)

    assert amtool.state(team_alert) == "active"


@pytest.mark.parametrize("outage", PIPELINE_OUTAGES)
@pytest.mark.parametrize("team_alert", TEAM_ALERTS)
def test_a_pipeline_outage_holds_back_the_team_alerts(
    amtool: Amtool, outage: str, team_alert: str
) -> None:
    amtool.fire(outage)
    amtool.fire(team_alert)

    assert amtool.state(team_alert) == "suppressed"


@pytest.mark.parametrize("team_alert", TEAM_ALERTS)
def test_failing_redis_writes_do_not_hold_back_the_team_alerts(
    amtool: Amtool, team_alert: str
) -> None:
    # The Prometheus gauges do not go through Redis: the team alerts are still right.
    amtool.fire("RedisWritesFailing")
    amtool.fire(team_alert)

    assert amtool.state(team_alert) == "active"


def test_a_team_alert_holds_back_no_pipeline_alert(amtool: Amtool) -> None:
    amtool.fire("TeamEngagementDropped")
    amtool.fire("SourceSilent")

    assert amtool.state("SourceSilent") == "active"


@pytest.mark.parametrize(
    "caused", ["SourceSilent", "PipelineEventTimeLagHigh", "ConsumerLagHigh", "RedisWritesFailing"]
)
def test_a_dead_worker_holds_back_the_pipeline_alerts_it_causes(
    amtool: Amtool, caused: str
) -> None:
    amtool.fire("WorkerDown")
    amtool.fire(caused)

    assert amtool.state(caused) == "suppressed"
