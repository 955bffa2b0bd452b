"""The one preamble every connector route runs before its payload is read
(teampulse.ingest.connectors.Guard), over real HTTP and the real broker, in its order: the
connector enabled (403 naming the setting), the body within TEAMPULSE_INGEST_MAX_BODY_BYTES
(413, read no further), the signature (401), then the payload. Nothing refused is written.
And what the Slack route tells the operator when Slack holds the app's events back."""

from __future__ import annotations

import hashlib
import hmac
import logging
from collections.abc import AsyncIterator

import orjson
import pytest

from tests.integration.test_http_ingest import (
    BEARER,
    MAX_BODY,
    Ingest,
    ingest_settings,
    start_ingest,
)
from tests.support.vendor_samples import vendor_sample

pytestmark = pytest.mark.integration

OVERSIZED = b'{"padding": "' + b"x" * MAX_BODY + b'"}'
SLACK_SECRET = "slack-signing-secret"
NOW = 1772496000  # the endpoint's frozen clock (ingest_settings), which signatures are checked at


@pytest.fixture
async def slack_only(kafka_bootstrap: str, unique_topic_prefix: str) -> AsyncIterator[Ingest]:
    """Slack enabled; Discourse and Microsoft Teams not (their secrets unset)."""
    settings = ingest_settings(
        kafka_bootstrap, unique_topic_prefix, slack_signing_secret=SLACK_SECRET
    )
    running, stop = await start_ingest(settings)
    try:
        yield running
    finally:
        await stop()


@pytest.mark.parametrize(
    ("path", "setting"),
    [
        ("/discourse/webhook", "TEAMPULSE_DISCOURSE_WEBHOOK_SECRET"),
        ("/msteams/notifications", "TEAMPULSE_MSTEAMS_CLIENT_STATE"),
        ("/msteams/lifecycle", "TEAMPULSE_MSTEAMS_CLIENT_STATE"),
    ],
)
async def test_a_connector_whose_secret_is_unset_is_403_naming_the_setting(
    slack_only: Ingest, path: str, setting: str
):
    answer = await slack_only.post(path, b'{"value": []}', {"Content-Type": "application/json"})
    assert answer.status == 403
    assert await answer.json() == {
        "error": "connector_disabled",
        "detail": f"set {setting} to enable this connector",
    }
    assert await slack_only.end("events") == 0


async def test_a_body_over_the_limit_is_413_before_its_signature_is_looked_at(slack_only: Ingest):
    answer = await slack_only.post("/slack/events", OVERSIZED, {"Content-Type": "application/json"})
    assert (answer.status, (await answer.json())["error"]) == (413, "too_large")


async def test_a_caliper_body_over_the_limit_is_413(slack_only: Ingest):
    headers = {"Authorization": BEARER, "Content-Type": "application/json"}
    answer = await slack_only.post("/caliper/events", OVERSIZED, headers)
    assert (answer.status, (await answer.json())["error"]) == (413, "too_large")
    assert await slack_only.end("events") == 0


async def test_an_enabled_connector_checks_the_signature_before_the_payload(slack_only: Ingest):
    """Slack's documented message, unsigned: refused for its signature, never mapped."""
    body = orjson.dumps(vendor_sample("slack/message.channels.json"))
    answer = await slack_only.post("/slack/events", body, {"Content-Type": "application/json"})
    assert (answer.status, (await answer.json())["error"]) == (401, "missing_signature")
    assert await slack_only.end("events") == 0


async def test_slacks_rate_limit_notice_is_200_and_warned_about(
    slack_only: Ingest, caplog: pytest.LogCaptureFixture
):
    """docs.slack.dev/reference/events/app_rate_limited, its example payload, signed: Slack
    is holding events back, which the operator should hear of."""
    caplog.set_level(logging.WARNING)
    body = orjson.dumps(vendor_sample("slack/app_rate_limited.json"))
    digest = hmac.new(SLACK_SECRET.encode(), f"v0:{NOW}:".encode() + body, hashlib.sha256)
    headers = {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(NOW),
        "X-Slack-Signature": "v0=" + digest.hexdigest(),
    }
    answer = await slack_only.post("/slack/events", body, headers)
    assert answer.status == 200
    assert "Slack is rate-limiting this app's events" in caplog.text
