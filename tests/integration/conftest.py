"""Fixtures shared by several integration modules. The scenario runs (shared by the
end-to-end alert test and the board-query test) cost minutes of wall time each, so each
scenario runs once per session."""

from __future__ import annotations

import shutil
from collections.abc import Iterator

import pytest

from tests.integration.connector_stack import (
    ConnectorStack,
    start_connector_stack,
    stop_connector_stack,
)
from tests.integration.scenario_run import ScenarioRun, start_scenario


@pytest.fixture(scope="session")
def connector_stack(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[ConnectorStack]:
    """One worker and one `teampulse ingest` with every connector configured; each
    platform's tests use their own teams, so they do not see each other's events."""
    stack = start_connector_stack(kafka_bootstrap, redis_url, tmp_path_factory.mktemp("conn"))
    try:
        yield stack
    finally:
        stop_connector_stack(stack)


def _scenario(name: str, tmp_path_factory: pytest.TempPathFactory, kafka: str, redis: str):
    if shutil.which("prometheus") is None:
        pytest.skip("needs the prometheus binary on PATH (deploy/stack/up.sh installs it)")
    run = start_scenario(name, tmp_path_factory.mktemp(name), kafka, redis)
    try:
        yield run
    finally:
        run.stop()


@pytest.fixture(scope="session")
def team_drops_run(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, redis_url: str
) -> Iterator[ScenarioRun]:
    yield from _scenario("team-drops", tmp_path_factory, kafka_bootstrap, redis_url)


@pytest.fixture(scope="session")
def steady_run(
    tmp_path_factory: pytest.TempPathFactory, kafka_bootstrap: str, redis_url: str
) -> Iterator[ScenarioRun]:
    yield from _scenario("steady", tmp_path_factory, kafka_bootstrap, redis_url)
