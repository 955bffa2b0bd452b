"""The whole pipeline on the real broker, Redis and Prometheus: a scripted week of three teams.

One worker runs for the module with a frozen clock, so every gauge has one exact value. The
values are written out by hand for the gauges an L&D lead reads first, and every published
series is compared with the reference model.
"""

from __future__ import annotations

import asyncio
import base64
import datetime as dt
import math
import shutil
import subprocess
import urllib.parse
import urllib.request
from pathlib import Path

import orjson
import pytest
import redis
from aiokafka.admin import AIOKafkaAdminClient

from teampulse.gauges.model import OrgSnapshot
from teampulse.kafka.topics import ensure_topics
from teampulse.settings import Settings, settings_from_environment
from teampulse.sinks.redis_writer import json_number
from tests.integration.expectations import (
    mismatches,
    published_teams,
    reference_for,
    reference_series,
)
from tests.integration.worker_harness import (
    WorkerProcess,
    free_port,
    isolated_environment,
    produce,
    read_topic,
    wait_for,
)
from tests.support import scripted_week as week

pytestmark = pytest.mark.integration

SECRET = "scripted-week-secret"
TEAMS = ("atlas", "borealis", "comet")


@pytest.fixture(scope="module")
def pipeline(kafka_bootstrap: str, redis_url: str, tmp_path_factory: pytest.TempPathFactory):
    env = isolated_environment(
        "week",
        kafka_bootstrap=kafka_bootstrap,
        redis_url=redis_url,
        clock=week.AS_OF,
        pseudonym_secret=SECRET,
        data_dir=str(tmp_path_factory.mktemp("worker-data")),
    )
    settings = settings_from_environment(env)
    worker = WorkerProcess(env, tmp_path_factory.mktemp("logs") / "worker.log", free_port())
    asyncio.run(ensure_topics(settings))
    worker.start()
    roster = [(r["person"].encode(), orjson.dumps(r)) for r in week.roster_records()]
    asyncio.run(produce(kafka_bootstrap, settings.topic("roster"), roster))
    # One input partition keeps arrival order = script order, so lateness is deterministic.
    events = [(None, orjson.dumps(e)) for e in week.scripted_events()]
    asyncio.run(produce(kafka_bootstrap, settings.topic("events"), events, partition=0))
    try:
        expected = reference_series(reference(settings))
        wait_for(
            lambda: not mismatches(expected, worker.metrics()),
            timeout=90,
            what="the scripted week on /metrics",
        )
        yield worker, settings
    finally:
        worker.stop()
        if not worker.alive():
            pass


async def consumer_groups_of(bootstrap: str, app_id: str) -> set[str]:
    admin = AIOKafkaAdminClient(bootstrap_servers=bootstrap)
    await admin.start()
    try:
        groups = await admin.list_consumer_groups()
    finally:
        await admin.close()
    return {group for group, *_ in groups if group == app_id or group.startswith(f"{app_id}.")}


def test_the_worker_is_a_member_of_one_consumer_group(pipeline, kafka_bootstrap):
    """Faust starts no consumer of its own: the engine's batch loop is the only member."""
    _worker, settings = pipeline
    groups = asyncio.run(consumer_groups_of(kafka_bootstrap, settings.app_id))
    assert groups == {f"{settings.app_id}.hot"}


def reference(settings: Settings) -> OrgSnapshot:
    return reference_for(week.scripted_events(), week.roster_records(), settings, week.AS_OF_EPOCH)


def gauge(worker: WorkerProcess, name: str, **labels: str) -> float | None:
    return worker.metrics().get((f"teampulse_{name}", tuple(sorted(labels.items()))))


