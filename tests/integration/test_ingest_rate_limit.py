"""The ingest endpoint's per-credential rate limit over real HTTP and the real broker: 429
with Retry-After past the burst, nothing written for a refused request, accepted again once
the bucket refilled, and the refusals counted by code.

Each test has its own one-partition topics (`unique_topic_prefix`), so the records on them are
exactly the ones the endpoint accepted.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator

import orjson
import pytest

from tests.integration.test_http_ingest import (
    BEARER,
    V1,
    Ingest,
    canonical,
    ingest_settings,
    start_ingest,
    statement,
)
from tests.integration.worker_harness import parse_metrics

pytestmark = pytest.mark.integration

# Slow enough that a loaded machine cannot earn a token back while a test sends its burst.
RATE_PER_S = 0.5
BURST = 3
REFILL_S = 1 / RATE_PER_S
SLACK_SECRET = "slack-signing-secret"


@pytest.fixture
async def limited(kafka_bootstrap: str, unique_topic_prefix: str) -> AsyncIterator[Ingest]:
    settings = ingest_settings(
        kafka_bootstrap,
        unique_topic_prefix,
        ingest_rate_per_s=RATE_PER_S,
        ingest_rate_burst=BURST,
        slack_signing_secret=SLACK_SECRET,
        clock="wall",  # Slack's signature check compares its timestamp with the clock
    )
    running, stop = await start_ingest(settings)
    try:
        yield running
    finally:
        await stop()


async def record_ids(ingest: Ingest, route: str) -> list[str]:
    return [record.key.decode() for record in await ingest.records(route)]


async def test_past_the_burst_a_credential_gets_429_and_after_the_refill_is_accepted(
    limited: Ingest,
):
    sent = [statement() for _ in range(BURST + 2)]
    codes = [(await limited.post("/xAPI/statements", s)).status for s in sent[: BURST + 1]]
    assert codes == [200] * BURST + [429]
    assert await record_ids(limited, "xapi") == [s["id"] for s in sent[:BURST]]

    await asyncio.sleep(REFILL_S + 0.1)
    assert (await limited.post("/xAPI/statements", sent[BURST + 1])).status == 200
    assert await record_ids(limited, "xapi") == [s["id"] for s in sent[:BURST] + sent[BURST + 1 :]]


async def test_a_rate_limited_request_says_why_and_when_to_retry(limited: Ingest):
    for _ in range(BURST):
        await limited.post("/xAPI/statements", statement())
    refused = await limited.post("/xAPI/statements", statement())
    assert refused.status == 429
    assert refused.headers["X-Experience-API-Version"] == "1.0.3"
    body = await refused.json()
    assert body["error"] == "rate_limited"
    assert "for this credential" in body["detail"]
    # The next token is at most 2 s away (0.5/s), rounded up to whole seconds.
    assert body["retry_after_s"] in (1, 2)
    assert refused.headers["Retry-After"] == str(body["retry_after_s"])


async def test_refused_requests_are_counted_by_code_in_the_request_metric(limited: Ingest):
    for _ in range(BURST + 2):
        await limited.post("/xAPI/statements", statement())
    page = await limited.http.get(limited.url + "/metrics")
    metrics = parse_metrics((await page.read()).decode())
    requests = "teampulse_ingest_http_requests_total"
    assert metrics[(requests, (("code", "200"), ("route", "xapi_statements")))] == BURST
    assert metrics[(requests, (("code", "429"), ("route", "xapi_statements")))] == 2


async def test_each_credential_has_its_own_bucket_on_the_events_route(limited: Ingest):
    for _ in range(BURST):
        assert (await limited.post("/xAPI/statements", statement())).status == 200
    assert (await limited.post("/xAPI/statements", statement())).status == 429
    # The Basic user's bucket is empty; the Bearer token's is full, and /events shares it.
    bearer = {"Authorization": BEARER}
    events = [canonical() for _ in range(BURST + 1)]
    codes = [(await limited.post("/events", e, headers=bearer)).status for e in events]
    assert codes == [200] * BURST + [429]
    assert await record_ids(limited, "events") == [e["id"] for e in events[:BURST]]


def slack_delivery(event_id: str) -> tuple[bytes, dict[str, str]]:
    ts = f"{time.time() - 60:.6f}"
    body = orjson.dumps(
        {
            "type": "event_callback",
            "event_id": event_id,
            "team_id": "T0001",
            "event": {
                "type": "message",
                "channel": "C0OPEN",
                "user": "U0ALICE",
                "text": "Who can pair on the migration?",
                "ts": ts,
                "event_ts": ts,
                "channel_type": "channel",
            },
        }
    )
    timestamp = str(int(time.time()))
    base = f"v0:{timestamp}:".encode() + body
    signature = "v0=" + hmac.new(SLACK_SECRET.encode(), base, hashlib.sha256).hexdigest()
    return body, {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": timestamp,
        "X-Slack-Signature": signature,
    }


async def test_a_signed_connector_is_rate_limited_per_platform(limited: Ingest):
    codes = []
    for n in range(BURST + 1):
        body, headers = slack_delivery(f"Ev{n}")
        codes.append((await limited.post("/slack/events", body, headers=headers)).status)
    assert codes == [200] * BURST + [429]
    assert len(await record_ids(limited, "events")) == BURST
    # LRS clients keep their own buckets.
    assert (await limited.post("/xAPI/statements", statement())).status == 200


async def test_refused_and_accepted_requests_log_no_event_contents(
    limited: Ingest, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.INFO)
    wrong = {**V1, "Authorization": "Basic " + base64.b64encode(b"lrs:nope").decode()}
    await limited.post("/xAPI/statements", statement(), headers=wrong)
    await limited.post("/xAPI/statements", statement(verb="not an iri"))
    await limited.post("/xAPI/statements", statement(object={"definition": {"type": {}}}))
    for _ in range(BURST):
        await limited.post("/xAPI/statements", statement())
    assert "rate-limited caller=basic:lrs" in caplog.text  # the log is there, at info
    for identifier in ("jane.doe@example.com", "Jane Doe", "Good course", "courses/agile"):
        assert identifier not in caplog.text
