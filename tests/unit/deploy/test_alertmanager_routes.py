"""Every alert of deploy/prometheus/rules/*.yml, with the severity it carries, reaches the
receivers it is meant for, grouped and repeated as intended, by Alertmanager's own routing
(`amtool config routes test --tree` on deploy/alertmanager/alertmanager.yml).

The cases are generated from the rule files, so a new alert, or a changed severity or
audience, is routed here without a test edit; the intended delivery is written out below per
audience and severity.
"""

from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy.promql_names import stack_tool

REPO_ROOT = Path(__file__).resolve().parents[3]
RULE_FILES = sorted((REPO_ROOT / "deploy" / "prometheus" / "rules").glob("*.yml"))
ALERTMANAGER_CONFIG = REPO_ROOT / "deploy" / "alertmanager" / "alertmanager.yml"

LD = "learning-and-development"
OPS = "operations"
# one message per department's L&D partner, per tenant (two tenants may name one alike)
TEAM_GROUPING = ("alertname", "tenant", "department")
OPS_GROUPING = ("alertname", "source", "reason", "topic", "instance")


@dataclass(frozen=True)
class Delivery:
    receiver: str
    group_by: tuple[str, ...]
    repeat_interval: str


# (audience, severity) -> where the alert goes, in routing order.
EXPECTED: dict[tuple[str, str], list[Delivery]] = {
    (LD, "info"): [Delivery(LD, TEAM_GROUPING, "24h")],
    (LD, "warning"): [Delivery(LD, TEAM_GROUPING, "4h")],
    (LD, "critical"): [Delivery(LD, TEAM_GROUPING, "1h")],
    (OPS, "info"): [Delivery(OPS, OPS_GROUPING, "1h"), Delivery(LD, TEAM_GROUPING, "24h")],
    # L&D hears of a pipeline warning once per alert name, not once per source.
    (OPS, "warning"): [Delivery(OPS, OPS_GROUPING, "1h"), Delivery(LD, ("alertname",), "4h")],
    (OPS, "critical"): [Delivery(OPS, OPS_GROUPING, "1h"), Delivery(LD, TEAM_GROUPING, "1h")],
}


@dataclass(frozen=True)
class Case:
    alert: str
    labels: dict[str, str]

    @property
    def key(self) -> tuple[str, str]:
        return (self.labels["audience"], self.labels["severity"])


def routing_cases() -> list[Case]:
    cases = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            for rule in group["rules"]:
                if "alert" not in rule:
                    continue
                # What the alert's expression adds for a team alert: its team and org path.
                extra = (
                    {"team": "sales-nova", "department": "sales", "division": "commercial"}
                    if rule["labels"]["audience"] == LD
                    else {}
                )
                labels = {"alertname": rule["alert"], **extra, **rule["labels"]}
                cases.append(Case(rule["alert"], labels))
    return cases


CASES = routing_cases()


@pytest.fixture(scope="module")
def amtool() -> str:
    return stack_tool("amtool", "alertmanager", "prometheus-alertmanager")


def matched_routes(amtool: str, labels: dict[str, str]) -> list[tuple[str, str]]:
    """(matchers as amtool prints them, receiver) of each route the labels end on."""
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={ALERTMANAGER_CONFIG}", "--tree",
         *(f"{name}={value}" for name, value in labels.items())],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    leaves = re.findall(r"[├└]── (\{.*\}|default-route)\s+receiver: (\S+)", result.stdout)
    assert leaves, result.stdout
    return leaves


def delivery_of(config: dict[str, Any], matchers: str, receiver: str) -> Delivery:
    """The route of the config that amtool names, with what it inherits from the root."""
    root = config["route"]
    if matchers == "default-route":
        route = root
    else:
        (route,) = [
            r
            for r in root.get("routes", [])
            if "{" + ",".join(r.get("matchers", [])) + "}" == matchers.replace(", ", ",")
            and r["receiver"] == receiver
        ]
    return Delivery(
        receiver,
        tuple(route.get("group_by", root["group_by"])),
        route.get("repeat_interval", root["repeat_interval"]),
    )


def test_every_alert_of_the_rule_files_has_a_routing_case() -> None:
    assert CASES
    assert all(case.key in EXPECTED for case in CASES), [c.key for c in CASES]


@pytest.mark.parametrize(
    "case", CASES, ids=lambda c: f"{c.alert}-{c.labels['severity']}-{c.labels['audience']}"
)
def test_alert_reaches_its_receivers_grouped_and_repeated_as_intended(
    amtool: str, case: Case
) -> None:
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    routes = matched_routes(amtool, case.labels)
    assert [delivery_of(config, m, r) for m, r in routes] == EXPECTED[case.key]


def test_every_audience_and_severity_is_routed_as_intended(amtool: str) -> None:
    # The severities no rule uses today are routed as intended too, for the day one does.
    config = yaml.safe_load(ALERTMANAGER_CONFIG.read_text())
    for (audience, severity), expected in EXPECTED.items():
        labels = {"alertname": "AnyAlert", "severity": severity, "audience": audience}
        routes = matched_routes(amtool, labels)
        assert [delivery_of(config, m, r) for m, r in routes] == expected, (audience, severity)