def test_engaged_team_gauges_are_exact_on_metrics(pipeline):
    worker, _ = pipeline
    week7 = {"team": "atlas", "window": "7d"}
    assert gauge(worker, "team_members", team="atlas") == 6
    assert gauge(worker, "team_active_members", **week7) == 6
    assert gauge(worker, "team_participation_ratio", **week7) == 1.0
    assert gauge(worker, "team_learning_seconds", **week7) == 10800
    assert gauge(worker, "team_completions", **week7) == 6
    assert gauge(worker, "team_posts", **week7) == 2
    assert gauge(worker, "team_replies", **week7) == 2
    assert gauge(worker, "team_reactions", **week7) == 2
    assert gauge(worker, "team_contributors", **week7) == 4
    assert gauge(worker, "team_reply_ratio", **week7) == 1.0
    assert gauge(worker, "team_first_reply_median_seconds", **week7) == 2100
    assert gauge(worker, "team_thread_depth", **week7) == 1.5
    assert gauge(worker, "team_voice_evenness", **week7) == pytest.approx(1.0)
    # atlas->atlas twice, borealis->atlas once: one crossing interaction of three
    assert gauge(worker, "team_cross_team_ratio", **week7) == pytest.approx(1 / 3)


def test_the_network_and_content_of_the_week_are_exact_on_metrics_redis_and_the_api(pipeline):
    """docs/gauges.md, worked example: a reply from borealis to atlas and atlas's reaction
    to it are 2 in the cell each side of the matrix (both teams published) and, both ways,
    a breadth of 1 for each; the one cross-team thread is theirs (bridging); atlas's first
    answers from a teammate and from another team are told apart; and the course's content
    gauges, worked out by hand there, on /metrics, in Redis and on the API."""
    worker, settings = pipeline
    # borealis's answer and atlas's reaction to it: 2 interactions, one each way
    assert (
        gauge(worker, "team_interactions", team="atlas", other_team="borealis", window="28d") == 2
    )
    assert (
        gauge(worker, "team_interactions", team="borealis", other_team="atlas", window="28d") == 2
    )
    cells = {labels for name, labels in worker.metrics() if name == "teampulse_team_interactions"}
    assert len(cells) == 2  # comet talks only to itself: no cell
    breadth = {t: gauge(worker, "team_cross_team_breadth", team=t, window="28d") for t in TEAMS}
    assert breadth == {"atlas": 1, "borealis": 1, "comet": 0}
    # One cross-team thread in the organisation, atlas's T2 answered by borealis: both took
    # part in it, comet in none.
    bridging = {t: gauge(worker, "team_bridging_share", team=t, window="28d") for t in TEAMS}
    assert bridging == {"atlas": 1.0, "borealis": 1.0, "comet": 0.0}
    # atlas's T1 answered by a teammate after 600 s, its T2 by borealis after 3,600 s
    week7 = {"team": "atlas", "window": "7d"}
    assert gauge(worker, "team_first_within_reply_median_seconds", **week7) == 600
    assert gauge(worker, "team_first_cross_reply_median_seconds", **week7) == 3600
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    prefix = settings.redis_prefix
    assert client.hget(f"{prefix}team:atlas", "interactions:28d:borealis") == "2"
    assert client.hget(f"{prefix}team:comet", "interactions:28d:atlas") is None
    assert client.hget(f"{prefix}team:atlas", "bridging_share:28d") == "1"
    assert client.hget(f"{prefix}team:comet", "bridging_share:28d") == "0"

    # The course: 8 learners and completers (atlas 6, borealis 1, dune 1: the small team counts
    # in the tenant's table, which names no team); T1 and T2 are tagged with it: 2 posts, 3
    # replies by 5 people; 3 of the 8 practised within 14 d; of the 6 others in their teams
    # (borealis 4, dune 2) 1 practised: uplift 3/8 - 1/6.
    expected = {
        "learners": 8, "completers": 8, "conversation_posts": 2, "conversation_replies": 3,
        "conversation_contributors": 5, "needs_attention": 0,
    }  # fmt: skip
    shares = {"practice_ratio": 3 / 8, "others_practice_ratio": 1 / 6}
    shares["practice_uplift"] = 3 / 8 - 1 / 6
    for key in (week.COURSE, "agile-course-*"):
        item = {"content": key, "initiative": "agile-ways-of-working", "window": "7d"}
        for name, value in expected.items():
            assert gauge(worker, f"content_{name}", **item) == value, (key, name)
        for name, value in shares.items():
            for within in ("14d", "28d"):
                found = gauge(worker, f"content_{name}", **item, within=within)
                assert found == pytest.approx(value), (key, name, within)
    assert gauge(worker, "content_items", initiative="agile-ways-of-working") == 2
    assert gauge(worker, "content_needs_attention_items", initiative="agile-ways-of-working") == 0
    row = orjson.loads(
        wait_for(
            lambda: client.hget(f"{prefix}content", week.COURSE),
            timeout=30,
            what="the course's row of the content table in Redis",
        )
    )
    assert row["initiative"] == "agile-ways-of-working"
    assert row["windowed"]["28d"]["practice_uplift_within_14d"] == json_number(3 / 8 - 1 / 6)
    status, body = worker.get_json("/content?initiative=agile-ways-of-working")
    assert status == 200
    assert [r["key"] for r in body["content"]] == ["agile-course-*", week.COURSE]
    assert body["content"][1]["windowed"]["7d"]["learners"] == 8


