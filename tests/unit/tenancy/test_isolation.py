"""Two tenants with the same team, department and person names never meet in state or output."""

from __future__ import annotations

import base64
from collections import Counter

import pytest
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.parser import text_string_to_metric_families

from teampulse.contract.event import UNASSIGNED_TEAM, Event
from teampulse.contract.roster import RosterEntry
from teampulse.contract.tenant_scope import scoped, split, unscoped
from teampulse.enrichment.roster import Roster, resolve_team
from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.model import ScopeSnapshot
from teampulse.gauges.snapshot import rollup_snapshots
from teampulse.gauges.snapshot import team_snapshot as team_snapshot_of
from teampulse.reference import reference_snapshot
from teampulse.settings import Settings
from teampulse.sinks.prometheus import GaugeCollector
from teampulse.sinks.read_api import as_tenant_sees
from teampulse.sinks.redis_writer import RedisKeys, history_entry
from teampulse.sinks.tenant_usage import TenantUsage
from teampulse.tenancy.config import parse_tenants
from teampulse.tenancy.directory import TenantDirectory
from teampulse.tenancy.read_access import ReadRefusal, reader_tenant

from .conftest import two_tenants

AS_OF = 1_772_452_800.0  # 2026-03-02T12:00:00Z
ACME_READ = "acme-read-token-000001"
GLOBEX_READ = "globex-read-token-0002"


def roster_of_two_tenants() -> Roster:
    """Both tenants have a team 'red' in department 'sales' of division 'emea'."""
    roster = Roster()
    for tenant in ("acme", "globex"):
        for n in range(5):
            roster.apply(
                RosterEntry(
                    f"{tenant}-person-{n}",
                    scoped(tenant, "red"),
                    scoped(tenant, "sales"),
                    scoped(tenant, "emea"),
                )
            )
    return roster


def event(tenant: str, n: int, person: int) -> Event:
    return Event(
        id=scoped(tenant, f"e-{n}"),  # the same ids in both tenants
        type="learning.completed",
        occurred_at=AS_OF - 3_600,
        actor=f"{tenant}-person-{person}",
        source="lms",
        team=scoped(tenant, "red"),
        tenant=tenant,
    )


def test_a_scoped_name_splits_back_and_a_sent_separator_stays_in_its_tenant() -> None:
    assert split(scoped("acme", "red")) == ("acme", "red")
    assert split("red") == (None, "red")
    assert scoped(None, "red") == "red"
    forged = scoped("acme", scoped("globex", "red"))  # acme sends globex's scoped name
    assert split(forged)[0] == "acme"


def test_an_events_team_is_scoped_and_another_tenants_roster_team_is_not_taken() -> None:
    roster = Roster([RosterEntry("p", scoped("globex", "red"), "d", "v")])
    assert resolve_team("red", "p", roster, "acme") == scoped("acme", "red")
    assert resolve_team(None, "p", roster, "acme") == scoped("acme", UNASSIGNED_TEAM)
    assert resolve_team(None, "p", roster, "globex") == scoped("globex", "red")
    assert resolve_team(None, "p", roster) == scoped("globex", "red")  # no tenants: as before


def test_same_names_in_two_tenants_are_two_teams_two_departments_two_organisations() -> None:
    events = [event("acme", n, n) for n in range(5)] + [event("globex", 0, 0)]

    snapshot = reference_snapshot(events, roster_of_two_tenants(), GaugeConfig(), AS_OF)

    teams = snapshot.teams
    assert set(teams) == {scoped("acme", "red"), scoped("globex", "red")}
    assert teams[scoped("acme", "red")].windowed["7d"]["active_members"] == 5
    assert teams[scoped("globex", "red")].windowed["7d"]["active_members"] == 1
    rollups = {(r.scope, r.key): r for r in snapshot.rollups}
    assert set(rollups) == {
        (scope, scoped(tenant, key))
        for tenant in ("acme", "globex")
        for scope, key in (("department", "sales"), ("division", "emea"), ("org", "org"))
    }
    assert rollups[("org", scoped("acme", "org"))].plain["members"] == 5
    assert rollups[("org", scoped("globex", "org"))].windowed["7d"]["completions"] == 1


def scrape(registry: CollectorRegistry) -> list[tuple[str, dict[str, str]]]:
    text = generate_latest(registry).decode()
    return [
        (sample.name, sample.labels)
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if "cardinality" not in sample.name
    ]


