"""The content table's bounded view in Prometheus: the top items per initiative, the totals,
nothing from a worker that does not own the roll-ups."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, generate_latest

from teampulse.gauges.config import EvidenceMatcher, GaugeConfig, InitiativeConfig
from teampulse.gauges.content import ContentCounts, content_table
from teampulse.gauges.model import ContentSnapshot, OrgSnapshot
from teampulse.sinks.content_metrics import ContentCollector
from teampulse.sinks.sink import Publication

AGILE = InitiativeConfig(
    id="agile",
    stages={
        "knowledge": (
            EvidenceMatcher(type=("learning.completed",), content_prefix="agile-course-"),
        ),
    },
)
CONFIG = GaugeConfig(initiatives=(AGILE,))


def publication(content: list[ContentSnapshot] | None, changed: bool = True) -> Publication:
    return Publication(
        as_of=0.0, teams={}, rollups=None, changed=OrgSnapshot(as_of=0.0),
        content=content, content_changed=changed,
    )  # fmt: skip


def scrape(registry: CollectorRegistry) -> list[str]:
    return [
        line
        for line in generate_latest(registry).decode().splitlines()
        if line.startswith("teampulse_content_")
    ]


def test_the_owner_serves_the_top_items_and_the_totals_per_initiative() -> None:
    items = {f"agile-course-{i}": ContentCounts(learners=5 + i, completers=5) for i in range(7)}
    table = content_table({"atlas": {"28d": items}}, CONFIG)
    registry = CollectorRegistry()
    collector = ContentCollector(CONFIG, registry)

    collector.publish(publication(table))

    lines = scrape(registry)
    learners = [line for line in lines if line.startswith("teampulse_content_learners{")]
    assert len(learners) == 5  # the top 5 of 7
    assert (
        'teampulse_content_learners{content="agile-course-6",initiative="agile",window="28d"} 11.0'
        in lines
    )
    assert 'teampulse_content_items{initiative="agile"} 7.0' in lines
    assert 'teampulse_content_needs_attention_items{initiative="agile"} 0.0' in lines


def test_a_worker_without_the_rollups_serves_no_content() -> None:
    table = content_table({"atlas": {"28d": {"agile-course-1": ContentCounts(6, 6)}}}, CONFIG)
    registry = CollectorRegistry()
    collector = ContentCollector(CONFIG, registry)
    collector.publish(publication(table))

    collector.publish(publication(None, changed=False))

    assert scrape(registry) == []
