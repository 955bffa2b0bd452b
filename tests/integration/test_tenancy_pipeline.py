"""Tenants through the worker, against the real stack: the tenant the ingest edge (or
`teampulse produce --tenant`) wrote in a record's header travels with the event into the team
state; a record whose tenant cannot be
established (no header, or a tenant the file does not hold) goes to the dead-letter topic with
reason `unknown_tenant`, and the worker carries on.

And the leak test (docs/tenancy.md): two tenants with the same team, department and division
names and the same people's e-mail addresses stay two organisations in Kafka, /metrics, Redis,
the read API, the web app and the worker's log, and nothing of one is visible with the
other's read token. One worker run serves both parts (about 30 s)."""

from __future__ import annotations

import asyncio
import base64
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
import redis
import yaml
from aiohttp import ClientSession
from aiohttp.test_utils import TestServer
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.structs import ConsumerRecord

from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.ingest.http import build_ingest_app
from teampulse.ingest.produce import produce_file
from teampulse.ingest.producer import ingest_producer
from teampulse.kafka.topics import ensure_topics
from teampulse.ops.tenants import read_raw, write_raw
from teampulse.settings import Settings, settings_from_environment
from teampulse.tenancy.directory import TENANT_HEADER
from teampulse.tenancy.lifecycle import deleted, suspended
from teampulse.web.server import make_app
from tests.integration.worker_harness import (
    WorkerProcess,
    free_port,
    isolated_environment,
    read_topic,
    wait_for,
)

pytestmark = pytest.mark.integration

AS_OF = "2026-03-16T12:00:00Z"
ACME_KEY, GLOBEX_KEY = "acme-pseudonym-key-0001", "globex-pseudonym-key-02"
ACME_READ, GLOBEX_READ = "acme-read-token-000001", "globex-read-token-0002"
TENANTS = {
    "tenants": {
        "acme": {
            "pseudonym_secret": ACME_KEY,
            "credentials": ["acme-lms:acme-secret"],
            "read_tokens": [ACME_READ],
        },
        "globex": {
            "pseudonym_secret": GLOBEX_KEY,
            "credentials": ["globex-lms:globex-secret"],
            "read_tokens": [GLOBEX_READ],
        },
    }
}
# Both tenants have a team 'red' of department 'sales' in division 'emea', with the same
# e-mail addresses; acme has 5 people in it and a second team, globex 6.
ROSTERS = {
    "acme": [(f"p{n}@example.com", "red", "sales") for n in range(5)]
    + [(f"q{n}@example.com", "acme-only", "acme-dept") for n in range(5)],
    "globex": [(f"p{n}@example.com", "red", "sales") for n in range(6)],
}
# The same event ids in both tenants; acme's red completes 5 courses here, globex's 2.
COMPLETIONS = {"acme": 5, "globex": 2}


def event(event_id: str, **extra: Any) -> dict[str, Any]:
    return {
        "id": event_id,
        "type": "learning.completed",
        "occurred_at": "2026-03-16T10:00:00Z",
        "actor": "jane.doe@example.com",
        "team": "red",
        "source": "lms",
        "content": "course:agile",
        **extra,
    }


async def through_the_edge(settings: Settings, user_and_secret: bytes, sent: dict) -> int:
    """POST /events to an ingest endpoint of `settings`, as an LRS client of that tenant."""
    status, _answer = await through_the_edge_body(settings, user_and_secret, sent)
    return status


async def straight_to_kafka(
    bootstrap: str, topic: str, sent: dict, headers: list[tuple[str, bytes]]
) -> None:
    """What a producer with write access to the topic, but not the edge, would write."""
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, acks="all")
    await producer.start()
    try:
        await producer.send_and_wait(topic, orjson.dumps(sent), key=b"k", headers=headers)
    finally:
        await producer.stop()


