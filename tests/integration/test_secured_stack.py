"""TeamPulse against a secured Kafka and Redis: a broker whose only listener is SASL_SSL
(SCRAM-SHA-512, client certificates required) and a Redis on a TLS port only, with an ACL
user confined to TeamPulse's key prefix. Certificates are made by the test with openssl.

`teampulse topics` creates the topics, `teampulse produce` sends the roster, the ingest
endpoint takes the scripted week over HTTP, and the worker publishes its gauges to Redis and
/metrics, every one of them through the security settings alone. Wrong passwords stop the
processes at start with the cause and the fix. The same worker serves the check that its web
server exposes no write.
"""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import redis
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from aiokafka import AIOKafkaConsumer

from teampulse.ingest.http import ENDPOINT, build_ingest_app
from teampulse.ingest.producer import ingest_producer
from teampulse.ingest.write import recall_recent_ids
from teampulse.kafka.reading import topic_partitions
from teampulse.kafka.security import kafka_client_options
from teampulse.settings import Settings, settings_from_environment
from teampulse.sinks.redis_connection import redis_tls_options
from teampulse.worker import create_worker
from tests.integration.secured_stack import (
    KAFKA_PASSWORD,
    KAFKA_USER,
    REDIS_PREFIX,
    Certificates,
    SecureKafka,
    SecureRedis,
    make_certificates,
    start_secure_kafka,
    start_secure_redis,
)
from tests.integration.worker_harness import (
    REPO,
    WorkerProcess,
    free_port,
    isolated_environment,
    parse_metrics,
    wait_for,
)
from tests.support import scripted_week as week

pytestmark = pytest.mark.integration

INGEST_TOKEN = "secured-stack-token"
WRITE_METHODS = ("POST", "PUT", "PATCH", "DELETE", "OPTIONS")
COMMAND_TIMEOUT_S = 60
# Values for the path parameters of the worker's routes.
ATLAS_ACTIVE = ("teampulse_team_active_members", (("team", "atlas"), ("window", "7d")))
PATH_VALUES = {"team": "atlas", "initiative": "agile-ways-of-working", "name": "x", "key": "y"}


@dataclass
class Secured:
    env: dict[str, str]
    settings: Settings
    certs: Certificates
    kafka: SecureKafka
    redis: SecureRedis
    topics_output: str
    worker: WorkerProcess

    def redis_client(self, url: str | None = None) -> redis.Redis:
        return redis.Redis.from_url(
            url or self.settings.redis_url,
            decode_responses=True,
            **redis_tls_options(self.settings),
        )


def secure_environment(kafka: SecureKafka, redis_server: SecureRedis, certs: Certificates):
    return {
        "TEAMPULSE_KAFKA_BOOTSTRAP": kafka.bootstrap,
        "TEAMPULSE_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        "TEAMPULSE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
        "TEAMPULSE_KAFKA_SASL_USERNAME": KAFKA_USER,
        "TEAMPULSE_KAFKA_SASL_PASSWORD": KAFKA_PASSWORD,
        "TEAMPULSE_KAFKA_SSL_CA_FILE": str(certs.ca),
        "TEAMPULSE_KAFKA_SSL_CERT_FILE": str(certs.client_cert),
        "TEAMPULSE_KAFKA_SSL_KEY_FILE": str(certs.client_key),
        "TEAMPULSE_REDIS_URL": redis_server.url(),
        "TEAMPULSE_REDIS_SSL_CA_FILE": str(certs.ca),
        "TEAMPULSE_REDIS_SSL_CERT_FILE": str(certs.client_cert),
        "TEAMPULSE_REDIS_SSL_KEY_FILE": str(certs.client_key),
    }


def teampulse(
    env: dict[str, str], *args: str, stdin: bytes | None = None
) -> subprocess.CompletedProcess[str]:
    """Runs the CLI with exactly `env` as its TEAMPULSE_* settings (none of the shell's)."""
    base = {k: v for k, v in os.environ.items() if not k.startswith("TEAMPULSE_")}
    return subprocess.run(
        [sys.executable, "-m", "teampulse.cli", *args],
        env={**base, **env},
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        cwd=REPO,
        timeout=COMMAND_TIMEOUT_S,
    )


