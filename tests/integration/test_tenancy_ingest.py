"""Tenants at the ingest edge, against the real Kafka broker: each record lands with the tenant
of the credential (or signing secret) that sent it, whatever the payload says, keyed with that
tenant's own pseudonym secret; unknown senders are refused with the reason.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from aiohttp import ClientResponse

from teampulse.contract.pseudonym import PSEUDONYM_HOME_PAGE, Pseudonymiser
from teampulse.tenancy.directory import TENANT_HEADER
from tests.integration.test_http_ingest import (
    Ingest,
    canonical,
    ingest_settings,
    start_ingest,
    statement,
)
from tests.integration.worker_harness import parse_metrics
from tests.support.connector_payloads import INSTANCE, envelope, post
from tests.support.connector_payloads import MESSAGE_POSTED as CALIPER_POSTED
from tests.support.connector_payloads import headers as discourse_headers

pytestmark = pytest.mark.integration

NOW = 1772496000  # the endpoint's frozen clock (ingest_settings)
RELOAD_S = 0.2
ACME_KEY, GLOBEX_KEY = "acme-pseudonym-key-0001", "globex-pseudonym-key-02"
ACME = "Basic " + base64.b64encode(b"acme-lms:acme-secret").decode()
GLOBEX = "Basic " + base64.b64encode(b"globex-lms:globex-secret").decode()
SENSOR = "https://lms.acme.example/sensor"
TENANTS = {
    "tenants": {
        "acme": {
            "pseudonym_secret": ACME_KEY,
            "credentials": ["acme-lms:acme-secret"],
            "slack": {"workspaces": {"TACME": "acme-slack-secret"}},
            "discourse": {"forums": {INSTANCE: "acme-forum-secret"}},
            "caliper": {"sensors": {SENSOR: "acme-sensor-token"}},
        },
        "globex": {
            "pseudonym_secret": GLOBEX_KEY,
            "credentials": ["globex-lms:globex-secret"],
            "slack": {"workspaces": {"TGLOBEX": "globex-slack-secret"}},
        },
    }
}


def v1(authorization: str) -> dict[str, str]:
    return {"X-Experience-API-Version": "1.0.3", "Authorization": authorization}


@pytest.fixture
async def tenanted(
    kafka_bootstrap: str, unique_topic_prefix: str, tmp_path: Path
) -> AsyncIterator[Ingest]:
    path = tmp_path / "tenants.yaml"
    path.write_text(yaml.safe_dump(TENANTS))
    settings = ingest_settings(
        kafka_bootstrap,
        unique_topic_prefix,
        ingest_credentials="",
        tenants_file=path,
        tenants_reload_s=RELOAD_S,
    )
    running, stop = await start_ingest(settings)
    try:
        yield running
    finally:
        await stop()


def tenant_of(record: Any) -> str | None:
    value = dict(record.headers).get(TENANT_HEADER)
    return value.decode() if value is not None else None


async def test_two_tenants_records_land_with_their_tenant_and_their_own_pseudonyms(
    tenanted: Ingest,
):
    same_person = "jane.doe@example.com"
    for authorization in (ACME, GLOBEX):
        sent = await tenanted.post("/events", [canonical(actor=same_person)], v1(authorization))
        assert sent.status == 200
    acme, globex = await tenanted.records("events")
    assert (tenant_of(acme), tenant_of(globex)) == ("acme", "globex")
    acme_actor = orjson.loads(acme.value)["actor"]
    globex_actor = orjson.loads(globex.value)["actor"]
    assert acme_actor == "pseudonym:" + Pseudonymiser(ACME_KEY).person(same_person)
    assert globex_actor == "pseudonym:" + Pseudonymiser(GLOBEX_KEY).person(same_person)
    assert acme_actor != globex_actor
    assert b"jane" not in acme.value + globex.value
    usage = await metrics(tenanted)
    assert usage[("teampulse_tenant_records_total", (("route", "events"), ("tenant", "acme")))] == 1
    assert usage[("teampulse_tenants", ())] == 2


async def metrics(ingest: Ingest) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    async with ingest.http.get(ingest.url + "/metrics") as response:
        return parse_metrics(await response.text())


async def test_a_tenants_statement_reaches_kafka_without_the_persons_address(tenanted: Ingest):
    sent = await tenanted.post("/xAPI/statements", statement(), v1(GLOBEX))
    assert sent.status == 200
    (record,) = await tenanted.records("xapi")
    assert tenant_of(record) == "globex"
    stored = orjson.loads(record.value)
    assert stored["actor"] == {
        "objectType": "Agent",
        "account": {
            "homePage": PSEUDONYM_HOME_PAGE,
            "name": Pseudonymiser(GLOBEX_KEY).person("jane.doe@example.com"),
        },
    }
    assert b"jane" not in record.value.lower()
    # the same statement sent again is recognised as unchanged, as for any LRS client
    again = await tenanted.post("/xAPI/statements", statement(id=stored["id"]), v1(GLOBEX))
    assert again.status == 200 and again.headers["X-TeamPulse-Unchanged"] == "1"


async def test_a_tenant_named_in_the_payload_or_a_header_is_ignored(tenanted: Ingest):
    forged = canonical(tenant="globex")
    headers = {**v1(ACME), TENANT_HEADER: "globex", "X-TeamPulse-Tenant": "globex"}
    sent = await tenanted.post("/events", [forged], headers)
    assert sent.status == 200
    (record,) = await tenanted.records("events")
    assert tenant_of(record) == "acme"
    assert [key for key, _ in record.headers].count(TENANT_HEADER) == 1


async def test_two_tenants_may_use_the_same_event_id(tenanted: Ingest):
    acme_event = canonical(id="lms-1", content="course:agile")
    globex_event = canonical(id="lms-1", content="course:lean")  # other content, same id
    assert (await tenanted.post("/events", [acme_event], v1(ACME))).status == 200
    assert (await tenanted.post("/events", [globex_event], v1(GLOBEX))).status == 200
    assert [tenant_of(r) for r in await tenanted.records("events")] == ["acme", "globex"]


@pytest.mark.parametrize(
    "authorization",
    [
        None,
        "Basic " + base64.b64encode(b"acme-lms:globex-secret").decode(),
        "Bearer acme-secret",
        "Basic " + base64.b64encode(b"lrs:s3cret").decode(),  # the implicit tenant's
    ],
)
async def test_an_unknown_credential_is_refused_with_the_reason(
    tenanted: Ingest, authorization: str | None
):
    headers = {"X-Experience-API-Version": "1.0.3"}
    if authorization is not None:
        headers["Authorization"] = authorization
    refused = await tenanted.post("/events", [canonical()], headers)
    assert refused.status == 401
    assert await refused.json() == {
        "error": "unauthorized",
        "detail": "missing or wrong credentials",
    }
    assert await tenanted.end("events") == 0


async def test_a_suspended_tenant_is_refused_and_resumed_without_a_restart(tenanted: Ingest):
    path = tenanted.settings.tenants_file
    assert path is not None
    suspended = yaml.safe_load(path.read_text())
    suspended["tenants"]["acme"]["suspended"] = True
    path.write_text(yaml.safe_dump(suspended))
    refused = await answer_becomes(tenanted, ACME, 403)
    assert await refused.json() == {
        "error": "tenant_suspended",
        "detail": "tenant acme is suspended: its records are refused until it is resumed "
        "(its data is kept)",
    }
    assert (await tenanted.post("/events", [canonical()], v1(GLOBEX))).status == 200
    path.write_text(yaml.safe_dump(TENANTS))
    await answer_becomes(tenanted, ACME, 200)


async def test_a_broken_change_of_the_file_keeps_the_tenants_in_force_and_shows(
    tenanted: Ingest,
):
    path = tenanted.settings.tenants_file
    assert path is not None
    broken = yaml.safe_load(path.read_text())
    broken["tenants"]["acme"]["pseudonym_secret"] = "short"
    broken["tenants"]["acme"]["credentials"] = ["acme-lms:rotated"]
    path.write_text(yaml.safe_dump(broken))
    deadline = asyncio.get_running_loop().time() + 20 * RELOAD_S
    while (await metrics(tenanted))[("teampulse_tenants_file_refused", ())] != 1:
        assert asyncio.get_running_loop().time() < deadline, "the refusal never showed"
        await asyncio.sleep(RELOAD_S / 2)
    assert (await tenanted.post("/events", [canonical()], v1(ACME))).status == 200
    path.write_text(yaml.safe_dump(TENANTS))
    while (await metrics(tenanted))[("teampulse_tenants_file_refused", ())] != 0:
        assert asyncio.get_running_loop().time() < deadline + 20 * RELOAD_S
        await asyncio.sleep(RELOAD_S / 2)


async def answer_becomes(ingest: Ingest, authorization: str, status: int) -> ClientResponse:
    """Posts an event until the answer has `status`: the endpoint's timer reloads the file."""
    deadline = asyncio.get_running_loop().time() + 20 * RELOAD_S
    while True:
        response = await ingest.post("/events", [canonical()], v1(authorization))
        if response.status == status or asyncio.get_running_loop().time() > deadline:
            assert response.status == status
            return response
        await asyncio.sleep(RELOAD_S / 2)


