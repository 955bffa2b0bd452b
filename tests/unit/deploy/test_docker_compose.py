"""docker-compose.yml is a valid Compose file (as `docker-compose config` reads it, which
needs no Docker engine) and sets only settings that teampulse/settings.py reads.

`make test` installs Debian's docker-compose (`make tools`: deploy/stack/ensure-packages.sh
docker-compose); outside CI a machine without it skips the validation and says why.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from teampulse.settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[3]
COMPOSE_FILE = REPO_ROOT / "docker-compose.yml"


@pytest.fixture(scope="module")
def docker_compose() -> str:
    found = shutil.which("docker-compose")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("docker-compose is missing in CI: `make tools` installs it")
        pytest.skip(
            "docker-compose is not installed (Debian package `docker-compose`; "
            "`make tools` installs it)"
        )
    return found


def compose_config(docker_compose: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [docker_compose, "--file", str(COMPOSE_FILE), "config"],
        capture_output=True, text=True, timeout=60, cwd=REPO_ROOT,
    )  # fmt: skip


def test_docker_compose_accepts_the_compose_file(docker_compose: str) -> None:
    result = compose_config(docker_compose)
    assert result.returncode == 0, result.stderr
    assert result.stderr.strip() == "", "docker-compose warned about the file"


def test_the_compose_stack_has_the_services_the_local_stack_runs(docker_compose: str) -> None:
    config: dict[str, Any] = yaml.safe_load(compose_config(docker_compose).stdout)
    assert sorted(config["services"]) == [
        "alertmanager",
        "digest",
        "grafana",
        "kafka",
        "notify",
        "prometheus",
        "redis",
        "web",
        "worker",
    ]


def test_every_teampulse_variable_in_the_compose_file_is_a_setting() -> None:
    services = yaml.safe_load(COMPOSE_FILE.read_text())["services"]
    variables = {
        name
        for service in services.values()
        for name in service.get("environment", {})
        if name.startswith("TEAMPULSE_")
    }
    settings = {f"TEAMPULSE_{name.upper()}" for name in Settings.model_fields}
    assert variables, "the compose file sets no TEAMPULSE_* variable at all"
    assert variables - settings == set()