async def post_week_over_http(settings: Settings) -> int:
    """The scripted week through the ingest endpoint (TLS + SASL producer), in one batch so
    that the single input partition keeps its order."""
    producer = ingest_producer(settings)
    await producer.start()
    try:
        app = build_ingest_app(settings, producer)
        # The recall reads the topics with the same TLS + SASL options (nothing there yet).
        assert await recall_recent_ids(settings, app[ENDPOINT].writer) == 0
        server = TestServer(app, host="127.0.0.1")
        await server.start_server()
        try:
            async with ClientSession() as http:
                body = b"\n".join(orjson.dumps(e) for e in week.scripted_events())
                response = await http.post(
                    str(server.make_url("/events")),
                    data=body,
                    headers={"Authorization": f"Bearer {INGEST_TOKEN}"},
                )
                assert response.status == 200, await response.text()
                return int(response.headers["X-TeamPulse-Written"])
        finally:
            await server.close()
    finally:
        await producer.stop()


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Secured]:
    base = tmp_path_factory.mktemp("secured")
    certs = make_certificates(base / "certs")
    redis_server = start_secure_redis(base / "redis", certs)
    kafka = start_secure_kafka(base / "kafka", certs)
    worker: WorkerProcess | None = None
    try:
        env = isolated_environment(
            "secured",
            redis_prefix=REDIS_PREFIX,
            clock=week.AS_OF,
            topic_partitions="1",
            ingest_credentials=INGEST_TOKEN,
            data_dir=str(base / "worker-data"),
        )
        env.update(secure_environment(kafka, redis_server, certs))
        settings = settings_from_environment(env)
        topics = teampulse(env, "topics")
        assert topics.returncode == 0, topics.stderr
        roster = b"\n".join(orjson.dumps(r) for r in week.roster_records())
        produced = teampulse(env, "produce", "--kind", "roster", stdin=roster)
        assert produced.returncode == 0, produced.stderr
        assert asyncio.run(post_week_over_http(settings)) == len(week.scripted_events())
        worker = WorkerProcess(env, base / "worker.log", free_port()).start()
        try:
            wait_for(
                lambda: not worker.alive() or worker.metrics().get(ATLAS_ACTIVE) == 6,
                timeout=90,
                what="the worker's gauges from the secured stack",
            )
        except AssertionError as exc:
            raise AssertionError(f"{exc}\nworker log:\n{worker.log_tail()}") from None
        assert worker.alive(), worker.log_tail()

        yield Secured(env, settings, certs, kafka, redis_server, topics.stdout, worker)
    finally:
        if worker is not None:
            worker.stop()
        kafka.stop()
        redis_server.stop()


def gauge(secured: Secured, name: str, **labels: str) -> float | None:
    return secured.worker.metrics().get((f"teampulse_{name}", tuple(sorted(labels.items()))))


# --- Kafka over SASL_SSL ---------------------------------------------------------------------


def test_teampulse_topics_creates_the_topics_over_sasl_ssl(secured: Secured):
    assert secured.topics_output.startswith("created: ")
    assert secured.settings.topic("events") in secured.topics_output


def test_the_worker_computes_the_gauges_from_the_sasl_ssl_broker(secured: Secured):
    week7 = {"team": "atlas", "window": "7d"}
    assert gauge(secured, "team_members", team="atlas") == 6
    assert gauge(secured, "team_active_members", **week7) == 6
    assert gauge(secured, "team_completions", **week7) == 6
    assert gauge(secured, "team_posts", **week7) == 2
    assert gauge(secured, "team_active_members", team="borealis", window="7d") == 2


# --- Redis with TLS and an ACL user ------------------------------------------------------------


