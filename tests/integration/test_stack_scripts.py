"""`make up` says how to stop the stack it started, and `make down` run with another stack dir
does not report success while that stack keeps its ports (a real redis-server, via up.sh)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
STACK = REPO / "deploy" / "stack"
PORT_VARIABLES = (
    "TEAMPULSE_KAFKA_PORT",
    "TEAMPULSE_KAFKA_CONTROLLER_PORT",
    "TEAMPULSE_REDIS_PORT",
    "TEAMPULSE_PROMETHEUS_PORT",
    "TEAMPULSE_ALERTMANAGER_PORT",
)
TARGETS_TIMEOUT_S = 60
SCRIPT_TIMEOUT_S = 180  # a loaded machine; redis itself starts in well under a second


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _stack_env(stack_dir: Path, ports: dict[str, int]) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TEAMPULSE_")}
    env["TEAMPULSE_STACK_DIR"] = str(stack_dir)
    env.update({name: str(port) for name, port in ports.items()})
    return env


def _run(command: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        command, cwd=REPO, env=env, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT_S
    )


def _redis_answers(port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(2)
        return probe.connect_ex(("127.0.0.1", port)) == 0


@pytest.fixture
def redis_stack(tmp_path: Path):
    ports = dict(zip(PORT_VARIABLES, _free_ports(len(PORT_VARIABLES)), strict=True))
    env = _stack_env(tmp_path / "first", ports)
    started = _run(["bash", str(STACK / "up.sh"), "redis"], env)
    assert started.returncode == 0, started.stderr + started.stdout
    yield started, env, ports
    _run(["bash", str(STACK / "down.sh")], env)


def test_up_prints_the_exact_make_down_of_a_stack_off_the_defaults(redis_stack) -> None:
    started, env, ports = redis_stack
    expected = (
        f"stop it with: TEAMPULSE_STACK_DIR={env['TEAMPULSE_STACK_DIR']} "
        + " ".join(f"{name}={ports[name]}" for name in PORT_VARIABLES)
        + " make down"
    )
    assert expected in started.stdout


def test_down_with_another_stack_dir_fails_and_names_the_command_that_works(
    redis_stack, tmp_path: Path
) -> None:
    _, env, ports = redis_stack
    other = _stack_env(tmp_path / "second", ports)

    refused = _run(["bash", str(STACK / "down.sh")], other)

    assert refused.returncode == 1
    assert "stack stopped" not in refused.stdout
    assert f"port {ports['TEAMPULSE_REDIS_PORT']} is still in use" in refused.stderr
    command = refused.stderr.split("stop it with: ", 1)[1].splitlines()[0]
    assert command.startswith(f"TEAMPULSE_STACK_DIR={env['TEAMPULSE_STACK_DIR']} ")
    assert _redis_answers(ports["TEAMPULSE_REDIS_PORT"])

    # the command it names, run as printed, stops the first stack
    stopped = _run(["bash", "-c", command], other)

    assert stopped.returncode == 0, stopped.stderr
    assert "stack stopped" in stopped.stdout
    assert not _redis_answers(ports["TEAMPULSE_REDIS_PORT"])


def test_a_moved_worker_port_moves_the_stack_s_scrape_target(tmp_path: Path) -> None:
    ports = dict(zip(PORT_VARIABLES, _free_ports(len(PORT_VARIABLES)), strict=True))
    env = _stack_env(tmp_path / "stack", ports)
    env["TEAMPULSE_WEB_PORT"] = "6399"
    try:
        started = _run(["bash", str(STACK / "up.sh"), "prometheus"], env)
        assert started.returncode == 0, started.stderr + started.stdout

        url = f"http://127.0.0.1:{ports['TEAMPULSE_PROMETHEUS_PORT']}/api/v1/targets"
        deadline = time.monotonic() + TARGETS_TIMEOUT_S
        scraped: list[str] = []
        while not scraped and time.monotonic() < deadline:  # discovery takes a moment
            time.sleep(0.5)
            with urllib.request.urlopen(url, timeout=10) as response:
                targets = json.load(response)["data"]["activeTargets"]
            scraped = [t["scrapeUrl"] for t in targets if t["labels"]["job"] == "teampulse-worker"]
        assert scraped == ["http://127.0.0.1:6399/metrics"]
    finally:
        _run(["bash", str(STACK / "down.sh")], env)


def test_down_reports_but_leaves_a_listener_no_stack_started(tmp_path: Path) -> None:
    ports = dict(zip(PORT_VARIABLES, _free_ports(len(PORT_VARIABLES)), strict=True))
    with socket.socket() as foreign:  # this test's own listener, on the stack's Redis port
        foreign.bind(("127.0.0.1", ports["TEAMPULSE_REDIS_PORT"]))
        foreign.listen()

        done = _run(["bash", str(STACK / "down.sh")], _stack_env(tmp_path / "stack", ports))

    assert done.returncode == 0, done.stderr
    assert f"port {ports['TEAMPULSE_REDIS_PORT']} is still in use" in done.stderr
    assert "stop it with" not in done.stderr
