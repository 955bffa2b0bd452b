"""The Prometheus rules are valid, pass their promtool unit tests, and every alert carries
what Alertmanager routes on and what a person needs to act on it; the Alertmanager config
is valid (test_alertmanager_routes.py tests how it routes each alert)."""

from __future__ import annotations

import re
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.unit.deploy.promql_names import stack_tool, unknown_references

REPO_ROOT = Path(__file__).resolve().parents[3]
RULES_DIR = REPO_ROOT / "deploy" / "prometheus" / "rules"
PROMTOOL_TESTS_DIR = REPO_ROOT / "tests" / "promtool"
OPERATIONS_DOC = REPO_ROOT / "docs" / "operations.md"
ALERTMANAGER_CONFIG = REPO_ROOT / "deploy" / "alertmanager" / "alertmanager.yml"

RULE_FILES = sorted(RULES_DIR.glob("*.yml"))
PROMTOOL_TESTS = sorted(PROMTOOL_TESTS_DIR.glob("*.yml"))
SEVERITIES = {"info", "warning", "critical"}
AUDIENCES = {"learning-and-development", "operations"}
EXPECTED_ALERTS = {
    "TeamEngagementDropped",
    "TeamParticipationLow",
    "AdoptionStalled",
    "SourceSilent",
    "PipelineEventTimeLagHigh",
    "ConsumerLagHigh",
    "DeadLetterRateHigh",
    "WorkerDown",
    "RedisWritesFailing",
}


@pytest.fixture(scope="module")
def promtool() -> str:
    return stack_tool("promtool", "prometheus", "prometheus")


@pytest.fixture(scope="module")
def amtool() -> str:
    return stack_tool("amtool", "alertmanager", "prometheus-alertmanager")


def alert_rules() -> list[dict[str, Any]]:
    rules = []
    for path in RULE_FILES:
        for group in yaml.safe_load(path.read_text())["groups"]:
            rules += [rule for rule in group["rules"] if "alert" in rule]
    return rules


def test_there_are_rule_files_and_promtool_tests() -> None:
    assert [p.name for p in RULE_FILES] == [
        "teampulse-alerts.yml",
        "teampulse-pipeline-alerts.yml",
        "teampulse-recording.yml",
    ]
    assert [p.name for p in PROMTOOL_TESTS] == [
        "long-horizon-alerts.test.yml",
        "pipeline-alerts.test.yml",
        "rollups.test.yml",
        "team-alerts.test.yml",
    ]


def test_promtool_accepts_every_rule_file(promtool: str) -> None:
    result = subprocess.run(
        [promtool, "check", "rules", *map(str, RULE_FILES)],
        capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("test_file", PROMTOOL_TESTS, ids=lambda p: p.name)
def test_promtool_unit_tests_pass(promtool: str, test_file: Path) -> None:
    result = subprocess.run(
        [promtool, "test", "rules", str(test_file)],
        capture_output=True, text=True, timeout=600, cwd=REPO_ROOT,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "SUCCESS" in result.stdout


def all_rules() -> list[dict[str, Any]]:
    return [
        rule
        for path in RULE_FILES
        for group in yaml.safe_load(path.read_text())["groups"]
        for rule in group["rules"]
    ]


def test_rules_ask_only_for_series_and_labels_the_worker_exports() -> None:
    problems = [
        f"{rule.get('alert') or rule.get('record')}: {problem}"
        for rule in all_rules()
        for problem in unknown_references(rule["expr"])
    ]
    assert problems == []


def test_every_expected_alert_exists_once() -> None:
    names = [rule["alert"] for rule in alert_rules()]
    assert sorted(names) == sorted(EXPECTED_ALERTS)


def test_every_alert_is_tested_by_promtool() -> None:
    tested = set()
    for path in PROMTOOL_TESTS:
        for test in yaml.safe_load(path.read_text())["tests"]:
            tested |= {case["alertname"] for case in test.get("alert_rule_test", [])}
    assert tested == EXPECTED_ALERTS


@pytest.mark.parametrize("rule", alert_rules(), ids=lambda rule: rule["alert"])
def test_every_alert_has_severity_audience_and_explanations(rule: dict[str, Any]) -> None:
    assert rule["labels"]["severity"] in SEVERITIES
    assert rule["labels"]["audience"] in AUDIENCES
    assert set(rule["annotations"]) == {"summary", "description", "runbook"}
    assert rule["annotations"]["runbook"] == f"docs/operations.md#{rule['alert'].lower()}"


def test_every_runbook_has_its_section_in_the_operations_doc() -> None:
    headings = re.findall(r"^#+ (\S+)\s*$", OPERATIONS_DOC.read_text(), flags=re.MULTILINE)
    anchors = {heading.lower() for heading in headings}
    for rule in alert_rules():
        assert rule["alert"].lower() in anchors, rule["alert"]


def test_team_alerts_carry_the_team_its_org_path_and_its_tenants_alert_route() -> None:
    for rule in alert_rules():
        if rule["labels"]["audience"] == "learning-and-development":
            assert "group_left (department, division, alert_route)" in rule["expr"], rule["alert"]
            assert "teampulse_team_info" in rule["expr"], rule["alert"]


def test_worker_down_uses_the_absent_form_that_keeps_the_job_label() -> None:
    (worker_down,) = [rule for rule in alert_rules() if rule["alert"] == "WorkerDown"]
    assert 'absent(up{job="teampulse-worker"})' in worker_down["expr"]
    assert "== 1)" not in worker_down["expr"]


# --- Alertmanager -------------------------------------------------------------------------


def test_amtool_accepts_the_alertmanager_config(amtool: str) -> None:
    result = subprocess.run(
        [amtool, "check-config", str(ALERTMANAGER_CONFIG)],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
