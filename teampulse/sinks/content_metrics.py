"""The content table's bounded view in Prometheus (docs/metrics.md, "Content").

Catalogues hold thousands of items; a series per item, window and gauge would be tens of
thousands per tenant. Prometheus gets, per tenant and initiative, the top
`content.prometheus_top_items` contents by learners in the longest content window
(`gauges.content.prometheus_view`), and the totals per initiative; Redis and the read API
hold the whole table. Bound: tenants x (initiatives + 1) x (top items x content windows x
(6 + 3 x spans) + 2) series: 1 x 4 x (5 x 2 x 12 + 2) = 488 with the shipped configuration
(three initiatives, two spans).

Only the worker that owns the roll-ups computes the table; the others serve no content
series (the same rule as the roll-ups). Built at scrape time from the latest publication,
so an item that leaves the top vanishes from the next scrape.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from teampulse.gauges import catalog
from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.content import prometheus_view
from teampulse.gauges.model import ContentSnapshot
from teampulse.sinks.sink import Publication

__all__ = ["ContentCollector"]

_WITHIN = "_within_"
_BY_NAME = {g.name: g for g in catalog.CONTENT}


class ContentCollector(Collector):
    def __init__(self, config: GaugeConfig, registry: CollectorRegistry | None = None) -> None:
        self._config = config
        # (chosen snapshots, (tenant, initiative) -> (items, needing attention)): one reference
        self._view: tuple[list[ContentSnapshot], dict[tuple[str | None, str], tuple[int, int]]]
        self._view = ([], {})
        if registry is not None:
            registry.register(self)

    def publish(self, publication: Publication) -> None:
        """The Sink contract: the owner's table, or nothing when this worker has none."""
        if publication.content is None:
            self._view = ([], {})
        elif publication.content_changed or not self._view[0]:
            self._view = prometheus_view(publication.content, self._config)

    def collect(self) -> Iterator[Metric]:
        chosen, totals = self._view  # one read: a consistent view
        tenants = any(s.tenant is not None for s in chosen) or any(t for t, _ in totals)
        base = ["tenant"] if tenants else []
        families: dict[str, GaugeMetricFamily] = {}

        def family(gauge: str, labels: list[str]) -> GaugeMetricFamily:
            name = catalog.content_metric_name(gauge)
            found = families.get(name)
            if found is None:
                help_text = _BY_NAME[gauge].help if gauge in _BY_NAME else ""
                if not help_text:
                    help_text = next(g.help for g in catalog.CONTENT_TOTALS if g.name == gauge)
                found = families[name] = GaugeMetricFamily(name, help_text, labels=labels)
            return found

        per_item = [*base, "content", "initiative", "window"]
        for snapshot in chosen:
            head = [snapshot.tenant or ""] if tenants else []
            for window, gauges in snapshot.windowed.items():
                values = [*head, snapshot.key, snapshot.initiative, window]
                for name, value in gauges.items():
                    gauge, _, within = name.partition(_WITHIN)
                    if within:
                        family(gauge, [*per_item, "within"]).add_metric([*values, within], value)
                    else:
                        family(gauge, per_item).add_metric(values, value)
        for (tenant, initiative), (items, attention) in sorted(
            totals.items(), key=lambda t: (t[0][0] or "", t[0][1])
        ):
            head = [tenant or ""] if tenants else []
            family("items", [*base, "initiative"]).add_metric([*head, initiative], items)
            family("needs_attention_items", [*base, "initiative"]).add_metric(
                [*head, initiative], attention
            )
        yield from families.values()
