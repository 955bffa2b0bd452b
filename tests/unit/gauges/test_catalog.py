"""The catalog, the snapshots and the documents name the same gauges."""

from __future__ import annotations

import re
from pathlib import Path

from teampulse.gauges import catalog
from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.counts import TeamCounts, WindowCounts
from teampulse.gauges.snapshot import snapshot_from_counts

DOCS = Path(__file__).resolve().parents[3] / "docs"
BUSY_WEEK = WindowCounts(
    active_members=3, learning_ms=1000, starts=1, completions=1, assessments_passed=1, posts=2,
    replies=3, reactions=1, threads_started=2, threads_replied=1, thread_replies=3,
    reply_interactions=3, cross_team_interactions=1, contributions=(1, 4),
    first_reply_latencies=(60.0,), first_cross_reply_latencies=(60.0,),
    first_within_reply_latencies=(90.0,),
)  # fmt: skip


def published_gauges() -> tuple[set[str], set[str]]:
    config = GaugeConfig()
    counts = TeamCounts(
        members=5, windows={label: BUSY_WEEK for label in config.windows},
        baseline_members=5, baseline_sum=2.0, current_sum=1.5, baseline_events=40.0,
    )  # fmt: skip
    snapshot = snapshot_from_counts("team", "alpha", counts, 5, config, 0.0)
    return set(snapshot.windowed["7d"]), set(snapshot.plain)


def test_every_published_gauge_is_in_the_catalog_and_nothing_else() -> None:
    windowed, plain = published_gauges()

    assert windowed == {g.name for g in catalog.WINDOWED}
    assert plain == {g.name for g in catalog.PLAIN}


def test_every_gauge_has_help_text_and_a_valid_metric_name() -> None:
    for gauge in catalog.GAUGES.values():
        assert catalog.help_text(gauge.name)
        assert re.fullmatch(r"teampulse_[a-z_]+", catalog.metric_name("department", gauge.name))


def test_metrics_md_lists_every_gauge_and_gauges_md_explains_it() -> None:
    metrics = (DOCS / "metrics.md").read_text()
    gauges = (DOCS / "gauges.md").read_text()

    for name in catalog.GAUGES:
        assert f"`{name}`" in metrics, name
        assert f"`{name}`" in gauges, name


def test_adoption_names_follow_the_scope_rule() -> None:
    assert catalog.adoption_metric_name("team", "ratio") == "teampulse_adoption_ratio"
    assert (
        catalog.adoption_metric_name("division", "members") == "teampulse_division_adoption_members"
    )
