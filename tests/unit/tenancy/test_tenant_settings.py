"""A tenant's own settings of the tenants file are applied to its teams only, and followed
while the worker runs: scoring weights, initiatives and their evidence, minimum group size,
the alert route and the retention."""

from __future__ import annotations

import msgspec
import pytest
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families

from teampulse.contract.event import Event
from teampulse.contract.roster import RosterEntry
from teampulse.contract.tenant_scope import scoped
from teampulse.enrichment.roster import Roster
from teampulse.gauges.config import (
    GaugeConfig,
    TenantGauges,
    TenantScoring,
    parse_initiatives,
)
from teampulse.gauges.content import content_table
from teampulse.gauges.snapshot import org_snapshot
from teampulse.gauges.team_state import TeamState
from teampulse.kafka.topics import RETENTION, topic_specs
from teampulse.reference import reference_snapshot
from teampulse.settings import Settings
from teampulse.sinks.exporter import Exporter
from teampulse.sinks.prometheus import GaugeCollector
from teampulse.sinks.redis_writer import RedisWriter
from teampulse.streams.partitions import TeamPartition
from teampulse.streams.state_snapshots import dump_teams, load_teams
from teampulse.tenancy.config import TenantConfigError, parse_tenants
from teampulse.tenancy.directory import TenantDirectory

from ..sinks.test_exporter import FakeView, RecordingSink
from .conftest import two_tenants

AS_OF = 1_772_452_800.0  # 2026-03-02T12:00:00Z, a Monday
DAY = 86_400
ACME, GLOBEX = scoped("acme", "red"), scoped("globex", "red")
DEPLOYMENT_INITIATIVE = parse_initiatives(
    {
        "initiatives": [
            {
                "id": "agile",
                "stages": {"awareness": [{"type": "learning.completed", "content": "acme-path"}]},
            }
        ]
    }
)[0]
ACME_INITIATIVE = parse_initiatives(
    {
        "initiatives": [
            {
                "id": "acme-way",
                "stages": {
                    "knowledge": [{"type": "learning.completed", "content": "acme-path"}],
                    "ability": [{"type": "adoption.practiced", "practices": ["acme-review"]}],
                },
            }
        ]
    }
)[0]
PARTICIPATION_ONLY = TenantScoring.model_validate(
    {
        "engagement": {
            "weights": {
                "participation": 1,
                "learning_intensity": 0,
                "conversation": 0,
                "conversation_quality": 0,
            }
        }
    }
)


def roster() -> Roster:
    return Roster(
        [
            RosterEntry(f"{tenant}-p{n}", scoped(tenant, "red"), scoped(tenant, "sales"), "v")
            for tenant in ("acme", "globex")
            for n in range(6)
        ]
    )


def events(tenant: str, people: int = 6, **fields: object) -> list[Event]:
    """The same learning in both tenants: each person completes `acme-path` once."""
    base: dict[str, object] = {"type": "learning.completed", "content": "acme-path"}
    base.update(fields)
    return [
        Event(
            id=scoped(tenant, f"e-{base['type']}-{n}"),
            occurred_at=AS_OF - 3_600 - n,
            actor=f"{tenant}-p{n}",
            source="lms",
            team=scoped(tenant, "red"),
            tenant=tenant,
            **base,  # type: ignore[arg-type]
        )
        for n in range(people)
    ]


def tenant_config(**acme: object) -> GaugeConfig:
    config = GaugeConfig(initiatives=(DEPLOYMENT_INITIATIVE,))
    config.use_tenants({"acme": TenantGauges(**acme)})  # type: ignore[arg-type]
    return config


def streamed(config: GaugeConfig, evts: list[Event]) -> dict[str, TeamState]:
    states = {team: TeamState(team, config) for team in (ACME, GLOBEX)}
    for event in evts:
        states[str(event.team)].apply_event(event)
    return states


def snapshot_of(config: GaugeConfig, states: dict[str, TeamState]) -> dict:
    counts = {team: state.counts(AS_OF, 6) for team, state in states.items()}
    return org_snapshot(counts, roster(), config, AS_OF).teams


def test_a_tenants_scoring_weights_score_its_teams_and_only_its_stream_and_reference_alike():
    config = tenant_config(scoring=PARTICIPATION_ONLY)
    evts = events("acme") + events("globex")
    teams = snapshot_of(config, streamed(config, evts))

    # acme scores participation alone: everyone took part, so 1.0; globex keeps the
    # deployment's weights, and scores what a deployment without tenants would.
    assert teams[ACME].windowed["7d"]["engagement_score"] == 1.0
    plain = GaugeConfig(initiatives=(DEPLOYMENT_INITIATIVE,))
    plain_teams = snapshot_of(plain, streamed(plain, evts))
    assert (
        teams[GLOBEX].windowed["7d"]["engagement_score"]
        == (plain_teams[GLOBEX].windowed["7d"]["engagement_score"])
    )
    assert teams[GLOBEX].windowed["7d"]["engagement_score"] < 0.9
    assert reference_snapshot(evts, roster(), config, AS_OF).teams == teams