# --- connectors -------------------------------------------------------------------------


def slack_delivery(workspace: str, secret: str) -> tuple[bytes, dict[str, str]]:
    body = orjson.dumps(
        {
            "team_id": workspace,
            "api_app_id": "A0PNCHHK2",
            "type": "event_callback",
            "event_id": f"Ev{workspace}",
            "event_time": NOW - 60,
            "event": {
                "type": "message",
                "channel": "C0OPEN",
                "user": "U2147483697",
                "text": "hello",
                "ts": f"{NOW - 60}.000100",
                "channel_type": "channel",
            },
        }
    )
    signature = hmac.new(secret.encode(), f"v0:{NOW}:".encode() + body, hashlib.sha256)
    return body, {
        "Content-Type": "application/json",
        "X-Slack-Request-Timestamp": str(NOW),
        "X-Slack-Signature": "v0=" + signature.hexdigest(),
    }


async def test_a_slack_workspace_delivers_as_the_tenant_that_holds_it(tenanted: Ingest):
    for workspace, secret in (("TACME", "acme-slack-secret"), ("TGLOBEX", "globex-slack-secret")):
        body, headers = slack_delivery(workspace, secret)
        assert (await tenanted.post("/slack/events", body, headers)).status == 200
    acme, globex = await tenanted.records("events")
    assert (tenant_of(acme), tenant_of(globex)) == ("acme", "globex")
    identity = "account:slack:{}|U2147483697"
    assert orjson.loads(acme.value)["actor"] == "pseudonym:" + Pseudonymiser(ACME_KEY).person(
        identity.format("TACME")
    )


