"""A tenant's alert_route reaches its own receiver, by Alertmanager's own routing (`amtool
config routes test`) on alertmanager.yml with deploy/alertmanager/tenant-routes.example.yml
inserted as its comment says; other tenants' and the pipeline's alerts are routed as before."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
import yaml

from tests.unit.deploy.promql_names import stack_tool

REPO_ROOT = Path(__file__).resolve().parents[3]
ALERTMANAGER = REPO_ROOT / "deploy" / "alertmanager"


@pytest.fixture(scope="module")
def amtool() -> str:
    return stack_tool("amtool", "alertmanager", "prometheus-alertmanager")


@pytest.fixture(scope="module")
def config_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    config = yaml.safe_load((ALERTMANAGER / "alertmanager.yml").read_text())
    example = yaml.safe_load((ALERTMANAGER / "tenant-routes.example.yml").read_text())
    routes = config["route"]["routes"]
    config["route"]["routes"] = [routes[0], *example["routes"], *routes[1:]]
    config["receivers"] += example["receivers"]
    config["templates"] = [str(ALERTMANAGER / "templates" / "*.tmpl")]
    path = tmp_path_factory.mktemp("alertmanager") / "alertmanager.yml"
    path.write_text(yaml.safe_dump(config))
    return path


def receivers(amtool: str, config_file: Path, **labels: str) -> str:
    result = subprocess.run(
        [amtool, "config", "routes", "test", f"--config.file={config_file}",
         *(f"{name}={value}" for name, value in labels.items())],
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout.strip()


TEAM_ALERT = {
    "alertname": "TeamEngagementDropped",
    "audience": "learning-and-development",
    "team": "sales-nova",
    "department": "sales",
}


def test_the_example_config_is_valid(amtool: str, config_file: Path) -> None:
    result = subprocess.run(
        [amtool, "check-config", str(config_file)], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.parametrize("severity", ["info", "warning", "critical"])
def test_a_tenants_alert_route_reaches_its_own_receiver(
    amtool: str, config_file: Path, severity: str
) -> None:
    labels = {**TEAM_ALERT, "severity": severity, "tenant": "acme", "alert_route": "l-and-d-acme"}
    assert receivers(amtool, config_file, **labels) == "l-and-d-acme"


def test_a_tenant_without_an_alert_route_goes_to_the_deployments_l_and_d(
    amtool: str, config_file: Path
) -> None:
    labels = {**TEAM_ALERT, "severity": "warning", "tenant": "globex"}
    assert receivers(amtool, config_file, **labels) == "learning-and-development"


def test_pipeline_alerts_still_reach_operations_first(amtool: str, config_file: Path) -> None:
    labels = {"alertname": "WorkerDown", "severity": "critical", "audience": "operations"}
    assert receivers(amtool, config_file, **labels) == "operations,learning-and-development"