def test_the_tenant_travels_with_the_event_and_an_unattributable_record_dead_letters(
    kafka_bootstrap: str, redis_url: str, tmp_path: Path
):
    tenants_file = tmp_path / "tenants.yaml"
    tenants_file.write_text(yaml.safe_dump(TENANTS))
    env = isolated_environment(
        "tenancy",
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        clock=AS_OF,
        data_dir=str(tmp_path / "data"),
        tenants_file=str(tenants_file),
        tenants_reload_s="0.5",
    )
    settings = settings_from_environment(env)
    asyncio.run(ensure_topics(settings))
    events_topic = settings.topic("events")
    assert asyncio.run(through_the_edge(settings, b"acme-lms:acme-secret", event("e-acme"))) == 200
    globex_sent = event("e-globex", tenant="acme")  # a forged tenant in the payload
    assert asyncio.run(through_the_edge(settings, b"globex-lms:globex-secret", globex_sent)) == 200
    produced = tmp_path / "events.ndjson"
    produced.write_bytes(orjson.dumps(event("e-produced", actor="john@example.com")))
    summary = asyncio.run(produce_file(settings, produced, tenant="acme", progress=False))
    assert summary.sent == {"events": 1}
    for tenant, people in ROSTERS.items():
        roster_file = tmp_path / f"roster-{tenant}.ndjson"
        roster_file.write_bytes(
            b"\n".join(
                orjson.dumps({"person": p, "team": t, "department": d, "division": "emea"})
                for p, t, d in people
            )
        )
        asyncio.run(produce_file(settings, roster_file, "roster", progress=False, tenant=tenant))
        events_file = tmp_path / f"events-{tenant}.ndjson"
        events_file.write_bytes(
            b"\n".join(
                orjson.dumps(event(f"c-{n}", actor=f"p{n}@example.com"))
                for n in range(COMPLETIONS[tenant])
            )
        )
        asyncio.run(produce_file(settings, events_file, "events", progress=False, tenant=tenant))
    asyncio.run(straight_to_kafka(kafka_bootstrap, events_topic, event("e-nobody"), []))
    ghost = [(TENANT_HEADER, b"ghost")]
    asyncio.run(straight_to_kafka(kafka_bootstrap, events_topic, event("e-ghost"), ghost))

    worker = WorkerProcess(env, tmp_path / "worker.log", free_port()).start()
    try:

        def outcomes() -> dict[str, float] | None:
            found: dict[str, float] = {}
            for (name, labels), value in worker.metrics().items():
                outcome = dict(labels).get("outcome", "")
                if name == "teampulse_events_total" and value:
                    found[outcome] = found.get(outcome, 0) + value
            return found if found.get("accepted", 0) + found.get("rejected", 0) >= 12 else None

        assert wait_for(outcomes, timeout=90, what="the twelve records handled") == {
            "accepted": 10,
            "rejected": 2,
        }
        letters = wait_for(
            lambda: [
                orjson.loads(r)
                for r in asyncio.run(read_topic(kafka_bootstrap, settings.topic("deadletter")))
            ],
            timeout=20,
            what="the two unattributable records in the dead-letter topic",
        )
        assert sorted((d["reason"], orjson.loads(d["original"])["id"]) for d in letters) == [
            ("unknown_tenant", "e-ghost"),
            ("unknown_tenant", "e-nobody"),
        ]
        details = {orjson.loads(d["original"])["id"]: d["detail"] for d in letters}
        assert details["e-ghost"].startswith("tenant 'ghost' is not in the tenants file")
        assert details["e-nobody"].startswith("no teampulse-tenant header")
        samples = worker.metrics()
        assert samples[("teampulse_dead_letters_total", (("reason", "unknown_tenant"),))] == 2
        assert samples[("teampulse_tenants", ())] == 2

        # The team state holds each event with its tenant and its tenant's pseudonym.
        state = b"".join(asyncio.run(read_topic(kafka_bootstrap, settings.topic("team-state"))))
        for tenant, key in (("acme", ACME_KEY), ("globex", GLOBEX_KEY)):
            pseudonym = Pseudonymiser(key).person("jane.doe@example.com")
            assert f'"actor":"{pseudonym}"'.encode() in state
            assert f'"tenant":"{tenant}"'.encode() in state
        # `produce --tenant acme` keyed its person with acme's key too
        john = Pseudonymiser(ACME_KEY).person("john@example.com")
        assert f'"actor":"{john}"'.encode() in state
        # globex's forged field changed nothing: acme's are e-acme, e-produced and c-0..c-4
        assert state.count(b'"tenant":"acme"') == 7
        assert b"jane" not in state
        assert worker.alive()
        nothing_leaks(worker, settings, kafka_bootstrap)
        own_settings_follow_the_file(worker, settings, tenants_file)
        suspend_resume_and_delete(worker, settings, kafka_bootstrap, tenants_file)
    finally:
        worker.stop()
    # The log names tenants where it names a record's owner, never a person.
    assert "@example.com" not in worker.log_tail(100_000)


