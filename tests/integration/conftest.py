"""Fixtures shared by several integration modules. The scenario runs (shared by the
end-to-end alert test and the board-query test) cost minutes of wall time each, so each
scenario runs once per session.

`make test` runs the suite in two processes (process_groups.py says which modules run
together). The module that stops the shared broker holds it exclusively (`broker_exclusively`).
"""

from __future__ import annotations

import fcntl
import re
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.integration.connector_stack import (
    ConnectorStack,
    start_connector_stack,
    stop_connector_stack,
)
from tests.integration.process_groups import check_session_run_modules
from tests.integration.scenario_run import ScenarioRun, start_scenario


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    check_session_run_modules(items)


def _broker_lock_paths(kafka_bootstrap: str) -> tuple[Path, Path]:
    """Lock files named after the broker: sessions on other brokers never wait for this one."""
    name = "teampulse-tests-broker-" + re.sub(r"[^A-Za-z0-9.]+", "-", kafka_bootstrap)
    base = Path(tempfile.gettempdir())
    return base / f"{name}.gate", base / f"{name}.lock"


@contextmanager
def _flock(path: Path, mode: int) -> Iterator[None]:
    with path.open("a") as handle:
        fcntl.flock(handle, mode)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


@pytest.fixture(scope="module", autouse=True)
def broker_in_use(request: pytest.FixtureRequest, kafka_bootstrap: str) -> Iterator[None]:
    """A module uses the shared broker from its first test to its last: its module fixtures
    (workers, servers) live between its tests. A module that stops the broker takes it
    exclusively per test instead (`broker_exclusively`)."""
    if request.node.get_closest_marker("stops_the_broker"):
        yield
        return
    gate, lock = _broker_lock_paths(kafka_bootstrap)
    with _flock(gate, fcntl.LOCK_SH):  # a waiting exclusive user holds the gate
        handle = lock.open("a")
        fcntl.flock(handle, fcntl.LOCK_SH)
    try:
        yield
    finally:
        fcntl.flock(handle, fcntl.LOCK_UN)
        handle.close()


@contextmanager
def broker_exclusively(kafka_bootstrap: str) -> Iterator[None]:
    """Waits until no module of another test process uses the broker, and holds back those
    that would start meanwhile, for as long as the caller has it stopped."""
    gate, lock = _broker_lock_paths(kafka_bootstrap)
    with _flock(gate, fcntl.LOCK_EX), _flock(lock, fcntl.LOCK_EX):
        yield


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