def test_a_tenants_initiatives_and_evidence_drive_its_adoption_gauges_only():
    config = tenant_config(initiatives=(ACME_INITIATIVE,))
    evts = events("acme") + events("globex")
    teams = snapshot_of(config, streamed(config, evts))

    assert set(teams[ACME].initiatives) == {"acme-way"}
    assert teams[ACME].initiatives["acme-way"].stage_members["knowledge"] == 6
    assert set(teams[GLOBEX].initiatives) == {"agile"}
    assert teams[GLOBEX].initiatives["agile"].stage_members["awareness"] == 6
    assert config.initiatives_of("acme") == (ACME_INITIATIVE,)
    assert (
        config.initiatives_of("globex") == config.initiatives_of(None) == (DEPLOYMENT_INITIATIVE,)
    )
    assert reference_snapshot(evts, roster(), config, AS_OF).teams == teams


def test_a_changed_initiative_list_is_followed_by_the_running_state():
    """An initiative configured as before keeps its people's progress; a new one counts the
    events that arrive from the change on; a removed one leaves the gauges."""
    config = tenant_config(initiatives=(DEPLOYMENT_INITIATIVE,))
    state = TeamState(ACME, config)
    for event in events("acme"):
        state.apply_event(event)
    assert state.counts(AS_OF, 6).adoption == {"agile": (6, 0, 0, 0, 0)}

    assert config.use_tenants(
        {"acme": TenantGauges(initiatives=(DEPLOYMENT_INITIATIVE, ACME_INITIATIVE))}
    )
    assert state.counts(AS_OF, 6).adoption == {"agile": (6, 0, 0, 0, 0), "acme-way": (0,) * 5}
    for event in events("acme", people=2, type="adoption.practiced", practice="acme-review"):
        state.apply_event(event)
    assert state.counts(AS_OF, 6).adoption == {
        "agile": (6, 0, 0, 0, 0),
        "acme-way": (0, 0, 0, 2, 0),
    }

    assert config.use_tenants({"acme": TenantGauges(initiatives=(ACME_INITIATIVE,))})
    assert state.counts(AS_OF, 6).adoption == {"acme-way": (0, 0, 0, 2, 0)}


def test_the_content_gauges_follow_a_changed_initiative_list_at_the_next_read():
    """As the adoption gauges do: the content's initiative is the one in force, practice
    evidence for an initiative configured as before is kept (under its new place in the
    list), and a new initiative counts the practice that arrives from the change on."""
    config = tenant_config(initiatives=(DEPLOYMENT_INITIATIVE, ACME_INITIATIVE))
    state = TeamState(ACME, config)
    practice = {"type": "adoption.practiced", "practice": "acme-review"}
    for event in events("acme"):
        state.apply_event(event)
    for event in events("acme", people=2, **practice):  # after completing it
        state.apply_event(msgspec.structs.replace(event, occurred_at=AS_OF - 60))

    def course() -> tuple[str, tuple[int, ...]]:
        counts = state.counts(AS_OF, 6)
        [row] = [r for r in content_table({ACME: counts.content}, config) if r.key == "acme-path"]
        return row.initiative, counts.content["7d"]["acme-path"].practiced

    # acme-path's initiative is the first that names it: agile, which has no practice evidence
    assert course() == ("agile", (0, 0))

    assert config.use_tenants({"acme": TenantGauges(initiatives=(ACME_INITIATIVE,))})
    # now acme-way's, whose evidence (2 practised after completing) was kept as configured
    assert course() == ("acme-way", (2, 2))

    assert config.use_tenants({"acme": TenantGauges(initiatives=(DEPLOYMENT_INITIATIVE,))})
    assert course() == ("agile", (0, 0))
    assert config.use_tenants(
        {"acme": TenantGauges(initiatives=(ACME_INITIATIVE, DEPLOYMENT_INITIATIVE))}
    )
    # acme-way is back, as a new initiative: its earlier evidence is gone, what comes counts
    assert course() == ("acme-way", (0, 0))
    for event in events("acme", people=3, **practice):
        state.apply_event(
            msgspec.structs.replace(event, id=event.id + "-again", occurred_at=AS_OF - 30)
        )
    assert course() == ("acme-way", (3, 3))


def test_a_tenants_changed_weights_are_used_at_the_next_tick_without_a_restart():
    config = GaugeConfig(initiatives=(DEPLOYMENT_INITIATIVE,))
    view = FakeView(roster(), states=streamed(config, events("acme") + events("globex")))
    view.changed = {ACME, GLOBEX}
    exporter = Exporter(
        view, config, partitions=1, clock=lambda: AS_OF, sinks=[RecordingSink()],
        send_team_counts=lambda key, value: None,
    )  # fmt: skip
    before = exporter.tick().teams
    assert before[ACME].windowed["7d"]["engagement_score"] < 0.9

    # what the worker does when the tenants file changes
    assert config.use_tenants({"acme": TenantGauges(scoring=PARTICIPATION_ONLY)})
    exporter.judge_again()
    after = exporter.tick().teams

    assert after[ACME].windowed["7d"]["engagement_score"] == 1.0
    assert after[GLOBEX].windowed["7d"] == before[GLOBEX].windowed["7d"]