def get(url: str, authorization: str | None = None) -> tuple[int, Any]:
    request = urllib.request.Request(url)
    if authorization is not None:
        request.add_header("Authorization", authorization)
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            body = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        body, status = error.read(), error.code
    try:
        return status, orjson.loads(body)
    except orjson.JSONDecodeError:
        return status, body.decode()


def bearer(token: str) -> str:
    return f"Bearer {token}"


def nothing_leaks(worker: WorkerProcess, settings: Settings, bootstrap: str) -> None:
    """Every output of the two tenants, seen from each side."""

    def team_series() -> dict[tuple[str, str, str], float] | None:
        found = {
            (labels.get("tenant", ""), labels.get("team", ""), name): value
            for (name, raw), value in worker.metrics().items()
            for labels in [dict(raw)]
            if name.startswith("teampulse_team_") and labels.get("window") in (None, "7d")
        }
        # every event counted (the export may show a roster team before its events)
        published = (
            found.get(("acme", "red", "teampulse_team_completions")) == 7
            and found.get(("globex", "red", "teampulse_team_completions")) == 3
        )
        return (
            found
            if published and ("acme", "acme-only", "teampulse_team_members") in found
            else None
        )

    series = wait_for(team_series, timeout=60, what="both tenants' teams on /metrics")
    assert {tenant for tenant, _, _ in series} == {"acme", "globex"}  # no series lacks a tenant
    assert series[("acme", "red", "teampulse_team_members")] == 5
    assert series[("globex", "red", "teampulse_team_members")] == 6
    # acme: its 5 completions, jane's and john's; globex: its 2 and jane's
    assert series[("acme", "red", "teampulse_team_completions")] == 7
    assert series[("globex", "red", "teampulse_team_completions")] == 3
    orgs = {
        dict(labels)["tenant"]: value
        for (name, labels), value in worker.metrics().items()
        if name == "teampulse_org_members"
    }
    assert orgs == {"acme": 10, "globex": 6}
    usage = {
        (name, dict(labels)["tenant"]): value
        for (name, labels), value in worker.metrics().items()
        if name.startswith("teampulse_tenant_") and "tenant" in dict(labels)
    }
    assert usage[("teampulse_tenant_people", "acme")] == 10
    assert usage[("teampulse_tenant_people", "globex")] == 6
    # acme: e-acme, e-produced, c-0..c-4; globex: e-globex, c-0, c-1
    assert usage[("teampulse_tenant_events_total", "acme")] == 7
    assert usage[("teampulse_tenant_events_total", "globex")] == 3
    assert usage[("teampulse_tenant_teams", "acme")] == 2

    # Redis: each tenant's keys under its own prefix, nothing at the top.
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        keys = wait_for(
            lambda: (
                (found := set(client.scan_iter(f"{settings.redis_prefix}*")))
                and f"{settings.redis_prefix}tenant:globex:org" in found
                and found
            ),
            timeout=30,
            what="both tenants' figures in Redis",
        )
        prefixes = {f"{settings.redis_prefix}tenant:{t}:" for t in ("acme", "globex")}
        assert all(any(key.startswith(p) for p in prefixes) for key in keys), sorted(keys)
        acme_red = client.hgetall(f"{settings.redis_prefix}tenant:acme:team:red")
        globex_red = client.hgetall(f"{settings.redis_prefix}tenant:globex:team:red")
        assert (acme_red["members"], globex_red["members"]) == ("5", "6")
        assert acme_red["department"] == globex_red["department"] == "sales"
    finally:
        client.close()

    # The read API: a read token sees its tenant only, no token sees nothing.
    url = worker.url
    for path in ("/teams", "/teams/red", "/org", "/departments", "/"):
        status, body = get(url + path)
        assert status == 401 and "read token" in str(body), (path, body)
    assert get(url + "/teams", bearer(ACME_READ)) == (200, {"teams": ["acme-only", "red"]})
    assert get(url + "/teams", bearer(GLOBEX_READ)) == (200, {"teams": ["red"]})
    assert get(url + "/teams/acme-only", bearer(GLOBEX_READ))[0] == 404
    status, red = get(url + "/teams/red", bearer(GLOBEX_READ))
    assert (status, red["key"], red["plain"]["members"]) == (200, "red", 6)
    assert red["info"] == {"department": "sales", "division": "emea"}
    assert get(url + "/departments", bearer(GLOBEX_READ)) == (200, {"departments": ["sales"]})
    assert get(url + "/departments/acme-dept", bearer(GLOBEX_READ))[0] == 404
    assert get(url + "/org", bearer(ACME_READ))[1]["plain"]["members"] == 10
    status, overview = get(url + "/", bearer(GLOBEX_READ))
    assert status == 200 and "acme" not in overview

    # The web app's team page, as a browser sends the token.
    asyncio.run(web_pages(settings))

    # Kafka, read raw: no e-mail address of either tenant past the door (the input topic
    # holds this test's two raw records that no tenant sent; they are dead letters).
    for topic in ("team-state", "team-counts", "roster"):  # one worker: by-team in memory
        raw = b"".join(asyncio.run(read_topic(bootstrap, settings.topic(topic))))
        assert raw and b"@example.com" not in raw, topic


