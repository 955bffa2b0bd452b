"""A real worker and a real `teampulse ingest` process on their own topics, with every
connector configured, for the connector end-to-end tests."""

from __future__ import annotations

import asyncio
import os
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

import orjson
import yaml
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from teampulse.kafka.topics import ensure_topics
from teampulse.settings import PACKAGED_CONFIG_DIR, Settings, settings_from_environment
from tests.integration.worker_harness import (
    REPO,
    Samples,
    WorkerProcess,
    free_port,
    isolated_environment,
    parse_metrics,
    produce,
    wait_for,
)
from tests.support.connector_payloads import CLIENT_STATE, TENANT

AS_OF = "2026-03-03T00:00:00Z"
NOW = 1772496000  # AS_OF as epoch seconds: both processes run on this frozen clock
SECRET = "connectors-e2e-secret"
SLACK_SECRET = "slack-signing-secret"
DISCOURSE_SECRET = "discourse-webhook-secret"
CALIPER_TOKEN = "caliper-sensor-token"


def roster_records() -> list[dict[str, str]]:
    """One person per platform identity, in one team per platform and side."""
    people = {
        "account:slack:T0001|U0ALICE": "atlas",
        "account:slack:T0001|U0CAROL": "atlas",
        "account:slack:T0001|U0BOB": "borealis",
        f"account:msteams:{TENANT}|aad-alice": "cobalt",
        f"account:msteams:{TENANT}|aad-bob": "delta",
        "account:discourse:forum.example.com|jane": "ember",
        "account:discourse:forum.example.com|bob": "fjord",
        "https://example.edu/users/554433": "granite",
    }
    return [
        {"person": person, "team": team, "department": "engineering", "division": "product"}
        for person, team in people.items()
    ]


CONNECTORS_YAML = {
    "slack": {"channels": {"C0ATLAS": {"team": "atlas"}}},
    "discourse": {"channels": {"7": {"initiative": "agile-ways-of-working"}}},
    "caliper": {"channels": {"https://lms.example.edu/sections/1": {"team": "granite"}}},
}


@dataclass
class Response:
    status: int
    body: bytes
    headers: dict[str, str]

    def json(self) -> object:
        return orjson.loads(self.body)


@dataclass
class ConnectorStack:
    worker: WorkerProcess
    ingest: subprocess.Popen
    ingest_url: str
    private_key: rsa.RSAPrivateKey
    settings: Settings

    def post(
        self, path: str, body: bytes, headers: dict[str, str] | None = None, method: str = "POST"
    ) -> Response:
        request = urllib.request.Request(
            self.ingest_url + path, data=body, headers=headers or {}, method=method
        )
        try:
            with urllib.request.urlopen(request, timeout=10) as answer:
                return Response(answer.status, answer.read(), dict(answer.headers))
        except urllib.error.HTTPError as error:
            return Response(error.code, error.read(), dict(error.headers))

    def ingest_metrics(self) -> Samples:
        with urllib.request.urlopen(self.ingest_url + "/metrics", timeout=5) as answer:
            return parse_metrics(answer.read().decode())

    def connector_count(self, platform: str, outcome: str, reason: str = "") -> float:
        labels = (("outcome", outcome), ("platform", platform), ("reason", reason))
        return self.ingest_metrics().get(("teampulse_connector_records_total", labels), 0.0)

    def gauge(self, name: str, **labels: str) -> float | None:
        key = (f"teampulse_{name}", tuple(sorted(labels.items())))
        return self.worker.metrics().get(key)

    def wait_gauge(self, name: str, expected: float, timeout: float = 60, **labels: str) -> None:
        wait_for(
            lambda: self.gauge(name, **labels) == expected,
            timeout=timeout,
            what=f"{name}{labels} == {expected} (log: {self.worker.log_tail(5)})",
        )


def start_connector_stack(kafka_bootstrap: str, redis_url: str, directory: Path) -> ConnectorStack:
    config_dir = directory / "config"
    config_dir.mkdir()
    for shipped in PACKAGED_CONFIG_DIR.glob("*.yaml"):
        shutil.copy(shipped, config_dir / shipped.name)
    (config_dir / "connectors.yaml").write_text(yaml.safe_dump(CONNECTORS_YAML))
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = directory / "graph-notifications.key"
    key_file.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    ingest_port = free_port()
    env = isolated_environment(
        "connectors",
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        clock=AS_OF,
        pseudonym_secret=SECRET,
        min_group_size="1",
        config_dir=str(config_dir),
        data_dir=str(directory / "worker-data"),
        ingest_port=str(ingest_port),
        ingest_credentials=CALIPER_TOKEN,
        slack_signing_secret=SLACK_SECRET,
        discourse_webhook_secret=DISCOURSE_SECRET,
        msteams_client_state=CLIENT_STATE,
        msteams_private_key_file=str(key_file),
    )
    settings = settings_from_environment(env)
    asyncio.run(ensure_topics(settings))
    worker = WorkerProcess(env, directory / "worker.log", free_port()).start()
    log = open(directory / "ingest.log", "ab")  # noqa: SIM115 - lives as long as the process
    ingest = subprocess.Popen(
        [sys.executable, "-m", "teampulse.cli", "ingest"],
        env={**os.environ, **env},
        stdout=log,
        stderr=subprocess.STDOUT,
        cwd=REPO,
        start_new_session=True,
    )
    stack = ConnectorStack(worker, ingest, f"http://127.0.0.1:{ingest_port}", key, settings)
    roster = [(r["person"].encode(), orjson.dumps(r)) for r in roster_records()]
    asyncio.run(produce(kafka_bootstrap, settings.topic("roster"), roster))

    def ingest_up() -> bool:
        try:
            stack.ingest_metrics()
        except OSError:
            return False
        return True

    wait_for(ingest_up, timeout=60, what="the ingest endpoint")
    wait_for(
        lambda: stack.gauge("team_members", team="granite") == 1,
        timeout=90,
        what="the worker reading the roster",
    )
    return stack


def stop_connector_stack(stack: ConnectorStack) -> None:
    stack.ingest.terminate()
    try:
        stack.ingest.wait(timeout=20)
    except subprocess.TimeoutExpired:
        stack.ingest.kill()
    stack.worker.stop()
