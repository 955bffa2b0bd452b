"""Shared pytest fixtures for the TeamPulse test suite."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[1]

# =====================================================================================
# Service stack fixtures: kafka_bootstrap, redis_url, prometheus_url, unique_topic_prefix
#
# Where the services come from (decided once per session):
#   * testcontainers (Kafka + Redis containers) when TEAMPULSE_TEST_USE_TESTCONTAINERS=1,
#     or when it is unset and a Docker engine answers `docker info`;
#   * otherwise the local stack: `deploy/stack/up.sh kafka redis prometheus` (idempotent,
#     installs/fetches what is missing) on 127.0.0.1, ports from TEAMPULSE_*_PORT.
#     TEAMPULSE_TEST_USE_TESTCONTAINERS=0 forces this mode.
# The local stack is left running after the session (stop it with `make down`).
# Prometheus is always the local binary (also in testcontainers mode).
# =====================================================================================

_UP_SH = REPO_ROOT / "deploy" / "stack" / "up.sh"
_LOOPBACK = "127.0.0.1"


@dataclass(frozen=True)
class StackEndpoints:
    mode: str  # "local" or "testcontainers"
    kafka_bootstrap: str
    redis_url: str


def _env_port(name: str, default: int) -> int:
    return int(os.environ.get(name) or default)


def _docker_engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    try:
        done = subprocess.run(
            ["docker", "info"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired):
        return False
    return done.returncode == 0


def _use_testcontainers() -> bool:
    flag = os.environ.get("TEAMPULSE_TEST_USE_TESTCONTAINERS", "").strip().lower()
    if flag in {"1", "true", "yes"}:
        return True
    if flag in {"0", "false", "no"}:
        return False
    return _docker_engine_answers()


def _local_stack_up(*services: str) -> None:
    """Run deploy/stack/up.sh for `services`; fail the session with its output on error."""
    timeout = float(os.environ.get("TEAMPULSE_TEST_STACK_TIMEOUT", "600"))
    try:
        done = subprocess.run(
            ["bash", str(_UP_SH), *services],
            cwd=REPO_ROOT,
            stdin=subprocess.DEVNULL,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
    except subprocess.TimeoutExpired as exc:
        pytest.fail(
            f"deploy/stack/up.sh {' '.join(services)} took over {timeout:.0f}s:\n"
            f"{exc.stdout or ''}{exc.stderr or ''}",
            pytrace=False,
        )
    if done.returncode != 0:
        pytest.fail(
            f"deploy/stack/up.sh {' '.join(services)} failed (exit {done.returncode}):\n"
            f"{done.stdout}{done.stderr}",
            pytrace=False,
        )


def _start_testcontainers(stack: ExitStack) -> StackEndpoints:
    try:
        try:  # newer testcontainers releases moved these under `community`
            from testcontainers.community.kafka import KafkaContainer
            from testcontainers.community.redis import RedisContainer
        except ImportError:
            from testcontainers.kafka import KafkaContainer  # type: ignore[no-redef]
            from testcontainers.redis import RedisContainer  # type: ignore[no-redef]
    except ImportError as exc:  # pragma: no cover - depends on the dev extras
        pytest.fail(
            f"testcontainers mode needs `testcontainers[kafka,redis]`: {exc}", pytrace=False
        )

    kafka = (
        KafkaContainer(os.environ.get("TEAMPULSE_TEST_KAFKA_IMAGE", "confluentinc/cp-kafka:7.6.0"))
        .with_kraft()
        .with_env("KAFKA_NUM_PARTITIONS", "4")
        .with_env("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "true")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1")
        .with_env("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1")
    )
    stack.enter_context(kafka)
    redis = RedisContainer(os.environ.get("TEAMPULSE_TEST_REDIS_IMAGE", "redis:7"))
    stack.enter_context(redis)
    redis_url = f"redis://{redis.get_container_host_ip()}:{redis.get_exposed_port(6379)}/0"
    return StackEndpoints("testcontainers", kafka.get_bootstrap_server(), redis_url)


@pytest.fixture(scope="session")
def teampulse_stack() -> Iterator[StackEndpoints]:
    """Kafka and Redis for this test session (see the section comment above)."""
    with ExitStack() as stack:
        if _use_testcontainers():
            yield _start_testcontainers(stack)
            return
        _local_stack_up("kafka", "redis", "prometheus")
        yield StackEndpoints(
            "local",
            kafka_bootstrap=f"{_LOOPBACK}:{_env_port('TEAMPULSE_KAFKA_PORT', 9092)}",
            redis_url=f"redis://{_LOOPBACK}:{_env_port('TEAMPULSE_REDIS_PORT', 6379)}/0",
        )


@pytest.fixture(scope="session")
def kafka_bootstrap(teampulse_stack: StackEndpoints) -> str:
    """Kafka bootstrap servers, e.g. '127.0.0.1:9092'."""
    return teampulse_stack.kafka_bootstrap


@pytest.fixture(scope="session")
def redis_url(teampulse_stack: StackEndpoints) -> str:
    """Redis URL (database 0), e.g. 'redis://127.0.0.1:6379/0'."""
    return teampulse_stack.redis_url


@pytest.fixture(scope="session")
def prometheus_url(teampulse_stack: StackEndpoints) -> str:
    """Prometheus base URL, e.g. 'http://127.0.0.1:9090' (local binary in every mode)."""
    if teampulse_stack.mode != "local":
        _local_stack_up("prometheus")
    return f"http://{_LOOPBACK}:{_env_port('TEAMPULSE_PROMETHEUS_PORT', 9090)}"


@pytest.fixture
def unique_topic_prefix(request: pytest.FixtureRequest) -> str:
    """A fresh prefix per test, e.g. 't-test-totals-3f9c0a1b2d.'.

    Use it for topic names, the consumer group / app id and Redis keys so tests
    never share state. Only [a-z0-9.-] characters, ends with a dot.
    """
    name = re.sub(r"[^a-z0-9]+", "-", request.node.name.lower()).strip("-")[:40]
    return f"t-{name}-{uuid.uuid4().hex[:10]}."


# ======================== end of service stack fixtures ===============================
# Add further shared fixtures below this line.

_ENSURE_PACKAGES_SH = REPO_ROOT / "deploy" / "stack" / "ensure-packages.sh"
ARTIFACTS_DIR = REPO_ROOT / "test-artifacts"


@pytest.fixture(scope="session")
def chromium() -> str:
    """Debian's headless Chromium, installed by deploy/stack/ensure-packages.sh when missing."""
    if shutil.which("chromium") is None:
        done = subprocess.run(
            ["bash", str(_ENSURE_PACKAGES_SH), "chromium"],
            cwd=REPO_ROOT, stdin=subprocess.DEVNULL, capture_output=True, text=True,
            timeout=900, check=False,
        )  # fmt: skip
        if done.returncode != 0:
            pytest.fail(f"installing chromium failed:\n{done.stdout}{done.stderr}", pytrace=False)
    path = shutil.which("chromium")
    assert path is not None, "ensure-packages.sh chromium ran but no chromium is on PATH"
    return path


@pytest.fixture(scope="session")
def artifacts_dir() -> Path:
    """Where tests leave what a person may want to look at (screenshots); git-ignored."""
    ARTIFACTS_DIR.mkdir(exist_ok=True)
    return ARTIFACTS_DIR


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`make test`'s two processes: modules whole, the shared session runs together."""
    if config.getvalue("dist") != "loadscope":
        return None
    from tests.integration.process_groups import ModuleGroupScheduling

    return ModuleGroupScheduling(config, log)
