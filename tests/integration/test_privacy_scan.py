"""No raw person identifier anywhere TeamPulse writes: a scan of everything after a scenario.

People are seeded with e-mail addresses (in mixed case, with and without `mailto:`), display
names and xAPI identities (mbox with a name, mbox_sha1sum with a name, an account with a
name, an instructor in the statement's context), in canonical events, xAPI statements and
roster records, sent both to the input topics and through the HTTP ingest endpoint. After
the real worker has processed all of it, every Kafka topic TeamPulse writes, every Redis key
and value, /metrics, the read API, the overview page and the logs at info are searched for
each identifier.

The raw input topics (`events`, `xapi`, `roster`) hold what producers sent and are not
searched. Neither is the dead-letter topic, which keeps refused records as they were sent
(docs/privacy.md); the scenario refuses nothing, which the test checks, so every seeded
record went through the pipeline.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
import pytest
import redis
from aiokafka import AIOKafkaConsumer

from teampulse.kafka.reading import topic_partitions
from teampulse.kafka.topics import ensure_topics
from teampulse.settings import Settings, settings_from_environment
from tests.integration.worker_harness import (
    REPO,
    WorkerProcess,
    free_port,
    isolated_environment,
    produce,
    read_topic,
    wait_for,
)

pytestmark = pytest.mark.integration

AS_OF = "2026-03-09T12:00:00Z"
DAY = "2026-03-09T"
ADL = "http://adlnet.gov/expapi/verbs/"
LMS = "https://lms.example.org"
CREDENTIALS = "lrs:privacy-s3cret"
RAW_INPUTS = ("events", "xapi", "roster", "deadletter")


@dataclass(frozen=True)
class Person:
    name: str  # display name
    email: str  # as producers write it (mixed case on purpose for some)
    team: str

    @property
    def local_part(self) -> str:
        return self.email.split("@")[0]

    @property
    def mbox_sha1sum(self) -> str:
        return hashlib.sha1(f"mailto:{self.email.lower()}".encode()).hexdigest()

    def identifiers(self) -> list[str]:
        return [self.name, self.email.lower(), self.local_part.lower(), self.mbox_sha1sum]


ADA = Person("Ada Lovelace", "Ada.Lovelace@Example.org", "atlas")
GRACE = Person("Grace Hopper", "grace.hopper@example.org", "atlas")
KATHERINE = Person("Katherine Johnson", "katherine.johnson@example.org", "atlas")
DOROTHY = Person("Dorothy Vaughan", "dorothy.vaughan@example.org", "atlas")
JOAN = Person("Joan Clarke", "joan.clarke@example.org", "atlas")
HEDY = Person("Hedy Lamarr", "hedy.lamarr@example.org", "borealis")
ANNIE = Person("Annie Easley", "annie.easley@example.org", "borealis")
RADIA = Person("Radia Perlman", "radia.perlman@example.org", "borealis")
FRANCES = Person("Frances Allen", "frances.allen@example.org", "borealis")
MARGARET = Person("Margaret Hamilton", "margaret.hamilton@example.org", "borealis")
KAREN = Person("Karen Sparck Jones", "karen.sparckjones@example.org", "comet")
BARBARA = Person("Barbara Liskov", "barbara.liskov@example.org", "comet")
SHAFI = Person("Shafi Goldwasser", "shafi.goldwasser@example.org", "comet")
BY_EMAIL = [ADA, GRACE, KATHERINE, DOROTHY, JOAN, HEDY, ANNIE, RADIA, FRANCES, MARGARET]
BY_EMAIL += [KAREN, BARBARA, SHAFI]
# Mary is known to the LMS by an account only.
MARY_NAME, MARY_ACCOUNT = "Mary Jackson", "mjackson-lms"
MARY_IDENTITY = f"account:{LMS}|{MARY_ACCOUNT}"
PATHS = {"atlas": ("engineering", "product"), "borealis": ("engineering", "product")}
PATHS["comet"] = ("sales", "go-to-market")


def needles() -> list[str]:
    found = [n for person in BY_EMAIL for n in person.identifiers()]
    return [*found, MARY_NAME, MARY_ACCOUNT, MARY_IDENTITY]


def roster_records() -> list[tuple[bytes, bytes]]:
    people = [(p.email, p.name, p.team) for p in BY_EMAIL] + [(MARY_IDENTITY, MARY_NAME, "atlas")]
    records = []
    for person, name, team in people:
        department, division = PATHS[team]
        value = {"person": person, "name": name, "team": team}
        value.update(department=department, division=division)
        records.append((person.encode(), orjson.dumps(value)))
    return records


def canonical(person: str, kind: str, hour: int, **fields: object) -> dict[str, object]:
    return {
        "id": f"evt-{uuid.uuid4().hex[:12]}",
        "type": kind,
        "occurred_at": f"{DAY}{hour:02d}:00:00Z",
        "actor": person,
        "source": "lms",
        **fields,
    }


def canonical_events() -> list[dict[str, object]]:
    course = {"content": "course:agile", "duration_s": 1200}
    return [
        canonical(ADA.email, "learning.completed", 8, **course),
        canonical(f"mailto:{GRACE.email.upper()}", "learning.started", 8, content="course:agile"),
        canonical(ANNIE.email, "discussion.posted", 9, thread="th-1", post="th-1", channel="ask"),
        canonical(RADIA.email, "discussion.replied", 9, thread="th-1", post="p-2", parent="th-1"),
        canonical(FRANCES.email, "discussion.reacted", 10, thread="th-1", post="r-3", parent="p-2"),
        canonical(MARGARET.email, "adoption.practiced", 10, practice="retro"),
        canonical(KAREN.email, "learning.completed", 9, **course),
        canonical(BARBARA.email, "discussion.posted", 9, thread="th-9", post="th-9"),
        canonical(SHAFI.email, "discussion.replied", 10, thread="th-9", post="p-10", parent="th-9"),
    ]


def statement(actor: dict[str, object], verb: str, hour: int, **extra: object) -> dict:
    return {
        "id": str(uuid.uuid4()),
        "actor": {"objectType": "Agent", **actor},
        "verb": {"id": ADL + verb, "display": {"en-US": verb}},
        "object": {"id": f"{LMS}/courses/agile"},
        "result": {"duration": "PT15M", "response": f"Thanks to {ADA.name} and {GRACE.name}"},
        "timestamp": f"{DAY}{hour:02d}:30:00Z",
        **extra,
    }


def statements_on_the_topic() -> list[dict]:
    instructor = {"objectType": "Agent", "name": JOAN.name, "mbox": f"mailto:{JOAN.email}"}
    return [
        statement({"name": KATHERINE.name, "mbox": f"mailto:{KATHERINE.email}"}, "completed", 8),
        statement(
            {"name": DOROTHY.name, "mbox_sha1sum": DOROTHY.mbox_sha1sum},
            "passed",
            9,
            context={"instructor": instructor},
        ),
        statement(
            {"name": MARY_NAME, "account": {"homePage": LMS, "name": MARY_ACCOUNT}}, "completed", 9
        ),
    ]


def statements_over_http() -> list[dict]:
    return [statement({"name": JOAN.name, "mbox": f"mailto:{JOAN.email}"}, "completed", 10)]


def events_over_http() -> list[dict[str, object]]:
    return [canonical(HEDY.email, "learning.completed", 10, content="course:agile")]


# --- the running system ----------------------------------------------------------------------
def post(url: str, body: object, headers: dict[str, str]) -> int:
    auth = "Basic " + base64.b64encode(CREDENTIALS.encode()).decode()
    request = urllib.request.Request(
        url,
        data=json.dumps(body).encode(),
        headers={"Content-Type": "application/json", "Authorization": auth, **headers},
        method="POST",
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return response.status


def ingest_answers(url: str) -> bool:
    try:
        urllib.request.urlopen(url, timeout=1)
    except urllib.error.HTTPError:
        return True  # any HTTP answer means it is serving
    except OSError:
        return False
    return True


@dataclass
class Scenario:
    settings: Settings
    worker: WorkerProcess
    ingest_log: Path


@pytest.fixture(scope="module")
def scenario(
    kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Scenario]:
    logs = tmp_path_factory.mktemp("privacy-logs")
    ingest_port = free_port()
    env = isolated_environment(
        "privacy",
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        clock=AS_OF,
        pseudonym_secret="privacy-scan-secret",
        ingest_credentials=CREDENTIALS,
        ingest_port=str(ingest_port),
        data_dir=str(tmp_path_factory.mktemp("worker-data")),
    )
    settings = settings_from_environment(env)
    asyncio.run(ensure_topics(settings))
    worker = WorkerProcess(env, logs / "worker.log", free_port())
    ingest_log = logs / "ingest.log"
    with open(ingest_log, "ab") as ingest_out:
        ingest = subprocess.Popen(
            [sys.executable, "-m", "teampulse.cli", "ingest", "--loglevel", "info"],
            env={**os.environ, **env},
            stdout=ingest_out,
            stderr=subprocess.STDOUT,
            cwd=REPO,
            start_new_session=True,
        )
    try:
        worker.start()
        asyncio.run(produce(kafka_bootstrap, settings.topic("roster"), roster_records()))
        events = [(None, orjson.dumps(e)) for e in canonical_events()]
        asyncio.run(produce(kafka_bootstrap, settings.topic("events"), events))
        xapi = [(None, orjson.dumps(s)) for s in statements_on_the_topic()]
        asyncio.run(produce(kafka_bootstrap, settings.topic("xapi"), xapi))
        base = f"http://127.0.0.1:{ingest_port}"
        wait_for(lambda: ingest_answers(base), timeout=60, what="the ingest endpoint")
        version = {"X-Experience-API-Version": "1.0.3"}
        assert post(f"{base}/xAPI/statements", statements_over_http(), version) == 200
        assert post(f"{base}/events", events_over_http(), {}) == 200
        # atlas: Ada, Katherine, Dorothy, Mary, Joan active (Grace only started: active too).
        wait_for(
            lambda: (
                worker.metrics().get(
                    ("teampulse_team_active_members", (("team", "atlas"), ("window", "1d")))
                )
                == 6
                and worker.metrics().get(
                    ("teampulse_team_active_members", (("team", "borealis"), ("window", "1d")))
                )
                == 5
            ),
            timeout=120,
            what="every seeded event counted on /metrics",
        )
        yield Scenario(settings, worker, ingest_log)
    finally:
        worker.stop()
        if ingest.poll() is None:
            os.killpg(ingest.pid, 15)
            ingest.wait(timeout=20)


def leaks(where: str, text: str) -> list[str]:
    lowered = text.lower()
    return [f"{where}: {needle!r}" for needle in needles() if needle.lower() in lowered]


# --- the scan --------------------------------------------------------------------------------
async def written_topics(settings: Settings) -> dict[str, list[bytes]]:
    """Keys, values and headers of every record on the topics with this test's prefix."""
    consumer = AIOKafkaConsumer(bootstrap_servers=settings.kafka_bootstrap, group_id=None)
    await consumer.start()
    try:
        names = sorted(await consumer.topics())
    finally:
        await consumer.stop()
    ours = [n for n in names if n.startswith(settings.app_id)]
    raw = {settings.topic(name) for name in RAW_INPUTS}
    found: dict[str, list[bytes]] = {}
    for name in ours:
        if name in raw:
            continue
        found[name] = await everything_on(settings.kafka_bootstrap, name)
    return found


