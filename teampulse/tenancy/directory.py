"""Who a request or a record belongs to: the tenant directory the edges consult.

Two modes, one interface:
* implicit (TEAMPULSE_TENANTS_FILE unset): one tenant, `default`, holding the global
  settings (TEAMPULSE_INGEST_CREDENTIALS, the connector secrets, TEAMPULSE_PSEUDONYM_SECRET).
  Records carry no tenant header and everything works as it did before tenants existed;
* configured: the tenants of the file. The tenant of a request is the tenant of the
  credential or signing secret that proved it, never a field of the payload; the edge writes
  it in the `teampulse-tenant` header of every record, and keys person ids with the tenant's
  own pseudonym secret before anything reaches Kafka.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field

from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Reason, Rejection
from teampulse.gauges.config import TenantGauges
from teampulse.settings import Settings, parse_duration
from teampulse.tenancy.config import (
    TenantConfig,
    TenantConfigError,
    TenantsFile,
    forum_host,
    load_tenants,
)

__all__ = [
    "IMPLICIT_TENANT",
    "TENANT_HEADER",
    "TENANT_ROUTES",
    "Tenant",
    "TenantDirectory",
    "tenant_directory",
]

IMPLICIT_TENANT = "default"
TENANT_HEADER = "teampulse-tenant"
TENANT_ROUTES = ("events", "xapi")  # the input topics a tenant may have its own copy of
MISSING_TENANT = Rejection(
    Reason.UNKNOWN_TENANT,
    f"no {TENANT_HEADER} header: with tenants configured, only the ingest endpoint, "
    "`teampulse tenant-relay` and `teampulse produce --tenant` may write the input topics",
)
Headers = Sequence[tuple[str, bytes]]


@dataclass(frozen=True)
class Tenant:
    id: str
    pseudonym_secret: str = field(repr=False)
    credentials: tuple[str, ...] = field(default=(), repr=False)  # as in INGEST_CREDENTIALS
    sensor_tokens: dict[str, str] = field(default_factory=dict, repr=False)  # token -> sensor
    rate_per_s: float = 0.0  # 0: not limited
    rate_burst: int = 1
    suspended: bool = False
    max_teams: int | None = None  # None: TEAMPULSE_MAX_TEAMS alone
    max_series: int | None = None  # None: bounded by its teams only
    # Its minimum group size, scoring and initiatives (None each: the deployment's).
    gauges: TenantGauges = field(default_factory=TenantGauges)
    alert_route: str | None = None  # the `alert_route` label of its teams' alerts
    retention_s: int | None = None  # how long its data is kept (None: the deployment's)


@dataclass(frozen=True)
class Signer:
    """A tenant and the secret its platform signs with (or its Graph clientState)."""

    tenant: str
    secret: str = field(repr=False)


class TenantDirectory:
    def __init__(
        self,
        tenants: dict[str, Tenant],
        *,
        implicit: bool,
        slack: dict[str, Signer] | None = None,
        graph: dict[str, Signer] | None = None,
        forums: dict[str, Signer] | None = None,
        readers: dict[bytes, str] | None = None,
    ) -> None:
        self.tenants = tenants
        self.implicit = implicit
        self._slack = slack or {}
        self._graph = graph or {}
        self._forums = forums or {}
        self._readers = readers or {}  # SHA-256 of a read token -> its tenant
        self._pseudonymisers: dict[str, Pseudonymiser] = {}

    # ------------------------------------------------------------------ building
    @classmethod
    def single(cls, settings: Settings) -> TenantDirectory:
        """The one implicit tenant of a deployment without a tenants file."""
        tenant = Tenant(
            IMPLICIT_TENANT,
            settings.pseudonym_secret,
            tuple(e.strip() for e in settings.ingest_credentials.split(",") if e.strip()),
            rate_per_s=settings.ingest_rate_per_s,
            rate_burst=settings.ingest_rate_burst,
        )
        # In implicit mode a platform's one secret answers for any workspace, Entra tenant
        # or forum, as before: the key "" stands for "whichever".
        secrets = (
            ("slack", settings.slack_signing_secret),
            ("graph", settings.msteams_client_state),
            ("forums", settings.discourse_webhook_secret),
        )
        signers = {
            name: ({"": Signer(IMPLICIT_TENANT, secret)} if secret else {})
            for name, secret in secrets
        }
        return cls(
            {IMPLICIT_TENANT: tenant},
            implicit=True,
            slack=signers["slack"],
            graph=signers["graph"],
            forums=signers["forums"],
        )

    @classmethod
    def configured(cls, file: TenantsFile, settings: Settings) -> TenantDirectory:
        tenants: dict[str, Tenant] = {}
        slack: dict[str, Signer] = {}
        graph: dict[str, Signer] = {}
        forums: dict[str, Signer] = {}
        readers: dict[bytes, str] = {}
        for tenant_id, config in file.tenants.items():
            if (
                config.initiatives is not None
                and len(config.initiatives) > settings.max_initiatives
            ):
                raise TenantConfigError(
                    f"tenants.{tenant_id}.initiatives: {len(config.initiatives)} initiatives; "
                    f"the cardinality guard TEAMPULSE_MAX_INITIATIVES allows "
                    f"{settings.max_initiatives}"
                )
            readers.update((_digest(token), tenant_id) for token in config.read_tokens)
            tenants[tenant_id] = _tenant(tenant_id, config, settings)
            slack.update((k, Signer(tenant_id, v)) for k, v in config.slack.workspaces.items())
            graph.update((k, Signer(tenant_id, v)) for k, v in config.msteams.entra_tenants.items())
            forums.update((k, Signer(tenant_id, v)) for k, v in config.discourse.forums.items())
        return cls(
            tenants, implicit=False, slack=slack, graph=graph, forums=forums, readers=readers
        )

    # ------------------------------------------------------------------ the edges' questions
    def get(self, tenant_id: str) -> Tenant | None:
        return self.tenants.get(tenant_id)

    def tenant_of_read_token(self, token: str) -> str | None:
        """Whose figures a read token shows (one lookup by digest, whatever the number of
        tenants, as for ingest credentials)."""
        return self._readers.get(_digest(token))

    def team_quota(self, tenant_id: str) -> int | None:
        """The most teams of the tenant a worker exports (None: no quota of its own)."""
        tenant = self.tenants.get(tenant_id)
        return tenant.max_teams if tenant is not None else None

    def gauge_settings(self) -> dict[str, TenantGauges]:
        """tenant -> its own minimum group size, scoring and initiatives, for the tenants
        that set any (GaugeConfig.use_tenants puts them in force)."""
        return {
            tenant_id: tenant.gauges
            for tenant_id, tenant in self.tenants.items()
            if tenant.gauges.own
        }

    def alert_routes(self) -> dict[str, str]:
        """tenant -> its `alert_route`, for the tenants that set one."""
        return {
            tenant_id: tenant.alert_route
            for tenant_id, tenant in self.tenants.items()
            if tenant.alert_route is not None
        }

    def retention_of(self, tenant_id: str | None) -> int | None:
        """The tenant's own retention in seconds (None: the deployment's)."""
        tenant = self.tenants.get(tenant_id) if tenant_id is not None else None
        return tenant.retention_s if tenant is not None else None

    def series_quota(self, tenant_id: str) -> int | None:
        """The most series of the tenant's teams a worker exports (None: no quota)."""
        tenant = self.tenants.get(tenant_id)
        return tenant.max_series if tenant is not None else None

    def pseudonymiser(self, tenant_id: str) -> Pseudonymiser:
        """The tenant's person-id keying (one per tenant, kept: it caches)."""
        found = self._pseudonymisers.get(tenant_id)
        if found is None:
            tenant = self.tenants[tenant_id]
            found = self._pseudonymisers[tenant_id] = Pseudonymiser(tenant.pseudonym_secret)
        return found

    def slack_signer(self, workspace: str | None) -> Signer | None:
        """Whose signing secret a delivery from Slack workspace `workspace` (team_id) must
        carry; None when no tenant holds that workspace."""
        if self.implicit:
            return self._slack.get("")
        return self._slack.get(workspace or "")

    def slack_signers(self) -> list[Signer]:
        """Every Slack secret: a url_verification handshake names no workspace."""
        return list(self._slack.values())

    def graph_signer(self, entra_tenant: str | None) -> Signer | None:
        """The tenant (and its clientState) of a Graph notification's `tenantId`."""
        if self.implicit:
            return self._graph.get("")
        return self._graph.get(entra_tenant or "")

    def graph_signers(self) -> list[Signer]:
        return list(self._graph.values())

    def graph_tenants(self) -> dict[str, Signer]:
        """Entra tenant -> its tenant and clientState (none in implicit mode): where
        `teampulse msteams-subscribe` subscribes."""
        return {} if self.implicit else dict(self._graph)

    def forum_signer(self, instance: str | None) -> Signer | None:
        """The tenant (and its webhook secret) of a Discourse forum (X-Discourse-Instance)."""
        if self.implicit:
            return self._forums.get("")
        return self._forums.get(forum_host(instance or ""))

    def has_slack(self) -> bool:
        return bool(self._slack)

    def has_graph(self) -> bool:
        return bool(self._graph)

    def has_forums(self) -> bool:
        return bool(self._forums)

    def tenant_topics(self) -> dict[str, tuple[str, str]]:
        """The logical names of the tenants' own input topics (`tenant.<id>.events`, ...),
        each with its tenant and route: where a tenant's own producers write, the topic
        naming the tenant. A suspended tenant's are left out (its records wait there)."""
        if self.implicit:
            return {}
        return {
            f"tenant.{tenant.id}.{route}": (tenant.id, route)
            for tenant in self.tenants.values()
            if not tenant.suspended
            for route in TENANT_ROUTES
        }

    def tenant_topic_retention(self) -> dict[str, int | None]:
        """`tenant_topics()`, each with its tenant's own retention in seconds (None: the
        shared input topics')."""
        return {
            name: self.tenants[tenant].retention_s
            for name, (tenant, _route) in self.tenant_topics().items()
        }

    # ------------------------------------------------------------------ records on Kafka
    def record_headers(self, tenant_id: str) -> list[tuple[str, bytes]]:
        """The headers that carry `tenant_id` on a record (none for the implicit tenant, so
        a deployment without tenants writes exactly what it wrote before)."""
        return [] if self.implicit else [(TENANT_HEADER, tenant_id.encode())]

    def tenant_of_record(self, headers: Headers | None) -> str | None | Rejection:
        """A record's tenant from its headers: None in implicit mode (whatever the headers
        say), else the header's tenant, or the rejection that dead-letters the record."""
        if self.implicit:
            return None
        for key, value in headers or ():
            if key == TENANT_HEADER:
                tenant = bytes(value).decode("utf-8", "replace")
                if tenant in self.tenants:
                    return tenant
                return Rejection(
                    Reason.UNKNOWN_TENANT,
                    f"tenant {tenant[:64]!r} is not in the tenants file (deleted, or never "
                    "created): its records cannot be attributed",
                )
        return MISSING_TENANT


def _digest(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()


def _tenant(tenant_id: str, config: TenantConfig, settings: Settings) -> Tenant:
    limit = config.rate_limit
    return Tenant(
        tenant_id,
        config.pseudonym_secret,
        config.credentials,
        {token: sensor for sensor, token in config.caliper.sensors.items()},
        rate_per_s=limit.per_s if limit is not None else settings.ingest_rate_per_s,
        rate_burst=limit.burst if limit is not None else settings.ingest_rate_burst,
        suspended=config.suspended,
        max_teams=config.max_teams,
        max_series=config.max_series,
        gauges=TenantGauges(config.min_group_size, config.scoring, config.initiatives),
        alert_route=config.alert_route,
        retention_s=parse_duration(config.retention) if config.retention is not None else None,
    )


def tenant_directory(settings: Settings) -> TenantDirectory:
    """The directory of TEAMPULSE_TENANTS_FILE, or the implicit tenant when it is unset.
    Raises TenantConfigError with one line per problem."""
    if settings.tenants_file is None:
        return TenantDirectory.single(settings)
    return TenantDirectory.configured(load_tenants(settings.tenants_file), settings)
