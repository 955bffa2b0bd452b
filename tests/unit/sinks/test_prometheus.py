"""The Prometheus collector: metric names, labels and values of hand-built snapshots, read
back from the text exposition exactly as Prometheus would scrape it."""

from __future__ import annotations

import logging

import pytest
from prometheus_client import CollectorRegistry, Counter, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.parser import text_string_to_metric_families

from teampulse.gauges.model import InitiativeSnapshot, ScopeSnapshot
from teampulse.settings import Settings
from teampulse.sinks.prometheus import GaugeCollector

AS_OF = 1772452800.0  # 2026-03-02T12:00:00Z
DW = "digital-workplace"


def team(name: str, **overrides: object) -> ScopeSnapshot:
    fields: dict = {
        "windowed": {
            "1d": {"engagement_score": 0.42, "posts": 3.0},
            "7d": {"engagement_score": 0.5, "posts": 12.0},
        },
        "plain": {"members": 7.0, "engagement_baseline": 0.45},
        "initiatives": {
            DW: InitiativeSnapshot(
                {
                    "none": 1,
                    "awareness": 2,
                    "desire": 1,
                    "knowledge": 1,
                    "ability": 1,
                    "reinforcement": 1,
                },
                members=7,
                ratio=0.25,
                index=0.5,
            )
        },
        "info": {"department": "eng", "division": "tech"},
    }
    fields.update(overrides)
    return ScopeSnapshot("team", name, AS_OF, **fields)


def scrape(registry: CollectorRegistry) -> dict[tuple[str, frozenset], float]:
    """Every sample of the exposition: (sample name, labels) -> value."""
    text = generate_latest(registry).decode()
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def gauges_only(samples: dict) -> dict:
    return {k: v for k, v in samples.items() if "cardinality" not in k[0]}


def s(name: str, value: float, **labels: str) -> tuple[tuple[str, frozenset], float]:
    return (name, frozenset(labels.items())), value


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


def test_scrape_exposes_each_gauge_under_its_naming_rule(registry):
    collector = GaugeCollector(Settings(), registry)
    collector.publish_teams({"alpha": team("alpha")})
    collector.publish_rollups(
        [
            ScopeSnapshot(
                "department",
                "eng",
                AS_OF,
                windowed={"7d": {"engagement_score": 0.48}},
                plain={"members": 12.0},
                info={"division": "tech"},
            ),
            ScopeSnapshot("division", "tech", AS_OF, windowed={"7d": {"posts": 30.0}}),
            ScopeSnapshot(
                "org",
                "org",
                AS_OF,
                windowed={"7d": {"posts": 31.0}},
                plain={"members": 40.0},
                initiatives={
                    DW: InitiativeSnapshot(
                        {
                            "none": 30,
                            "awareness": 0,
                            "desire": 0,
                            "knowledge": 4,
                            "ability": 5,
                            "reinforcement": 1,
                        },
                        members=40,
                        ratio=0.15,
                        index=None,
                    )
                },
            ),
        ]
    )

    assert gauges_only(scrape(registry)) == dict(
        [
            s("teampulse_team_engagement_score", 0.42, team="alpha", window="1d"),
            s("teampulse_team_engagement_score", 0.5, team="alpha", window="7d"),
            s("teampulse_team_posts", 3.0, team="alpha", window="1d"),
            s("teampulse_team_posts", 12.0, team="alpha", window="7d"),
            s("teampulse_team_members", 7.0, team="alpha"),
            s("teampulse_team_engagement_baseline", 0.45, team="alpha"),
            s("teampulse_adoption_members", 1, team="alpha", initiative=DW, stage="none"),
            s("teampulse_adoption_members", 2, team="alpha", initiative=DW, stage="awareness"),
            s("teampulse_adoption_members", 1, team="alpha", initiative=DW, stage="desire"),
            s("teampulse_adoption_members", 1, team="alpha", initiative=DW, stage="knowledge"),
            s("teampulse_adoption_members", 1, team="alpha", initiative=DW, stage="ability"),
            s("teampulse_adoption_members", 1, team="alpha", initiative=DW, stage="reinforcement"),
            s("teampulse_adoption_ratio", 0.25, team="alpha", initiative=DW),
            s("teampulse_adoption_index", 0.5, team="alpha", initiative=DW),
            s("teampulse_team_info", 1.0, team="alpha", department="eng", division="tech"),
            s("teampulse_department_engagement_score", 0.48, department="eng", window="7d"),
            s("teampulse_department_members", 12.0, department="eng"),
            s("teampulse_department_info", 1.0, department="eng", division="tech"),
            s("teampulse_division_posts", 30.0, division="tech", window="7d"),
            s("teampulse_org_posts", 31.0, window="7d"),
            s("teampulse_org_members", 40.0),
            s("teampulse_org_adoption_members", 30, initiative=DW, stage="none"),
            s("teampulse_org_adoption_members", 0, initiative=DW, stage="awareness"),
            s("teampulse_org_adoption_members", 0, initiative=DW, stage="desire"),
            s("teampulse_org_adoption_members", 4, initiative=DW, stage="knowledge"),
            s("teampulse_org_adoption_members", 5, initiative=DW, stage="ability"),
            s("teampulse_org_adoption_members", 1, initiative=DW, stage="reinforcement"),
            s("teampulse_org_adoption_ratio", 0.15, initiative=DW),
        ]
    )