def test_quiet_team_gauges_are_exact_on_metrics(pipeline):
    worker, _ = pipeline
    week7 = {"team": "borealis", "window": "7d"}
    assert gauge(worker, "team_active_members", **week7) == 2
    assert gauge(worker, "team_participation_ratio", **week7) == 0.4
    assert gauge(worker, "team_starts", **week7) == 1
    assert gauge(worker, "team_posts", **week7) == 0
    assert gauge(worker, "team_replies", **week7) == 1
    assert gauge(worker, "team_voice_evenness", **week7) == 0.0
    assert gauge(worker, "team_reply_ratio", **week7) is None  # started no thread
    assert gauge(worker, "team_cross_team_ratio", **week7) == 1.0


def test_silo_team_talks_only_to_itself(pipeline):
    worker, _ = pipeline
    week7 = {"team": "comet", "window": "7d"}
    assert gauge(worker, "team_participation_ratio", **week7) == 0.6
    assert gauge(worker, "team_posts", **week7) == 1
    assert gauge(worker, "team_replies", **week7) == 2
    assert gauge(worker, "team_thread_depth", **week7) == 2.0
    assert gauge(worker, "team_first_reply_median_seconds", **week7) == 300
    assert gauge(worker, "team_cross_team_ratio", **week7) == 0.0
    evenness = -(2 / 3 * math.log(2 / 3) + 1 / 3 * math.log(1 / 3)) / math.log(2)
    assert gauge(worker, "team_voice_evenness", **week7) == pytest.approx(evenness)
    adoption = {"team": "comet", "initiative": "digital-workplace"}
    assert gauge(worker, "adoption_members", **adoption, stage="ability") == 1
    assert gauge(worker, "adoption_members", **adoption, stage="none") == 4
    assert gauge(worker, "adoption_ratio", **adoption) == 0.2


def test_no_group_of_three_can_be_derived_by_subtraction(pipeline):
    worker, _ = pipeline
    names = {name for name, _ in worker.metrics()}
    scopes = {labels for _, labels in worker.metrics()}
    # dune (3) is not published, and neither is anything that minus comet, or minus the
    # engineering figures, would give dune's: sales, go-to-market, the organisation.
    assert not [labels for labels in scopes if ("team", "dune") in labels]
    assert gauge(worker, "department_members", department="sales") is None
    assert gauge(worker, "division_members", division="go-to-market") is None
    assert gauge(worker, "division_members", division="product") == 11
    assert not [name for name in names if name.startswith("teampulse_org_")]
    week7 = {"window": "7d"}
    assert gauge(worker, "department_members", department="engineering") == 11
    assert gauge(
        worker, "department_participation_ratio", department="engineering", **week7
    ) == pytest.approx(8 / 11)
    assert gauge(worker, "division_active_members", division="product", **week7) == 8
    assert (
        gauge(worker, "team_info", team="comet", department="sales", division="go-to-market") == 1
    )