async def test_a_slack_delivery_signed_with_another_tenants_secret_is_refused(tenanted: Ingest):
    # acme's secret signing a delivery that claims globex's workspace
    body, headers = slack_delivery("TGLOBEX", "acme-slack-secret")
    refused = await tenanted.post("/slack/events", body, headers)
    assert refused.status == 401
    unknown_body, unknown_headers = slack_delivery("TNOBODY", "acme-slack-secret")
    unknown = await tenanted.post("/slack/events", unknown_body, unknown_headers)
    assert unknown.status == 403
    assert (await unknown.json())["error"] == "unknown_tenant"
    assert await tenanted.end("events") == 0


async def test_a_discourse_forum_delivers_as_its_tenant_and_an_unknown_forum_is_refused(
    tenanted: Ingest,
):
    body = orjson.dumps({"post": post()})
    headers = discourse_headers("post_created", "post", body, secret="acme-forum-secret")
    assert (await tenanted.post("/discourse/webhook", body, headers)).status == 200
    (record,) = await tenanted.records("events")
    assert tenant_of(record) == "acme"
    elsewhere = {**headers, "X-Discourse-Instance": "https://forum.other.example"}
    refused = await tenanted.post("/discourse/webhook", body, elsewhere)
    assert refused.status == 403 and (await refused.json())["error"] == "unknown_tenant"


async def test_a_caliper_sensor_token_speaks_for_its_sensor_only(tenanted: Ingest):
    token = {"Authorization": "Bearer acme-sensor-token", "Content-Type": "application/json"}
    ours = {**envelope(CALIPER_POSTED), "sensor": SENSOR}
    assert (await tenanted.post("/caliper/events", ours, token)).status == 200
    (record,) = await tenanted.records("events")
    assert tenant_of(record) == "acme"
    other_sensor = await tenanted.post("/caliper/events", envelope(CALIPER_POSTED), token)
    assert other_sensor.status == 403
    assert (await other_sensor.json())["error"] == "sensor_token"
    elsewhere = await tenanted.post("/events", [canonical()], {**v1(""), **token})
    assert elsewhere.status == 403 and (await elsewhere.json())["error"] == "sensor_token"


# --- no tenants file --------------------------------------------------------------------


async def test_without_tenants_records_carry_no_tenant_header_and_the_raw_actor(
    kafka_bootstrap: str, unique_topic_prefix: str
):
    running, stop = await start_ingest(ingest_settings(kafka_bootstrap, unique_topic_prefix))
    try:
        basic = "Basic " + base64.b64encode(b"lrs:s3cret").decode()
        event = canonical()
        assert (await running.post("/events", [event], v1(basic))).status == 200
        (record,) = await running.records("events")
        assert tenant_of(record) is None
        assert orjson.loads(record.value) == event
    finally:
        await stop()
