"""`teampulse tenant usage` and `GET /tenants/{id}/usage`: what each tenant uses, for billing.

The workers and the ingest endpoint export the usage per tenant on their /metrics
(teampulse/sinks/tenant_usage.py, docs/tenancy.md); Prometheus scrapes every one of them, so
it is the one place that holds the deployment's total. Each figure is one PromQL query,
aggregated the way its metric adds up across processes (a sum, or the max for the roster's
people, which every worker reads whole), next to the tenant's quotas from the tenants file.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import aiohttp

from teampulse.tenancy.directory import TenantDirectory

__all__ = ["USAGE_QUERIES", "TenantUsageReport", "UsageUnavailable", "read_usage"]

# figure -> the PromQL query that gives it per tenant across every process
USAGE_QUERIES = {
    "records": "sum by (tenant) (teampulse_tenant_records_total)",
    "events": "sum by (tenant) (teampulse_tenant_events_total)",
    "people": "max by (tenant) (teampulse_tenant_people)",
    "teams": "sum by (tenant) (teampulse_tenant_teams)",
    "series": "sum by (tenant) (teampulse_tenant_series)",
    "teams_refused": "sum by (tenant) (teampulse_tenant_teams_refused)",
}
TIMEOUT_S = 10


class UsageUnavailable(Exception):
    """Prometheus did not answer the usage queries; the message names it and the fix."""


@dataclass(frozen=True)
class TenantUsageReport:
    tenant: str
    figures: dict[str, float]  # every figure of USAGE_QUERIES, 0 when nothing was exported
    quotas: dict[str, Any]  # max_teams, max_series, rate_limit as the tenants file says

    def as_json(self) -> dict[str, Any]:
        return {"tenant": self.tenant, "usage": self.figures, "quotas": self.quotas}

    def line(self) -> str:
        figures = "  ".join(f"{name}={value:g}" for name, value in self.figures.items())
        quotas = "  ".join(f"{name}={value}" for name, value in self.quotas.items())
        return f"{self.tenant}\t{figures}\t{quotas}"


async def read_usage(
    prometheus_url: str, directory: TenantDirectory, tenants: list[str]
) -> list[TenantUsageReport]:
    """The usage of `tenants` (every one of them named in `directory`)."""
    by_figure: dict[str, dict[str, float]] = {}
    timeout = aiohttp.ClientTimeout(total=TIMEOUT_S)
    url = f"{prometheus_url.rstrip('/')}/api/v1/query"
    async with aiohttp.ClientSession(timeout=timeout) as session:
        for figure, query in USAGE_QUERIES.items():
            try:
                async with session.get(url, params={"query": query}) as response:
                    body = await response.json(content_type=None)
            except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
                raise UsageUnavailable(
                    f"Prometheus at {prometheus_url} did not answer ({exc!r}): the usage is "
                    "read from it; set TEAMPULSE_PROMETHEUS_URL to the Prometheus that "
                    "scrapes the workers and the ingest endpoint"
                ) from exc
            if not isinstance(body, dict) or body.get("status") != "success":
                error = body.get("error") if isinstance(body, dict) else body
                raise UsageUnavailable(f"Prometheus at {prometheus_url} refused {query!r}: {error}")
            by_figure[figure] = {
                result["metric"].get("tenant", ""): float(result["value"][1])
                for result in body["data"]["result"]
            }
    reports = []
    for tenant in tenants:
        entry = directory.tenants[tenant]
        quotas: dict[str, Any] = {
            "max_teams": entry.max_teams,
            "max_series": entry.max_series,
            "rate_per_s": entry.rate_per_s or None,
        }
        figures = {figure: by_figure[figure].get(tenant, 0.0) for figure in USAGE_QUERIES}
        reports.append(TenantUsageReport(tenant, figures, quotas))
    return reports