async def everything_on(bootstrap: str, topic: str) -> list[bytes]:
    consumer = AIOKafkaConsumer(bootstrap_servers=bootstrap, group_id=None)
    await consumer.start()
    try:
        tps = await topic_partitions(consumer, topic)
        if not tps:
            return []
        consumer.assign(tps)
        await consumer.seek_to_beginning(*tps)
        ends = await consumer.end_offsets(tps)
        parts: list[bytes] = []
        while any([await consumer.position(tp) < ends[tp] for tp in tps]):
            for records in (await consumer.getmany(timeout_ms=1000)).values():
                for record in records:
                    parts += [record.key or b"", record.value or b""]
                    parts += [v for _, v in record.headers or ()]
        return parts
    finally:
        await consumer.stop()


def test_the_scenario_refused_nothing_so_everything_went_through(scenario: Scenario):
    dead = asyncio.run(
        read_topic(scenario.settings.kafka_bootstrap, scenario.settings.topic("deadletter"))
    )
    assert dead == []


def test_the_scan_finds_every_seeded_identifier_in_the_raw_inputs(scenario: Scenario):
    settings = scenario.settings
    raw = [
        part
        for name in ("events", "xapi", "roster")
        for part in asyncio.run(everything_on(settings.kafka_bootstrap, settings.topic(name)))
    ]
    text = b"\n".join(raw).decode(errors="replace")

    # What producers sent holds every needle (of the SHA-1 sums, only Dorothy's was sent),
    # so an empty scan below means something.
    unsent = {p.mbox_sha1sum for p in BY_EMAIL if p is not DOROTHY}
    assert leaks("raw inputs", text) == [f"raw inputs: {n!r}" for n in needles() if n not in unsent]