def test_one_family_per_metric_name_holds_every_team(registry):
    collector = GaugeCollector(Settings(), registry)
    collector.publish_teams({"alpha": team("alpha"), "beta": team("beta")})

    families = [
        f
        for f in text_string_to_metric_families(generate_latest(registry).decode())
        if f.name == "teampulse_team_engagement_score"
    ]

    assert len(families) == 1
    assert sorted((x.labels["team"], x.labels["window"]) for x in families[0].samples) == [
        ("alpha", "1d"),
        ("alpha", "7d"),
        ("beta", "1d"),
        ("beta", "7d"),
    ]
    assert families[0].type == "gauge"


def test_an_undefined_value_yields_no_sample_rather_than_zero(registry):
    collector = GaugeCollector(Settings(), registry)
    undefined = InitiativeSnapshot(
        {"none": 7, "awareness": 0, "desire": 0, "knowledge": 0, "ability": 0, "reinforcement": 0},
        members=7,
        ratio=None,
        index=None,
    )
    collector.publish_teams(
        {
            "alpha": team(
                "alpha",
                initiatives={DW: undefined},
                windowed={"7d": {"first_reply_median_seconds": None}},
            )
        }
    )

    names = {name for name, _ in scrape(registry)}

    assert "teampulse_adoption_members" in names
    assert "teampulse_adoption_ratio" not in names
    assert "teampulse_adoption_index" not in names
    assert "teampulse_team_first_reply_median_seconds" not in names


def test_a_team_no_longer_published_vanishes_from_the_next_scrape(registry):
    collector = GaugeCollector(Settings(), registry)
    collector.publish_teams({"alpha": team("alpha"), "beta": team("beta")})
    assert {dict(k[1]).get("team") for k in scrape(registry)} >= {"alpha", "beta"}

    collector.publish_teams({"beta": team("beta")})  # alpha's partition moved away

    assert {dict(k[1]).get("team") for k in gauges_only(scrape(registry))} == {"beta"}


def test_rollups_cleared_with_none_vanish_and_teams_stay(registry):
    collector = GaugeCollector(Settings(), registry)
    collector.publish_teams({"alpha": team("alpha")})
    collector.publish_rollups([ScopeSnapshot("org", "org", AS_OF, plain={"members": 40.0})])
    assert ("teampulse_org_members", frozenset()) in scrape(registry)

    collector.publish_rollups(None)  # this worker no longer owns the roll-up partition

    names = {name for name, _ in scrape(registry)}
    assert "teampulse_org_members" not in names
    assert "teampulse_team_members" in names


def test_a_new_snapshot_of_a_team_replaces_its_values(registry):
    collector = GaugeCollector(Settings(), registry)
    collector.publish_teams({"alpha": team("alpha")})
    scrape(registry)  # builds and keeps alpha's samples

    collector.publish_teams({"alpha": team("alpha", plain={"members": 8.0})})

    samples = scrape(registry)
    assert samples[("teampulse_team_members", frozenset({("team", "alpha")}))] == 8.0
    assert ("teampulse_team_engagement_baseline", frozenset({("team", "alpha")})) not in samples