# acme's own settings, written into the tenants file while the worker runs.
ACME_SETTINGS = {
    "scoring": {
        "engagement": {
            "weights": {
                "participation": 1,
                "learning_intensity": 0,
                "conversation": 0,
                "conversation_quality": 0,
            }
        }
    },
    "initiatives": [
        {
            "id": "acme-way",
            "stages": {"knowledge": [{"type": "learning.completed", "content": "course:agile"}]},
        }
    ],
    "alert_route": "l-and-d-acme",
    "retention": "3d",
}


def own_settings_follow_the_file(worker: WorkerProcess, settings: Settings, tenants_file: Path):
    """acme's scoring, initiatives, alert route and retention, set in the file while the
    worker runs, apply to acme's teams at the next export and to nothing of globex's."""

    def red(tenant: str) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for (name, raw), value in worker.metrics().items():
            labels = dict(raw)
            if labels.get("tenant") != tenant or labels.get("team") != "red":
                continue
            if name == "teampulse_team_info":
                found["alert_route"] = labels.get("alert_route")
            elif name == "teampulse_team_engagement_score" and labels["window"] == "7d":
                found["score"] = value
            elif name == "teampulse_adoption_members" and labels["stage"] == "knowledge":
                found[labels["initiative"]] = value
        return found

    globex_before = red("globex")
    raw = read_raw(tenants_file)
    raw["tenants"]["acme"].update(ACME_SETTINGS)
    write_raw(tenants_file, raw)
    # The route is on /metrics from the reload, the score from the next export: wait for both.
    # Everyone of acme's red took part (7 active, 5 members): participation 1, its only weight.
    # Its own initiative replaces the deployment's, from the events after the change on.
    wanted = {"alert_route": "l-and-d-acme", "score": 1.0, "acme-way": 0}
    wait_for(
        lambda: red("acme") == wanted,
        timeout=30,
        what=f"acme's own settings on its team red: {wanted}",
    )
    completed = event("k-1", actor="p0@example.com")
    assert asyncio.run(through_the_edge(settings, b"acme-lms:acme-secret", completed)) == 200
    wait_for(
        lambda: red("acme").get("acme-way") == 1,
        timeout=30,
        what="acme's completion as evidence of its own initiative",
    )
    assert red("globex") == globex_before  # globex: the deployment's settings, no route
    assert globex_before["score"] < 1.0 and globex_before.get("alert_route") is None
    # Its history in Redis is kept for its 3 days, not TEAMPULSE_REDIS_HISTORY_DAYS.
    client = redis.Redis.from_url(settings.redis_url)
    try:
        ttl = client.ttl(f"{settings.redis_prefix}tenant:acme:team:red:history")
        assert 0 < ttl <= 3 * 86_400
        ttl = client.ttl(f"{settings.redis_prefix}tenant:globex:team:red:history")
        assert ttl > 3 * 86_400
    finally:
        client.close()