def test_no_kafka_topic_teampulse_writes_holds_a_raw_identifier(scenario: Scenario):
    topics = asyncio.run(written_topics(scenario.settings))
    state_log = scenario.settings.topic("team-state")
    assert topics[state_log], "the state log should hold the accepted events"
    found = [
        leak
        for name, parts in topics.items()
        for leak in leaks(name, b"\n".join(parts).decode(errors="replace"))
    ]
    assert found == []


def test_no_redis_key_or_value_holds_a_raw_identifier(scenario: Scenario):
    client = redis.Redis.from_url(scenario.settings.redis_url, decode_responses=True)
    prefix = scenario.settings.redis_prefix
    assert client.exists(f"{prefix}team:atlas"), "the gauges should be in Redis"
    dumped = [
        f"{key} {redis_value(client, key)}" for key in client.scan_iter(count=1000)
    ]  # every key of the database, not only this test's
    assert leaks("redis", "\n".join(dumped)) == []


def redis_value(client: redis.Redis, key: str) -> object:
    kind = client.type(key)
    if kind == "hash":
        return client.hgetall(key)
    if kind == "set":
        return sorted(client.smembers(key))
    if kind == "zset":
        return client.zrange(key, 0, -1, withscores=True)
    if kind == "stream":
        return client.xrange(key)
    if kind == "list":
        return client.lrange(key, 0, -1)
    return client.get(key)