def test_settings_that_did_not_change_keep_the_tenants_configuration_object():
    config = tenant_config(scoring=PARTICIPATION_ONLY)
    kept = config.of_tenant("acme")
    assert not config.use_tenants({"acme": TenantGauges(scoring=PARTICIPATION_ONLY)})
    assert config.of_tenant("acme") is kept
    assert config.of(ACME) is kept
    assert config.of(GLOBEX) is config
    assert config.use_tenants({"acme": TenantGauges()})  # its own settings removed
    assert config.of(ACME) is config


def test_the_baseline_and_drop_signal_stay_the_deployments():
    raw = two_tenants()
    raw["tenants"]["acme"]["scoring"] = {"drop_signal": {"threshold": 3}}
    with pytest.raises(TenantConfigError) as refused:
        parse_tenants(raw, "tenants.yaml")
    assert "drop_signal cannot be set per tenant" in str(refused.value)


def test_a_tenants_initiatives_are_held_to_the_cardinality_guard():
    raw = two_tenants()
    raw["tenants"]["acme"]["initiatives"] = [{"id": "one"}, {"id": "two"}]
    with pytest.raises(TenantConfigError) as refused:
        TenantDirectory.configured(parse_tenants(raw), Settings(max_initiatives=1))
    assert "tenants.acme.initiatives: 2 initiatives" in str(refused.value)


def test_the_directory_gives_each_tenants_gauges_route_and_retention():
    raw = two_tenants()
    raw["tenants"]["acme"]["initiatives"] = [ACME_INITIATIVE.model_dump(exclude_defaults=True)]
    directory = TenantDirectory.configured(parse_tenants(raw), Settings())
    assert directory.gauge_settings() == {
        "acme": TenantGauges(min_group_size=3, initiatives=(ACME_INITIATIVE,))
    }
    assert directory.alert_routes() == {"acme": "l-and-d-acme"}
    assert directory.retention_of("acme") == 400 * DAY
    assert directory.retention_of("globex") is None
    assert directory.tenant_topic_retention() == {
        "tenant.acme.events": 400 * DAY,
        "tenant.acme.xapi": 400 * DAY,
        "tenant.globex.events": None,
        "tenant.globex.xapi": None,
    }


def team_info(collector: GaugeCollector) -> dict[str, dict[str, str]]:
    registry = CollectorRegistry()
    registry.register(collector)
    text = collector.metrics_page(registry).decode()
    return {
        sample.labels["tenant"]: sample.labels
        for family in text_string_to_metric_families(text)
        for sample in family.samples
        if sample.name == "teampulse_team_info"
    }


def test_a_tenants_alert_route_is_a_label_of_its_teams_info_and_follows_a_change():
    config = GaugeConfig()
    teams = snapshot_of(config, streamed(config, events("acme") + events("globex")))
    collector = GaugeCollector(Settings())
    collector.publish_teams(teams)
    collector.alert_routes = {"acme": "l-and-d-acme"}
    info = team_info(collector)
    assert info["acme"]["alert_route"] == "l-and-d-acme"
    assert "alert_route" not in info["globex"]

    collector.alert_routes = {"globex": "l-and-d-globex"}  # the tenants file changed
    info = team_info(collector)
    assert "alert_route" not in info["acme"]
    assert info["globex"]["alert_route"] == "l-and-d-globex"


def test_a_tenants_retention_bounds_its_redis_history_and_its_own_topics():
    writer = RedisWriter(Settings(redis_history_days=90))
    writer.tenant_retention = {"acme": 30 * DAY, "tiny": 3_600}.get
    assert writer.history_days("acme") == 30
    assert writer.history_days("globex") == 90
    assert writer.history_days(None) == 90
    assert writer.history_days("tiny") == 1  # at least the day being written

    settings = Settings(input_retention="14d")
    specs = {
        spec.name: spec.topic_configs.get(RETENTION)
        for spec in topic_specs(
            settings, {"tenant.acme.events": 30 * DAY, "tenant.globex.events": None}
        )
    }
    assert specs[settings.topic("tenant.acme.events")] == str(30 * DAY * 1000)
    assert specs[settings.topic("tenant.globex.events")] == str(14 * DAY * 1000)


def test_a_tenants_team_restored_from_a_snapshot_keeps_its_adoption_and_follows_the_file():
    config = tenant_config(initiatives=(ACME_INITIATIVE,))
    partition = TeamPartition(config)
    for event in events("acme", type="adoption.practiced", practice="acme-review"):
        partition.apply_event(event)
    data = dump_teams(config)(partition)

    restored = load_teams(config)(0, data).teams[ACME]
    assert restored.counts(AS_OF, 6).adoption == {"acme-way": (0, 0, 0, 6, 0)}
    # the tenant's initiatives were dropped from the file while the snapshot waited
    config.use_tenants({})
    restored = load_teams(config)(0, data).teams[ACME]
    assert restored.counts(AS_OF, 6).adoption == {"agile": (0,) * 5}