def test_info_labels_carry_only_the_org_path(registry):
    collector = GaugeCollector(Settings(), registry)
    collector.publish_teams(
        {
            "alpha": team(
                "alpha", info={"department": "eng", "division": "tech", "lead": "person-42"}
            )
        }
    )

    info = {k: v for k, v in scrape(registry).items() if k[0] == "teampulse_team_info"}

    assert info == dict(
        [s("teampulse_team_info", 1.0, team="alpha", department="eng", division="tech")]
    )


def test_cardinality_guard_keeps_the_first_teams_by_name_and_counts_the_rest_once(registry, caplog):
    collector = GaugeCollector(Settings(max_teams=2), registry)
    teams = {name: team(name) for name in ("gamma", "alpha", "delta", "beta")}

    with caplog.at_level(logging.WARNING, logger="teampulse.sinks.prometheus"):
        collector.publish_teams(teams)
        collector.publish_teams(teams)  # every export tick republishes: no new count or log
        samples = scrape(registry)
        scrape(registry)

    exported = {dict(k[1])["team"] for k in gauges_only(samples) if "team" in dict(k[1])}
    assert exported == {"alpha", "beta"}
    assert samples[("teampulse_cardinality_refused_total", frozenset({("kind", "team")}))] == 2
    assert samples[("teampulse_cardinality_refused_keys", frozenset({("kind", "team")}))] == 2
    assert [r.getMessage().split(":")[1].strip() for r in caplog.records] == [
        "team 'delta' is not exported to Prometheus",
        "team 'gamma' is not exported to Prometheus",
    ]


def test_cardinality_guard_refuses_initiatives_beyond_the_maximum(registry):
    collector = GaugeCollector(Settings(max_initiatives=1), registry)
    adoption = team("alpha").initiatives[DW]
    collector.publish_teams({"alpha": team("alpha", initiatives={"zeta": adoption, DW: adoption})})

    samples = scrape(registry)

    initiatives = {dict(k[1])["initiative"] for k in samples if "initiative" in dict(k[1])}
    assert initiatives == {DW}
    refused = frozenset({("kind", "initiative")})
    assert samples[("teampulse_cardinality_refused_total", refused)] == 1
    assert samples[("teampulse_cardinality_refused_keys", refused)] == 1


def test_refused_keys_drop_back_when_the_excess_team_leaves(registry):
    collector = GaugeCollector(Settings(max_teams=1), registry)
    collector.publish_teams({"alpha": team("alpha"), "beta": team("beta")})
    collector.publish_teams({"alpha": team("alpha")})

    samples = scrape(registry)

    assert samples[("teampulse_cardinality_refused_keys", frozenset({("kind", "team")}))] == 0
    assert samples[("teampulse_cardinality_refused_total", frozenset({("kind", "team")}))] == 1


def test_no_label_other_than_scope_window_initiative_stage_org_path_and_state(registry):
    collector = GaugeCollector(Settings(), registry)
    collector.publish_teams({"alpha": team("alpha", drop_signal="ok"), "beta": team("beta")})
    collector.publish_rollups([ScopeSnapshot("org", "org", AS_OF, plain={"members": 40.0})])

    labels = {name for key in scrape(registry) for name, _ in key[1]}

    assert labels == {
        "team", "window", "initiative", "stage", "department", "division", "kind", "state"
    }  # fmt: skip


def test_the_cached_text_page_exposes_the_same_samples_as_prometheus_client(registry):
    collector = GaugeCollector(Settings(), registry)
    odd = 'q"a\\b\nc'  # a team name that needs escaping in the exposition format
    collector.publish_teams({"alpha": team("alpha"), odd: team(odd)})
    collector.publish_rollups(
        [
            ScopeSnapshot(
                "org", "org", AS_OF, plain={"members": 40.0}, windowed={"7d": {"posts": 1e-05}}
            )
        ]
    )

    def parsed(text: str) -> dict:
        return {
            (x.name, frozenset(x.labels.items())): x.value
            for f in text_string_to_metric_families(text)
            for x in f.samples
        }

    expected = parsed(generate_latest(registry).decode())
    assert parsed(collector.exposition().decode()) == expected
    assert parsed(collector.exposition().decode()) == expected  # from the cache
    assert ("teampulse_team_members", frozenset({("team", odd)})) in expected