def suspend_resume_and_delete(
    worker: WorkerProcess, settings: Settings, bootstrap: str, tenants_file: Path
) -> None:
    """The lifecycle of acme while globex carries on: suspended (refused with the reason,
    data kept), resumed, deleted (its state, series, Redis keys and key gone; a replay of its
    input records dead-letters instead of rebuilding it)."""
    write_raw(tenants_file, suspended(read_raw(tenants_file), "acme", True))
    refused = asyncio.run(through_the_edge_body(settings, b"acme-lms:acme-secret", event("s-1")))
    assert refused[0] == 403 and refused[1]["error"] == "tenant_suspended", refused
    assert ("acme", "red") in teams_on_metrics(worker)  # its data is kept
    write_raw(tenants_file, suspended(read_raw(tenants_file), "acme", False))
    assert asyncio.run(through_the_edge(settings, b"acme-lms:acme-secret", event("s-2"))) == 200

    acme_input = [
        r
        for r in asyncio.run(read_topic_records(bootstrap, settings.topic("events")))
        if (TENANT_HEADER, b"acme") in list(r.headers)
    ]
    assert len(acme_input) >= 8  # e-acme, s-2 and what `produce --tenant acme` sent
    write_raw(tenants_file, deleted(read_raw(tenants_file), "acme"))
    assert ACME_KEY not in tenants_file.read_text()  # its pseudonym key is destroyed

    wait_for(
        lambda: {t for t, _ in teams_on_metrics(worker)} == {"globex"},
        timeout=30,
        what="acme's series gone from /metrics, globex's kept",
    )
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    try:
        prefix = settings.redis_prefix
        left = wait_for(
            lambda: not list(client.scan_iter(f"{prefix}tenant:acme:*")) and ["none"],
            timeout=10,
            what="acme's Redis keys removed",
        )
        assert left == ["none"]
        assert client.hget(f"{prefix}tenant:globex:team:red", "members") == "6"
    finally:
        client.close()
    assert get(worker.url + "/teams", bearer(ACME_READ))[0] == 401  # its read token is gone
    assert worker.log_lines("tenant=acme deleted")

    # Replaying its input records (written with its header) cannot rebuild its gauges.
    letters_before = worker.metrics()[
        ("teampulse_dead_letters_total", (("reason", "unknown_tenant"),))
    ]
    for record in acme_input:
        asyncio.run(
            straight_to_kafka(bootstrap, settings.topic("events"), orjson.loads(record.value),
                              list(record.headers))
        )  # fmt: skip
    wait_for(
        lambda: (
            worker.metrics()[("teampulse_dead_letters_total", (("reason", "unknown_tenant"),))]
            == letters_before + len(acme_input)
        ),
        timeout=30,
        what="the replayed records dead-lettered as unknown_tenant",
    )
    assert {t for t, _ in teams_on_metrics(worker)} == {"globex"}


def teams_on_metrics(worker: WorkerProcess) -> set[tuple[str, str]]:
    return {
        (dict(labels).get("tenant", ""), dict(labels)["team"])
        for (name, labels), _ in worker.metrics().items()
        if name == "teampulse_team_members"
    }


async def through_the_edge_body(
    settings: Settings, user_and_secret: bytes, sent: dict
) -> tuple[int, Any]:
    """`through_the_edge`, with the endpoint's JSON answer."""
    producer = ingest_producer(settings)
    await producer.start()
    server = TestServer(build_ingest_app(settings, producer), host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as http:
            response = await http.post(
                str(server.make_url("/events")),
                data=orjson.dumps([sent]),
                headers={"Authorization": "Basic " + base64.b64encode(user_and_secret).decode()},
            )
            return response.status, await response.json()
    finally:
        await server.close()
        await producer.stop()


async def read_topic_records(bootstrap: str, topic: str) -> list[ConsumerRecord]:
    consumer = AIOKafkaConsumer(
        topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", enable_auto_commit=False
    )
    await consumer.start()
    try:
        found: list[ConsumerRecord] = []
        while batch := await consumer.getmany(timeout_ms=2000):
            for records in batch.values():
                found.extend(records)
        return found
    finally:
        await consumer.stop()


async def web_pages(settings: Settings) -> None:
    def basic(tenant: str, token: str) -> str:
        return "Basic " + base64.b64encode(f"{tenant}:{token}".encode()).decode()

    server = TestServer(make_app(settings), host="127.0.0.1")
    await server.start_server()
    try:
        async with ClientSession() as http:

            async def page(path: str, authorization: str | None = None) -> tuple[int, str]:
                headers = {"Authorization": authorization} if authorization else {}
                async with http.get(str(server.make_url(path)), headers=headers) as response:
                    return response.status, await response.text()

            status, _ = await page("/teams/red")
            assert status == 401
            assert (await page("/teams/acme-only", basic("acme", ACME_READ)))[0] == 200
            assert (await page("/teams/acme-only", basic("globex", GLOBEX_READ)))[0] == 404
            assert (await page("/teams/acme-only", basic("acme", GLOBEX_READ)))[0] == 401
            status, home = await page("/", basic("globex", GLOBEX_READ))
            assert status == 200 and "red" in home and "acme" not in home
    finally:
        await server.close()