def team_snapshot(key: str) -> ScopeSnapshot:
    tenant, _ = split(key)
    return ScopeSnapshot(
        "team",
        key,
        AS_OF,
        windowed={"7d": {"posts": 1.0}},
        plain={"members": 5},
        info={"department": scoped(tenant, "sales"), "division": scoped(tenant, "emea")},
    )


def test_every_series_of_a_tenant_carries_its_tenant_label_and_plain_names() -> None:
    registry = CollectorRegistry()
    collector = GaugeCollector(Settings(), registry)
    keys = (scoped("acme", "red"), scoped("globex", "red"))
    collector.publish_teams({key: team_snapshot(key) for key in keys})
    org = ScopeSnapshot("org", scoped("acme", "org"), AS_OF, plain={"members": 5})
    collector.publish_rollups([org])

    samples = scrape(registry)

    assert samples and all(labels.get("tenant") in ("acme", "globex") for _, labels in samples)
    assert {labels["team"] for _, labels in samples if "team" in labels} == {"red"}
    info = [labels for name, labels in samples if name == "teampulse_team_info"]
    assert {(i["tenant"], i["department"], i["division"]) for i in info} == {
        ("acme", "sales", "emea"),
        ("globex", "sales", "emea"),
    }
    assert ("teampulse_org_members", {"tenant": "acme"}) in samples


def test_without_tenants_no_series_has_a_tenant_label() -> None:
    registry = CollectorRegistry()
    GaugeCollector(Settings(), registry).publish_teams({"red": team_snapshot("red")})
    assert all("tenant" not in labels for _, labels in scrape(registry))


def test_a_tenants_redis_keys_live_under_its_own_prefix() -> None:
    keys = RedisKeys("tp:")
    acme, name = keys.scoped(scoped("acme", "red"))
    assert (acme.scope_hash("team", name), acme.index("team"), acme.updates) == (
        "tp:tenant:acme:team:red",
        "tp:tenant:acme:teams",
        "tp:tenant:acme:updates",
    )
    assert keys.scoped("red") == (keys, "red")
    entry = history_entry(keys, team_snapshot(scoped("globex", "red")), "7d", 90)
    assert entry["key"] == "tp:tenant:globex:team:red:history"


def test_a_snapshot_is_shown_with_the_names_its_tenant_knows() -> None:
    body = as_tenant_sees(team_snapshot(scoped("acme", "red")))
    assert (body["key"], body["info"]) == ("red", {"department": "sales", "division": "emea"})


@pytest.fixture
def directory() -> TenantDirectory:
    raw = two_tenants()
    raw["tenants"]["acme"]["read_tokens"] = [ACME_READ]
    raw["tenants"]["globex"]["read_tokens"] = [GLOBEX_READ]
    return TenantDirectory.configured(parse_tenants(raw), Settings())