def test_the_metrics_page_holds_the_gauges_once_and_the_other_collectors_of_the_registry(registry):
    from teampulse.streams.health import PipelineHealth

    collector = GaugeCollector(Settings(), registry)
    PipelineHealth(registry)
    collector.publish_teams({"alpha": team("alpha")})

    page = collector.metrics_page(registry).decode()

    names = [f.name for f in text_string_to_metric_families(page)]
    assert len(names) == len(set(names))  # no family twice
    assert {"teampulse_team_members", "teampulse_events", "teampulse_cardinality_refused"} <= set(
        names
    )
    assert page.count('teampulse_team_members{team="alpha"} 7') == 1


def test_a_page_asked_for_some_names_holds_those_metrics_only(registry):
    collector = GaugeCollector(Settings(), registry)
    events = Counter("teampulse_events", "events", ["outcome"], registry=registry)
    events.labels("accepted").inc(3)
    registry.register(Undescribed())  # as the pipeline health collector is
    Counter("teampulse_other", "another counter", registry=registry).inc()
    collector.publish_teams({"alpha": team("alpha"), "beta": team("beta")})

    page = collector.metrics_page(
        registry, ["teampulse_events_total", "teampulse_team_members", "teampulse_lag"]
    )

    families = {f.name: f for f in text_string_to_metric_families(page.decode())}
    families.pop("teampulse_events_created")  # the counter's creation time, a sample of it
    assert set(families) == {"teampulse_events", "teampulse_team_members", "teampulse_lag"}
    assert {s.labels["team"]: s.value for s in families["teampulse_team_members"].samples} == {
        "alpha": 7.0,
        "beta": 7.0,
    }
    counters_only = collector.metrics_page(registry, ["teampulse_events_total"]).decode()
    assert "teampulse_team_" not in counters_only and "teampulse_events_total" in counters_only
    whole = {
        f.name for f in text_string_to_metric_families(collector.metrics_page(registry).decode())
    }
    assert {"teampulse_other", "teampulse_team_engagement_score"} <= whole


class Undescribed:
    """A collector with collect() only, which a restricted registry would not see."""

    def collect(self):  # type: ignore[no-untyped-def]
        yield GaugeMetricFamily("teampulse_lag", "lag", value=2.0)


def test_the_drop_signal_is_one_sample_per_state_one_for_the_current(registry):
    collector = GaugeCollector(Settings(), registry)
    collector.publish_teams({"alpha": team("alpha", drop_signal="watch")})

    samples = scrape(registry)

    assert {
        state: samples[
            ("teampulse_team_drop_signal", frozenset({("team", "alpha"), ("state", state)}))
        ]
        for state in ("ok", "watch", "drop", "insufficient_activity")
    } == {"ok": 0.0, "watch": 1.0, "drop": 0.0, "insufficient_activity": 0.0}


def test_a_snapshot_without_a_drop_signal_exports_no_state(registry):
    collector = GaugeCollector(Settings(), registry)
    collector.publish_teams({"alpha": team("alpha")})

    assert not [key for key in scrape(registry) if key[0] == "teampulse_team_drop_signal"]


def test_the_interaction_matrix_is_one_series_per_published_partner(registry):
    collector = GaugeCollector(Settings(), registry)
    collector.publish_teams({"alpha": team("alpha", interactions={"28d": {"beta": 3, "gamma": 1}})})

    samples = scrape(registry)

    assert {
        dict(labels)["other_team"]: value
        for (name, labels), value in samples.items()
        if name == "teampulse_team_interactions"
    } == {"beta": 3.0, "gamma": 1.0}
    assert (
        samples[
            (
                "teampulse_team_interactions",
                frozenset({("team", "alpha"), ("other_team", "beta"), ("window", "28d")}),
            )
        ]
        == 3.0
    )
