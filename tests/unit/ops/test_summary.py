"""The demo's summary: the least engaged teams first, alerts grouped one row per kind."""

from __future__ import annotations

from rich.console import Console

from teampulse.ops.summary import AlertLine, firing_summary, pending_summary, render, summarise

METRICS = """\
# TYPE teampulse_events_total counter
teampulse_events_total{source="lms",outcome="accepted"} 120.0
teampulse_events_total{source="slack",outcome="accepted"} 30.0
teampulse_events_total{source="lms",outcome="rejected"} 7.0
teampulse_org_engagement_score{window="7d"} 0.61
teampulse_team_engagement_score{team="atlas",window="7d"} 0.8
teampulse_team_engagement_score{team="atlas",window="1d"} 0.1
teampulse_team_engagement_score{team="borealis",window="7d"} 0.3
teampulse_team_engagement_change_ratio{team="borealis"} -0.42
teampulse_team_participation_ratio{team="borealis",window="7d"} 0.25
"""
ALERTS = [
    {"labels": {"alertname": "TeamParticipationLow", "team": "borealis"}, "state": "pending"},
    {"labels": {"alertname": "TeamEngagementDropped", "team": "borealis"}, "state": "firing"},
    {"labels": {"alertname": "TeamEngagementDropped", "team": "comet"}, "state": "firing"},
    {"labels": {"alertname": "TeamEngagementDropped", "team": "dune"}, "state": "firing"},
]


def test_the_summary_counts_accepted_events_and_orders_teams_by_engagement() -> None:
    summary = summarise(METRICS, [])

    assert summary.accepted == 150
    assert summary.org_engagement == 0.61
    assert [(t.team, t.engagement) for t in summary.teams] == [("borealis", 0.3), ("atlas", 0.8)]
    assert summary.teams[0].change == -0.42
    assert summary.teams[0].participation == 0.25


def test_firing_alerts_come_before_pending_ones() -> None:
    summary = summarise(METRICS, ALERTS)

    assert [(a.name, a.state) for a in summary.alerts][0] == ("TeamEngagementDropped", "firing")
    assert summary.alerts[-1].state == "pending"


def test_the_screen_shows_one_row_per_alert_kind_with_a_count() -> None:
    console = Console(width=140, record=True)
    console.print(render(summarise(METRICS, ALERTS), {"teams page": "http://127.0.0.1:6066/"}))
    screen = console.export_text()

    assert screen.count("TeamEngagementDropped") == 1
    assert "team=borealis; team=comet (+1 more)" in screen
    assert "-42%" in screen
    assert "http://127.0.0.1:6066/" in screen


def test_a_pending_alert_says_when_it_fires() -> None:
    pending = [
        {"labels": {"alertname": "TeamEngagementDropped", "team": "borealis"}, "state": "pending"}
        | {"fires_in": 95.0}
    ]
    summary = summarise(METRICS, pending)
    console = Console(width=140, record=True)
    console.print(render(summary, {}))

    assert "pending, fires in about 2 min" in console.export_text()
    assert (
        pending_summary(summary.alerts)
        == "TeamEngagementDropped team=borealis fires in about 2 min"
    )


def test_the_screen_shows_the_latest_teams_card() -> None:
    summary = summarise(METRICS, ALERTS)
    summary.notification = ["FIRING TeamEngagementDropped: Team borealis is far less active"]
    console = Console(width=140, record=True)
    console.print(render(summary, {}))

    assert "FIRING TeamEngagementDropped: Team borealis is far less active" in console.export_text()


def test_pending_alerts_are_summed_up_per_kind_soonest_first() -> None:
    pending = [
        AlertLine("AdoptionStalled", "pending", "team=a", 86_400.0),
        AlertLine("AdoptionStalled", "pending", "team=b", 80_000.0),
        AlertLine("TeamEngagementDropped", "pending", "team=c", 30.0),
    ]

    assert pending_summary(pending) == (
        "TeamEngagementDropped team=c fires within a minute; AdoptionStalled x2 fires in about 22 h"
    )


def test_firing_alerts_are_named_per_kind_so_the_demo_log_says_which_team() -> None:
    firing = [
        AlertLine("TeamEngagementDropped", "firing", "team=ember", None),
        AlertLine("AdoptionStalled", "firing", "team=a", None),
        AlertLine("AdoptionStalled", "firing", "team=b", None),
    ]

    assert firing_summary(firing) == "AdoptionStalled x2; TeamEngagementDropped team=ember"


def test_while_the_worker_reads_its_backlog_no_team_is_said_to_need_attention() -> None:
    behind = METRICS + (
        "# TYPE teampulse_consumer_lag gauge\n"
        'teampulse_consumer_lag{topic="teampulse.events",partition="0"} 12000.0\n'
        'teampulse_consumer_lag{topic="teampulse.events",partition="1"} 7000.0\n'
    )
    summary = summarise(behind, [])
    summary.attention = [("borealis", "participation 0 of 8 this week")]
    console = Console(width=160, record=True)
    console.print(render(summary, {}))
    screen = console.export_text()

    assert summary.lag == 19000 and summary.catching_up
    assert "reading the history (19,000 events still to read)" in screen
    assert "participation 0 of 8" not in screen


def test_a_worker_that_has_accepted_nothing_yet_is_still_reading() -> None:
    assert summarise(METRICS.replace("120.0", "0.0").replace("30.0", "0.0"), []).catching_up
    caught_up = summarise(METRICS, [])
    caught_up.attention = [("borealis", "participation 1 of 4 this week")]
    console = Console(width=160, record=True)
    console.print(render(caught_up, {}))

    assert not caught_up.catching_up
    assert "participation 1 of 4 this week" in console.export_text()
