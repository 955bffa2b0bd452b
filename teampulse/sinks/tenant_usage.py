"""What each tenant uses, on a worker's /metrics, for billing and quotas (docs/tenancy.md).

* `teampulse_tenant_events_total{tenant}`: events the tenant brought into the pipeline
  through this worker's ingest stage (accepted past validation; sum over the workers);
* `teampulse_tenant_people{tenant}`: active people of the tenant's roster (every worker reads
  the whole roster: take the max over the workers, not the sum);
* `teampulse_tenant_teams{tenant}`: teams of the tenant this worker exports (sum);
* `teampulse_tenant_series{tenant}`: series of the tenant's teams and roll-ups this worker
  exports, as of its last scrape (sum);
* `teampulse_tenant_teams_refused{tenant}`: teams not exported because the tenant's
  `max_teams` is reached (sum).

Without a tenants file there is nothing per tenant, and none of these is exported.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from teampulse.contract.tenant_scope import tenant_of
from teampulse.enrichment.roster import Roster
from teampulse.sinks.prometheus import GaugeCollector

__all__ = ["TenantUsage"]


class TenantUsage(Collector):
    def __init__(
        self,
        events: Counter[str],
        roster: Roster,
        gauges: GaugeCollector,
        registry: CollectorRegistry,
    ) -> None:
        self.events = events
        self.roster = roster
        self.gauges = gauges
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        events = CounterMetricFamily(
            "teampulse_tenant_events",
            "Events a tenant brought into the pipeline through this worker",
            labels=["tenant"],
        )
        for tenant, count in sorted(self.events.items()):
            events.add_metric([tenant], count)
        people = GaugeMetricFamily(
            "teampulse_tenant_people", "Active people of a tenant's roster", labels=["tenant"]
        )
        counted: Counter[str] = Counter()
        for team in self.roster.teams():
            owner = tenant_of(team)
            if owner is not None:
                counted[owner] += self.roster.team_size(team)
        for tenant, count in sorted(counted.items()):
            people.add_metric([tenant], count)
        teams = GaugeMetricFamily(
            "teampulse_tenant_teams", "Teams of a tenant this worker exports", labels=["tenant"]
        )
        series = GaugeMetricFamily(
            "teampulse_tenant_series",
            "Series of a tenant's teams and roll-ups this worker exports (as of its last scrape)",
            labels=["tenant"],
        )
        for tenant, (team_count, series_count) in sorted(self.gauges.usage().items()):
            teams.add_metric([tenant], team_count)
            series.add_metric([tenant], series_count)
        refused = GaugeMetricFamily(
            "teampulse_tenant_teams_refused",
            "Teams of a tenant not exported because its max_teams is reached",
            labels=["tenant"],
        )
        for tenant, count in sorted(self.gauges.refused_by_quota.items()):
            refused.add_metric([tenant], count)
        yield from (events, people, teams, series, refused)