def test_the_worker_writes_the_gauges_to_the_tls_redis_as_its_acl_user(secured: Secured):
    client = secured.redis_client()
    wait_for(lambda: client.exists(f"{REDIS_PREFIX}team:atlas"), 30, "the atlas hash in Redis")
    atlas = client.hgetall(f"{REDIS_PREFIX}team:atlas")
    assert float(atlas["members"]) == 6
    assert float(atlas["participation_ratio:7d"]) == 1.0
    assert float(atlas["posts:7d"]) == 2
    assert client.smembers(f"{REDIS_PREFIX}teams") == {"atlas", "borealis", "comet"}


def test_the_acl_user_may_not_touch_keys_outside_the_teampulse_prefix(secured: Secured):
    with pytest.raises(redis.exceptions.NoPermissionError):
        secured.redis_client().set("someone-else:key", "1")


# --- wrong credentials: a clear error at start, not a hang or a traceback ------------------------


def test_a_wrong_kafka_password_stops_topics_with_the_cause_and_the_fix(secured: Secured):
    started = time.monotonic()
    result = teampulse({**secured.env, "TEAMPULSE_KAFKA_SASL_PASSWORD": "wrong"}, "topics")
    assert result.returncode != 0
    assert "refused the SCRAM-SHA-512 login of user 'teampulse'" in result.stderr
    assert "TEAMPULSE_KAFKA_SASL_PASSWORD" in result.stderr
    assert "Traceback" not in result.stderr
    assert time.monotonic() - started < 30  # no retrying a login that was refused


def test_a_broker_certificate_from_an_unknown_ca_stops_topics_naming_the_ca_setting(
    secured: Secured,
):
    env = {**secured.env, "TEAMPULSE_KAFKA_SSL_CA_FILE": str(secured.certs.client_cert)}
    result = teampulse(env, "topics")
    assert result.returncode != 0
    assert "is not trusted" in result.stderr
    assert "set TEAMPULSE_KAFKA_SSL_CA_FILE to the CA that signed it" in result.stderr


def test_a_missing_client_certificate_stops_topics_naming_the_certificate_settings(
    secured: Secured,
):
    env = {k: v for k, v in secured.env.items() if not k.startswith("TEAMPULSE_KAFKA_SSL_CERT")}
    env.pop("TEAMPULSE_KAFKA_SSL_KEY_FILE")
    started = time.monotonic()
    result = teampulse(env, "topics")
    assert result.returncode != 0
    assert "set TEAMPULSE_KAFKA_SSL_CERT_FILE and TEAMPULSE_KAFKA_SSL_KEY_FILE" in result.stderr
    assert time.monotonic() - started < 30


def test_a_wrong_kafka_password_stops_the_worker_with_the_cause(secured: Secured):
    env = {**secured.env, "TEAMPULSE_KAFKA_SASL_PASSWORD": "wrong"}
    result = teampulse({**env, "TEAMPULSE_WEB_PORT": str(free_port())}, "worker")
    assert result.returncode != 0
    assert "refused the SCRAM-SHA-512 login" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_wrong_redis_password_stops_the_worker_with_the_cause_and_the_fix(secured: Secured):
    env = {**secured.env, "TEAMPULSE_REDIS_URL": secured.redis.url(password="wrong")}
    result = teampulse({**env, "TEAMPULSE_WEB_PORT": str(free_port())}, "worker")
    assert result.returncode != 0
    assert "refused the login" in result.stderr
    assert "TEAMPULSE_REDIS_URL" in result.stderr
    assert "wrong" not in result.stderr  # the password itself is never printed
    assert "Traceback" not in result.stderr


def test_a_redis_certificate_from_an_unknown_ca_stops_the_worker_naming_the_ca_setting(
    secured: Secured,
):
    env = {**secured.env, "TEAMPULSE_REDIS_SSL_CA_FILE": str(secured.certs.client_cert)}
    result = teampulse({**env, "TEAMPULSE_WEB_PORT": str(free_port())}, "worker")
    assert result.returncode != 0
    assert "TEAMPULSE_REDIS_SSL_CA_FILE" in result.stderr