def test_every_published_series_equals_the_reference_model(pipeline):
    worker, settings = pipeline
    expected = reference(settings)
    series = reference_series(expected)
    assert set(expected.teams) == {"atlas", "borealis", "comet"}
    assert len(series) > 100
    assert mismatches(series, worker.metrics()) == []
    assert published_teams(worker.metrics()) == {"atlas", "borealis", "comet"}


def test_redis_holds_the_same_gauges(pipeline):
    worker, settings = pipeline
    client = redis.Redis.from_url(settings.redis_url, decode_responses=True)
    prefix = settings.redis_prefix
    atlas = client.hgetall(f"{prefix}team:atlas")
    assert float(atlas["participation_ratio:7d"]) == 1.0
    assert float(atlas["posts:7d"]) == 2
    assert float(atlas["members"]) == 6
    assert client.smembers(f"{prefix}teams") == {"atlas", "borealis", "comet"}
    assert not client.exists(f"{prefix}team:dune")
    assert float(client.hgetall(f"{prefix}department:engineering")["active_members:7d"]) == 8
    assert not client.exists(f"{prefix}department:sales")
    assert client.smembers(f"{prefix}departments") == {"engineering"}
    comet_dw = client.hgetall(f"{prefix}team:comet:initiative:digital-workplace")
    assert float(comet_dw["members:ability"]) == 1
    updates = client.xrange(f"{prefix}updates")
    assert {entry["key"] for _, entry in updates} >= {"atlas", "borealis", "comet"}


def test_read_api_serves_published_teams_and_404s_the_rest(pipeline):
    worker, _ = pipeline
    status, body = worker.get_json("/teams/atlas")
    assert status == 200
    assert body["windowed"]["7d"]["posts"] == 2
    status, body = worker.get_json("/teams/dune")
    assert status == 404 and "minimum group size" in body["detail"]
    status, body = worker.get_json("/teams/comet/initiatives/digital-workplace")
    assert status == 200 and body["stage_members"]["ability"] == 1
    status, _ = worker.get_json("/teams/nobody-knows")
    assert status == 404


def test_read_api_serves_exactly_the_published_rollups(pipeline):
    worker, settings = pipeline
    published = {(r.scope, r.key): r for r in reference(settings).rollups}
    # sales, go-to-market and the organisation would each reveal dune's three people (by
    # subtraction of the published groups inside them): only these two are published
    assert set(published) == {("department", "engineering"), ("division", "product")}
    departments = sorted(key for scope, key in published if scope == "department")
    wait_for(
        lambda: worker.get_json("/departments") == (200, {"departments": departments}),
        timeout=60,
        what="the published departments on GET /departments",
    )
    for (scope, key), expected in published.items():
        status, body = worker.get_json("/org" if scope == "org" else f"/{scope}s/{key}")
        assert status == 200, (scope, key, body)
        assert body["windowed"] == {
            window: {g: json_number(v) for g, v in gauges.items() if v is not None}
            for window, gauges in expected.windowed.items()
        }
        assert body["plain"] == {
            g: json_number(v) for g, v in expected.plain.items() if v is not None
        }
        assert set(body["initiatives"]) == set(expected.initiatives)
    for withheld in ("/departments/sales", "/divisions/go-to-market", "/org"):
        status, body = worker.get_json(withheld)
        assert status == 404 and "not published" in body["detail"], withheld
    assert worker.get_json("/divisions") == (200, {"divisions": ["product"]})


def test_the_worker_serves_its_openapi_description(pipeline):
    worker, _ = pipeline
    status, document = worker.get_json("/openapi.json")
    assert status == 200
    assert document["openapi"].startswith("3.")
    assert {"/teams/{team}", "/departments/{department}", "/org"} <= set(document["paths"])