def test_metrics_hold_no_raw_identifier(scenario: Scenario):
    text = scenario.worker.metrics_text() or ""
    assert "teampulse_team_members" in text
    assert leaks("/metrics", text) == []


def test_the_read_api_and_the_overview_page_hold_no_raw_identifier(scenario: Scenario):
    worker = scenario.worker
    status, listing = worker.get_json("/teams")
    assert status == 200 and listing == {"teams": ["atlas", "borealis"]}  # comet has 3
    bodies = [json.dumps(listing)]
    for team in ("atlas", "borealis", "comet"):
        bodies.append(json.dumps(worker.get_json(f"/teams/{team}")))
        initiative = f"/teams/{team}/initiatives/agile-ways-of-working"
        bodies.append(json.dumps(worker.get_json(initiative)))
    with urllib.request.urlopen(f"{worker.url}/", timeout=10) as response:
        overview = response.read().decode()
    assert "atlas" in overview  # the team overview page, read from Redis
    bodies.append(overview)
    assert leaks("read API", "\n".join(bodies)) == []


def test_the_logs_at_info_hold_no_raw_identifier(scenario: Scenario):
    worker_log = scenario.worker.log_path.read_text(errors="replace")
    assert "roster loaded" in worker_log  # the log is the worker's, at info
    found = leaks("worker log", worker_log)
    found += leaks("ingest log", scenario.ingest_log.read_text(errors="replace"))
    assert found == []
