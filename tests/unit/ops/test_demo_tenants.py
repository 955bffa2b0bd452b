"""`DEMO_TENANTS=1 make demo`: the demo's tenants file is a valid one, its two tenants' feeds
go out as each tenant's records (keyed persons, the tenant's header), and the summary keeps
two tenants' same-named teams apart."""

from __future__ import annotations

import asyncio

import orjson

from teampulse.contract.pseudonym import PSEUDONYM_PREFIX, Pseudonymiser
from teampulse.ingest.feed import backfill, send_roster
from teampulse.ingest.produce import TenantKeying
from teampulse.ops.demo import (
    MAIN_TENANT,
    SECOND_TENANT,
    demo_tenants,
    read_token,
    second_organisation,
)
from teampulse.ops.summary import summarise
from teampulse.settings import Settings
from teampulse.tenancy.config import parse_tenants
from teampulse.tenancy.directory import TENANT_HEADER, TenantDirectory

DAY = 86_400.0
NOW = 1_772_452_800.0


class RecordingSender:
    """What the feed hands to Kafka, kept in order."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes | None, bytes | None, list | None]] = []

    async def send(self, topic, key, value, headers=None) -> None:  # noqa: ANN001
        self.sent.append((topic, key, value, headers))

    async def flush(self) -> None:
        pass


def test_the_demo_tenants_file_is_valid_and_each_tenant_logs_in_with_its_read_token() -> None:
    directory = TenantDirectory.configured(parse_tenants(demo_tenants()), Settings())
    assert set(directory.tenants) == {MAIN_TENANT, SECOND_TENANT}
    for tenant in (MAIN_TENANT, SECOND_TENANT):
        assert directory.tenant_of_read_token(read_token(tenant)) == tenant
    assert directory.alert_routes() == {SECOND_TENANT: "l-and-d-globex"}
    assert directory.organisation_of(SECOND_TENANT) == "Globex"


def test_a_tenants_feed_sends_keyed_persons_with_the_tenants_header() -> None:
    settings = Settings()
    directory = TenantDirectory.configured(parse_tenants(demo_tenants()), settings)
    keying = TenantKeying(directory.pseudonymiser("globex"), directory.record_headers("globex"))
    org = second_organisation()
    sender = RecordingSender()

    async def feed() -> None:
        await send_roster(sender, settings, org, keying)  # type: ignore[arg-type]
        await backfill(sender, settings, org, NOW - 2 * DAY, NOW, 11, False, keying)  # type: ignore[arg-type]

    asyncio.run(feed())

    globex = Pseudonymiser("globex-demo-pseudonym-key")
    people = {str(r["person"]) for r in org.roster_records()}
    keyed = {PSEUDONYM_PREFIX + globex.person(p) for p in people}
    roster = [
        orjson.loads(v) for t, _k, v, _h in sender.sent if t == settings.topic("roster") and v
    ]
    events = [
        orjson.loads(v) for t, _k, v, _h in sender.sent if t == settings.topic("events") and v
    ]
    assert events and {r["person"] for r in roster} == keyed
    assert {e["actor"] for e in events} <= keyed
    assert all(h == [(TENANT_HEADER, b"globex")] for *_, h in sender.sent)
    assert not any(person.encode() in v for *_, v, _h in sender.sent if v for person in people)


def test_the_summary_shows_two_tenants_same_named_teams_apart() -> None:
    page = "\n".join(
        [
            "# TYPE teampulse_team_engagement_score gauge",
            'teampulse_team_engagement_score{tenant="acme",team="red",window="7d"} 0.4',
            'teampulse_team_engagement_score{tenant="globex",team="red",window="7d"} 0.7',
            "# TYPE teampulse_org_engagement_score gauge",
            'teampulse_org_engagement_score{tenant="acme",window="7d"} 0.45',
            'teampulse_org_engagement_score{tenant="globex",window="7d"} 0.75',
        ]
    )
    summary = summarise(page + "\n", [], MAIN_TENANT)
    assert [(t.team, t.engagement) for t in summary.teams] == [
        ("acme/red", 0.4),
        ("globex/red", 0.7),
    ]
    assert summary.org_engagement == 0.45