def test_pipeline_health_counts_every_event_and_reports_lag(pipeline):
    worker, settings = pipeline
    script = week.scripted_events()

    def drained():
        samples = worker.metrics()
        lags = {
            dict(labels)["partition"]: value
            for (name, labels), value in samples.items()
            if name == "teampulse_consumer_lag"
            and dict(labels)["topic"] == settings.topic("events")
        }
        return samples if len(lags) == 4 and not any(lags.values()) else None

    samples = wait_for(drained, timeout=30, what="consumer lag 0 on every events partition")
    accepted = sum(
        value
        for (name, labels), value in samples.items()
        if name == "teampulse_events_total" and ("outcome", "accepted") in labels
    )
    assert accepted == len(script)
    latest_lms = max(e["occurred_at"] for e in script if e["source"] == "lms")
    assert samples[("teampulse_last_event_timestamp_seconds", (("source", "lms"),))] == (
        dt.datetime.fromisoformat(latest_lms.replace("Z", "+00:00")).timestamp()
    )
    assert samples[("teampulse_event_time_lag_seconds_count", ())] == len(script)


def test_raw_emails_reach_no_state_topic_redis_or_metrics(pipeline, kafka_bootstrap):
    worker, settings = pipeline
    assert "@example.com" not in (worker.metrics_text() or "")
    client = redis.Redis.from_url(settings.redis_url)
    for key in client.scan_iter(f"{settings.redis_prefix}*"):
        kind = client.type(key)
        dump = repr(client.hgetall(key) if kind == b"hash" else client.dump(key))
        assert b"@example.com" not in dump.encode(), key
    # One worker owns every partition: events reach the team and thread stages in memory,
    # so the repartition topics may stay empty; the state logs hold every event.
    for name, written in (
        ("by-team", False),
        ("by-thread", False),
        ("thread-facts", False),
        ("team-state", True),
        ("thread-state", True),
        ("team-counts", True),
    ):
        records = asyncio.run(read_topic(kafka_bootstrap, settings.topic(name)))
        assert records or not written, name
        assert not [r for r in records if b"@example.com" in r], name


def test_each_bad_input_lands_in_the_dead_letter_topic_with_its_reason(pipeline, kafka_bootstrap):
    worker, settings = pipeline
    bad = week.malformed_records()
    asyncio.run(
        produce(kafka_bootstrap, settings.topic("events"), [(None, raw) for raw in bad.values()])
    )
    # An atlas event from 6 days ago, after atlas has seen 2 days ago: beyond 48 h late.
    late = {
        "id": "late-1",
        "type": "learning.started",
        "occurred_at": "2026-03-03T12:00:00Z",
        "actor": week.person("atlas", 1),
        "team": "atlas",
        "source": "lms",
        "content": "c",
    }
    # Lateness is judged per input stream: the week came on partition 0, so does this.
    asyncio.run(
        produce(
            kafka_bootstrap, settings.topic("events"), [(None, orjson.dumps(late))], partition=0
        )
    )
    statements = week.malformed_statements()
    asyncio.run(
        produce(
            kafka_bootstrap, settings.topic("xapi"), [(None, raw) for raw in statements.values()]
        )
    )

    expected = set(bad) | set(statements) | {"late"}
    found: dict[str, dict] = {}

    def dead_letters() -> dict[str, dict] | None:
        for raw in asyncio.run(read_topic(kafka_bootstrap, settings.topic("deadletter"))):
            letter = orjson.loads(raw)
            found[letter["reason"]] = letter
        return found if set(found) >= expected else None

    try:
        letters = wait_for(dead_letters, timeout=30, what="one dead letter per bad input")
    except AssertionError:
        raise AssertionError(f"no dead letter for {sorted(expected - set(found))}") from None
    for reason, raw in bad.items():
        assert letters[reason]["topic"] == settings.topic("events")
        assert base64.b64decode(letters[reason]["original_b64"]) == raw
    for reason in statements:
        assert letters[reason]["topic"] == settings.topic("xapi")
        assert letters[reason]["detail"]
    assert letters["late"]["topic"] == settings.topic("events")
    assert worker.alive()
    counted = worker.metrics()
    for reason in [*bad, *statements, "late"]:
        assert counted[("teampulse_dead_letters_total", (("reason", reason),))] >= 1
    # the late event changed nothing
    assert gauge(worker, "team_starts", team="atlas", window="28d") == 0


