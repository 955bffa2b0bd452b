"""The tenants in force, as the processes that read the tenants file expose them on /metrics.

* `teampulse_tenants`: how many tenants are in force (1: the implicit tenant);
* `teampulse_tenants_file_refused`: 1 while the file's current content is refused (a change
  with a problem; the previous tenants stay in force and the log says why), else 0: alert on
  it, since a rotated credential or a new tenant is not in force until the file is fixed.

Collected at scrape time from the `TenantsSource`, so a reload shows at the next scrape.
"""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from teampulse.tenancy.source import TenantsSource

__all__ = ["TenantsCollector"]


class TenantsCollector(Collector):
    def __init__(self, source: TenantsSource, registry: CollectorRegistry) -> None:
        self.source = source
        registry.register(self)

    def collect(self) -> Iterator[Metric]:
        yield GaugeMetricFamily(
            "teampulse_tenants", "Tenants in force", value=len(self.source.directory.tenants)
        )
        yield GaugeMetricFamily(
            "teampulse_tenants_file_refused",
            "1 while the tenants file's content is refused and the previous tenants stay in force",
            value=1 if self.source.refused_problem is not None else 0,
        )