def basic(user: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()


def test_a_read_token_reads_its_own_tenant_only(directory: TenantDirectory) -> None:
    assert reader_tenant(directory, f"Bearer {ACME_READ}") == "acme"
    assert reader_tenant(directory, basic("globex", GLOBEX_READ)) == "globex"
    for refused in (
        None,
        "",
        f"Bearer {ACME_READ}x",
        basic("acme", GLOBEX_READ),  # another tenant's token under acme's name
        basic("acme", "acme-secret"),  # an ingest credential is no read token
        "Bearer acme-token",
        "Digest x",
        "Basic %%%",
    ):
        found = reader_tenant(directory, refused)
        assert isinstance(found, ReadRefusal), refused
        assert "read token" in found.detail


def test_without_tenants_anyone_reads_as_before() -> None:
    assert reader_tenant(TenantDirectory.single(Settings()), None) is None


def test_a_read_token_claimed_by_two_tenants_is_refused_without_showing_it() -> None:
    raw = two_tenants()
    raw["tenants"]["acme"]["read_tokens"] = [ACME_READ]
    raw["tenants"]["globex"]["read_tokens"] = [ACME_READ]
    with pytest.raises(SystemExit) as refused:
        parse_tenants(raw)
    assert "read token one is claimed by both acme and globex" in str(refused.value)
    assert ACME_READ not in str(refused.value)
    assert unscoped(scoped("acme", "x")) == "x"


def test_a_tenants_team_quota_holds_its_teams_and_usage_counts_what_each_exports() -> None:
    registry = CollectorRegistry()
    collector = GaugeCollector(
        Settings(), registry, team_quota=lambda tenant: 1 if tenant == "acme" else None
    )
    keys = [scoped(t, name) for t in ("acme", "globex") for name in ("blue", "red")]
    collector.publish_teams({key: team_snapshot(key) for key in keys})
    roster = Roster(
        [RosterEntry(f"{t}-{n}", scoped(t, "red"), "d", "v") for t in ("acme", "globex")
         for n in range(3 if t == "acme" else 4)]
    )  # fmt: skip
    events = Counter({"acme": 7, "globex": 3})
    TenantUsage(events, roster, collector, registry)

    page = collector.metrics_page(registry).decode()
    samples = {
        (sample.name, sample.labels.get("tenant", "")): sample.value
        for family in text_string_to_metric_families(page)
        for sample in family.samples
    }

    assert 'tenant="acme",team="red"' not in page  # "blue" comes first and is kept
    assert 'tenant="acme",team="blue"' in page and 'tenant="globex",team="red"' in page
    assert samples[("teampulse_tenant_teams", "acme")] == 1
    assert samples[("teampulse_tenant_teams", "globex")] == 2
    assert samples[("teampulse_tenant_teams_refused", "acme")] == 1
    assert samples[("teampulse_tenant_events_total", "acme")] == 7
    assert samples[("teampulse_tenant_people", "globex")] == 4
    # series as rendered by the last page: acme's one team has half of globex's two
    series = collector.usage()
    assert series["globex"][1] == 2 * series["acme"][1] > 0


def test_a_tenants_series_quota_keeps_its_teams_in_name_order_while_their_series_fit() -> None:
    registry = CollectorRegistry()
    keys = [scoped(t, name) for t in ("acme", "globex") for name in ("blue", "green", "red")]
    snapshots = {key: team_snapshot(key) for key in keys}
    unlimited = GaugeCollector(Settings(), CollectorRegistry())
    unlimited.publish_teams(snapshots)
    unlimited.metrics_page(CollectorRegistry())
    per_team = unlimited.usage()["acme"][1] // 3  # the three teams render alike
    collector = GaugeCollector(
        Settings(),
        registry,
        series_quota=lambda tenant: 2 * per_team + 1 if tenant == "acme" else None,
    )

    collector.publish_teams(snapshots)
    page = collector.metrics_page(registry).decode()

    assert 'tenant="acme",team="blue"' in page and 'tenant="acme",team="green"' in page
    assert 'tenant="acme",team="red"' not in page  # its series would pass the quota
    assert all(f'tenant="globex",team="{name}"' in page for name in ("blue", "green", "red"))
    assert collector.usage()["acme"] == (2, 2 * per_team)
    assert collector.refused_by_quota == {"acme": 1}
    # the quota raised in the file (read at every publication): every team is back
    collector.series_quota = lambda tenant: None
    collector.publish_teams(snapshots)
    collector.metrics_page(registry)
    assert collector.usage()["acme"] == (3, 3 * per_team)
    assert collector.refused_by_quota == {}


def test_max_series_is_validated_like_max_teams() -> None:
    raw = two_tenants()
    raw["tenants"]["acme"]["max_series"] = 0
    with pytest.raises(SystemExit) as refused:
        parse_tenants(raw)
    assert "tenants.acme.max_series" in str(refused.value)
    raw["tenants"]["acme"]["max_series"] = 500
    assert TenantDirectory.configured(parse_tenants(raw), Settings()).series_quota("acme") == 500


def test_a_tenants_minimum_group_size_decides_its_teams_and_roll_ups_only() -> None:
    """Both tenants' 'red' has 5 people. acme asks for 6: its team and roll-ups are withheld,
    globex's published under the deployment's 5; without acme's minimum both are published."""
    roster = roster_of_two_tenants()
    config = GaugeConfig(min_group_size=5)
    assert config.use_tenants(
        TenantDirectory.configured(
            parse_tenants({**two_tenants(), "tenants": {
                **two_tenants()["tenants"],
                "acme": {**two_tenants()["tenants"]["acme"], "min_group_size": 6},
            }}),
            Settings(),
        ).gauge_settings()
    )  # fmt: skip
    assert config.of_tenant("acme").min_group_size == 6
    assert config.of_tenant("globex").min_group_size == 5

    def published() -> set[str]:
        teams = {
            team
            for team in roster.teams()
            if team_snapshot_of(
                team, None, roster.team_size(team), roster.path(team), config, AS_OF
            )
        }
        rollups = {s.key for s in rollup_snapshots({}, roster, config, AS_OF)}
        return {split(key)[0] or "" for key in teams | rollups}

    assert published() == {"globex"}
    assert config.use_tenants({})  # the tenants file's minimum removed, as a reload does
    assert published() == {"acme", "globex"}