PROMETHEUS_CONFIG = """
global: {{scrape_interval: 1s, evaluation_interval: 1s}}
scrape_configs:
  - job_name: teampulse-worker
    static_configs: [{{targets: ['127.0.0.1:{port}']}}]
"""


def test_prometheus_server_scrapes_the_same_values(pipeline, tmp_path: Path):
    worker, _ = pipeline
    binary = shutil.which("prometheus")
    assert binary, "prometheus is installed by deploy/stack/ensure-packages.sh"
    config = tmp_path / "prometheus.yml"
    config.write_text(PROMETHEUS_CONFIG.format(port=worker.web_port))
    port = free_port()
    server = subprocess.Popen(
        [
            binary,
            f"--config.file={config}",
            f"--storage.tsdb.path={tmp_path / 'tsdb'}",
            f"--web.listen-address=127.0.0.1:{port}",
        ],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def query(expr: str) -> list[dict] | None:
            url = f"http://127.0.0.1:{port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
            try:
                with urllib.request.urlopen(url, timeout=3) as response:
                    return orjson.loads(response.read())["data"]["result"] or None
            except OSError:
                return None

        result = wait_for(
            lambda: query('teampulse_team_participation_ratio{window="7d"}'),
            timeout=60,
            what="Prometheus to scrape the worker",
        )
        by_team = {r["metric"]["team"]: float(r["value"][1]) for r in result}
        assert by_team == {"atlas": 1.0, "borealis": 0.4, "comet": 0.6}
        # roll-ups from team counts in PromQL agree with the worker's own roll-up
        summed = query('sum(teampulse_team_active_members{window="7d"})')
        assert summed and float(summed[0]["value"][1]) == 6 + 2 + 3  # dune is not published
    finally:
        server.terminate()
        server.wait(timeout=20)


def headless(chromium: str, profile: Path, *args: str) -> subprocess.CompletedProcess[str]:
    # The flags keep Chromium off the network (none is reachable here) and out of the sandbox
    # (tests run as root); a fresh profile per run.
    return subprocess.run(
        [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", *args],
        capture_output=True, text=True, timeout=90, stdin=subprocess.DEVNULL, check=False,
    )  # fmt: skip


def test_the_overview_page_renders_the_published_teams_in_chromium(
    pipeline, chromium: str, artifacts_dir: Path, tmp_path: Path
):
    worker, settings = pipeline
    wait_for(lambda: worker.get_json("/teams")[0] == 200, timeout=30, what="the read API")

    dom = headless(chromium, tmp_path / "profile-dom", "--dump-dom", worker.url + "/")
    screenshot = artifacts_dir / "overview.png"
    shot = headless(
        chromium, tmp_path / "profile-shot", f"--screenshot={screenshot}",
        "--window-size=1400,600", worker.url + "/",
    )  # fmt: skip

    assert dom.returncode == 0, dom.stderr[-2000:]
    for team in ("atlas", "borealis", "comet"):
        assert f'data-team="{team}"' in dom.stdout
    assert 'data-team="dune"' not in dom.stdout  # below the minimum group size
    assert "3 teams published" in dom.stdout
    assert "<svg" in dom.stdout  # the sparkline of the history Redis holds
    assert shot.returncode == 0, shot.stderr[-2000:]
    assert screenshot.stat().st_size > 10_000