# --- the worker's web server exposes no write ---------------------------------------------------


def worker_routes(settings: Settings) -> list[tuple[str, str]]:
    """(method, path) of every route the worker's web server mounts: Faust's blueprints, the
    read API, the overview page and /metrics, as create_worker builds them."""

    async def listed() -> list[tuple[str, str]]:
        app = create_worker(settings)
        app.web.init_server()
        return [
            (route.method, route.resource.canonical)
            for route in app.web.web_app.router.routes()
            if route.resource is not None
        ]

    return asyncio.run(listed())


def concrete(template: str) -> str:
    for name, value in PATH_VALUES.items():
        template = template.replace("{" + name + "}", value)
    return template


def request(url: str, method: str) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(
            urllib.request.Request(url, data=b"{}" if method != "GET" else None, method=method),
            timeout=10,
        ) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.read()


def test_the_worker_mounts_only_get_and_head_routes(secured: Secured, tmp_path: Path):
    routes = worker_routes(secured.settings.model_copy(update={"data_dir": tmp_path}))
    paths = {path for _method, path in routes}
    assert {"/", "/metrics", "/teams", "/teams/{team}"} <= paths
    assert {method for method, _path in routes} == {"GET", "HEAD"}


def test_every_write_method_on_every_worker_route_is_refused(secured: Secured, tmp_path: Path):
    paths = sorted({path for _m, path in worker_routes(secured.settings.model_copy(
        update={"data_dir": tmp_path}))})  # fmt: skip
    answers = {
        (method, path): request(secured.worker.url + concrete(path), method)[0]
        for path in paths
        for method in WRITE_METHODS
    }
    assert {key: code for key, code in answers.items() if code not in (404, 405)} == {}


def kafka_end_offsets(settings: Settings) -> dict[str, int]:
    async def read() -> dict[str, int]:
        consumer = AIOKafkaConsumer(**kafka_client_options(settings), group_id=None)
        await consumer.start()
        try:
            ends: dict[str, int] = {}
            for name in ("events", "xapi", "roster", "deadletter", "team-state", "team-counts"):
                partitions = await topic_partitions(consumer, settings.topic(name))
                offsets = await consumer.end_offsets(partitions)
                ends[name] = sum(offsets.values())
            return ends
        finally:
            await consumer.stop()

    return asyncio.run(read())


def redis_state(secured: Secured) -> dict[str, object]:
    client = secured.redis_client()
    state: dict[str, object] = {}
    for key in client.scan_iter(f"{REDIS_PREFIX}*"):
        kind = client.type(key)
        if kind == "hash":
            state[key] = {f: v for f, v in client.hgetall(key).items() if f != "updated_at"}
        elif kind == "set":
            state[key] = client.smembers(key)
        elif kind == "stream":
            state[key] = client.xlen(key)
        else:
            state[key] = client.dump(key)
    return state


def gauge_samples(secured: Secured) -> dict[object, float]:
    text = secured.worker.metrics_text() or ""
    return {
        key: value
        for key, value in parse_metrics(text).items()
        if key[0].startswith(("teampulse_team_", "teampulse_adoption_", "teampulse_events_total"))
    }


def test_no_get_on_any_worker_route_changes_state(secured: Secured, tmp_path: Path):
    paths = sorted({path for _m, path in worker_routes(secured.settings.model_copy(
        update={"data_dir": tmp_path}))})  # fmt: skip
    before = (kafka_end_offsets(secured.settings), redis_state(secured), gauge_samples(secured))
    for path in paths:
        for method in ("GET", "HEAD"):
            status, _ = request(secured.worker.url + concrete(path), method)
            # Faust's /table pages answer 503 for a table that does not exist; a crash (500)
            # would be a bug.
            assert status != 500, (method, path, status)
    after = (kafka_end_offsets(secured.settings), redis_state(secured), gauge_samples(secured))
    assert after == before
