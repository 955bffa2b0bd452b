"""The tenants file: every organisation one deployment serves, and what is its own.

```yaml
tenants:
  acme:                                   # the tenant id: a-z, 0-9 and '-', up to 63
    pseudonym_secret: "..."               # its own person-id key (>= 16 characters)
    credentials: ["acme-lms:secret", "a-bearer-token"]  # Basic 'user:secret', bare Bearer
    read_tokens: ["..."]                  # the read API's and web app's Bearer tokens
    rate_limit: {per_s: 50, burst: 200}   # requests, all its credentials and connectors
    slack: {workspaces: {T0ACME: "signing secret"}}      # Slack team_id -> signing secret
    msteams: {entra_tenants: {"<tenant guid>": "clientState"}}
    discourse: {forums: {"forum.acme.example": "webhook secret"}}  # X-Discourse-Instance
    caliper: {sensors: {"https://lms.acme.example/sensor": "sensor token"}}
    min_group_size: 5
    max_teams: 200                         # teams exported to Prometheus, per worker
    max_series: 20000                      # series of its teams exported, per worker
    retention: 400d
    alert_route: l-and-d-acme
    organisation: "Acme Corp"
    scoring: {engagement: {...}, conversation_quality: {...}}  # those parts of scoring.yaml
    initiatives: [...]                     # the list of initiatives.yaml
    suspended: false
```

Every problem is reported on one line naming the tenant and the entry, and a file with a
problem is refused whole (at start: the process does not start; at a reload: the previous
file stays in force). Ids an edge resolves a tenant by (Basic users, Bearer tokens, Slack
workspaces, Entra tenants, forums, Caliper sensors and their tokens) may belong to one tenant
only: otherwise the tenant of a request would depend on the order of the file.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from teampulse.gauges.config import (
    InitiativeConfig,
    TenantScoring,
    parse_initiatives,
)
from teampulse.settings import parse_duration

__all__ = [
    "MIN_SECRET_CHARS",
    "TENANT_ID",
    "CaliperSensors",
    "DiscourseForums",
    "GraphTenants",
    "RateLimit",
    "SlackWorkspaces",
    "TenantConfig",
    "TenantConfigError",
    "TenantsFile",
    "load_tenants",
    "parse_tenants",
]

# A tenant id must fit a Kafka topic name, a Redis key and a Prometheus label unchanged.
TENANT_ID = re.compile(r"[a-z0-9][a-z0-9-]{0,62}")
MIN_SECRET_CHARS = 16  # a pseudonym key shorter than this is guessable


class TenantConfigError(SystemExit):
    """The tenants file cannot be used; one line per problem."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class RateLimit(_Strict):
    per_s: float = Field(gt=0)
    burst: int = Field(ge=1)


def _secrets_not_empty(value: Mapping[str, str]) -> Mapping[str, str]:
    for key, secret in value.items():
        if not key.strip():
            raise ValueError("an id must not be empty")
        if not secret:
            raise ValueError(f"{key}: the secret must not be empty")
    return value


class SlackWorkspaces(_Strict):
    # Slack team_id -> the signing secret of the app installed there
    workspaces: dict[str, str] = Field(default_factory=dict)
    _check = field_validator("workspaces")(_secrets_not_empty)


class GraphTenants(_Strict):
    # Entra (Azure AD) tenant id -> the clientState of that tenant's Graph subscription
    entra_tenants: dict[str, str] = Field(default_factory=dict)
    _check = field_validator("entra_tenants")(_secrets_not_empty)


class DiscourseForums(_Strict):
    # forum host as its X-Discourse-Instance header names it -> the webhook secret
    forums: dict[str, str] = Field(default_factory=dict)
    _check = field_validator("forums")(_secrets_not_empty)

    @field_validator("forums")
    @classmethod
    def _hosts(cls, value: dict[str, str]) -> dict[str, str]:
        return {forum_host(host): secret for host, secret in value.items()}


class CaliperSensors(_Strict):
    # sensor id (the envelope's `sensor`) -> the Bearer token that sensor sends
    sensors: dict[str, str] = Field(default_factory=dict)
    _check = field_validator("sensors")(_secrets_not_empty)


def forum_host(instance: str) -> str:
    """'https://forum.example.com/' -> 'forum.example.com', as a forum is looked up."""
    return instance.strip().rstrip("/").removeprefix("https://").removeprefix("http://").lower()


class TenantConfig(_Strict):
    pseudonym_secret: str = Field(min_length=MIN_SECRET_CHARS)
    credentials: tuple[str, ...] = ()
    # Bearer tokens of the read API and the web app: they see this tenant's figures only.
    read_tokens: tuple[str, ...] = ()
    rate_limit: RateLimit | None = None  # None: TEAMPULSE_INGEST_RATE_PER_S / _BURST
    slack: SlackWorkspaces = Field(default_factory=SlackWorkspaces)
    msteams: GraphTenants = Field(default_factory=GraphTenants)
    discourse: DiscourseForums = Field(default_factory=DiscourseForums)
    caliper: CaliperSensors = Field(default_factory=CaliperSensors)
    min_group_size: int | None = Field(None, ge=1)
    # Teams of the tenant a worker exports to Prometheus at most (the rest are counted and
    # logged, as by TEAMPULSE_MAX_TEAMS); None: only TEAMPULSE_MAX_TEAMS applies.
    max_teams: int | None = Field(None, ge=1)
    # Series of the tenant's teams a worker exports at most (teams in name order while their
    # series fit, the rest counted and logged); None: bounded by max_teams only.
    max_series: int | None = Field(None, ge=1)
    retention: str | None = None
    alert_route: str | None = Field(None, pattern=r"^[A-Za-z0-9_.:-]{1,100}$")
    organisation: str | None = Field(None, min_length=1, max_length=200)
    # Its engagement and conversation quality scoring (weights, targets), in place of the
    # deployment's scoring.yaml for its teams and roll-ups.
    scoring: TenantScoring | None = None
    # Its initiatives and their evidence, in place of the deployment's initiatives.yaml.
    initiatives: tuple[InitiativeConfig, ...] | None = None
    suspended: bool = False

    @field_validator("credentials")
    @classmethod
    def _credentials(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for entry in value:
            if not entry or entry != entry.strip() or "," in entry:
                raise ValueError("a credential is 'user:secret' or a token, without blanks or ','")
            user, colon, secret = entry.partition(":")
            if colon and (not user or not secret):
                raise ValueError("a Basic credential needs both a user and a secret")
        return value

    @field_validator("read_tokens")
    @classmethod
    def _read_tokens(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for token in value:
            if len(token) < MIN_SECRET_CHARS or token != token.strip() or ":" in token:
                raise ValueError(
                    f"a read token is at least {MIN_SECRET_CHARS} characters, without blanks or ':'"
                )
        return value

    @field_validator("retention")
    @classmethod
    def _retention(cls, value: str | None) -> str | None:
        if value is not None and parse_duration(value) <= 0:
            raise ValueError(f"{value!r} must be longer than 0 seconds, such as '400d'")
        return value

    @field_validator("initiatives", mode="before")
    @classmethod
    def _initiatives(cls, value: Any) -> Any:
        if isinstance(value, list):
            return parse_initiatives({"initiatives": value}, "initiatives")
        return value

    @property
    def basic_users(self) -> list[str]:
        return [entry.split(":", 1)[0] for entry in self.credentials if ":" in entry]

    @property
    def bearer_tokens(self) -> list[str]:
        return [entry for entry in self.credentials if ":" not in entry]


class TenantsFile(_Strict):
    tenants: dict[str, TenantConfig]

    @field_validator("tenants")
    @classmethod
    def _ids(cls, value: dict[str, TenantConfig]) -> dict[str, TenantConfig]:
        if not value:
            raise ValueError("name at least one tenant (or unset TEAMPULSE_TENANTS_FILE)")
        for tenant in value:
            if TENANT_ID.fullmatch(tenant) is None:
                raise ValueError(
                    f"{tenant!r} is not a tenant id: use a-z, 0-9 and '-' (up to 63, "
                    "starting with a letter or digit)"
                )
        return value


def _claims(tenants: Mapping[str, TenantConfig]) -> Iterator[tuple[str, str, str]]:
    """(what, id, tenant) for every id that resolves a request to a tenant."""
    for tenant, config in tenants.items():
        for user in config.basic_users:
            yield "Basic user", user, tenant
        for token in config.bearer_tokens:
            yield "Bearer token", token, tenant
        for token in config.caliper.sensors.values():
            yield "Bearer token", token, tenant
        for sensor in config.caliper.sensors:
            yield "Caliper sensor", sensor, tenant
        for token in config.read_tokens:
            yield "read token", token, tenant
        for workspace in config.slack.workspaces:
            yield "Slack workspace", workspace, tenant
        for entra in config.msteams.entra_tenants:
            yield "Entra tenant", entra, tenant
        for forum in config.discourse.forums:
            yield "Discourse forum", forum, tenant


def _double_claims(tenants: Mapping[str, TenantConfig]) -> list[str]:
    seen: dict[tuple[str, str], str] = {}
    problems = []
    for what, ident, tenant in _claims(tenants):
        earlier = seen.setdefault((what, ident), tenant)
        if earlier != tenant:
            # A token is a secret: the line names the tenants, never the token.
            shown = "one" if what in ("Bearer token", "read token") else repr(ident)
            problems.append(f"tenants: {what} {shown} is claimed by both {earlier} and {tenant}")
    # A token given twice within one tenant (a credential and a sensor's) is ambiguous too:
    # which sensor would it speak for?
    for tenant, config in tenants.items():
        tokens = config.bearer_tokens + list(config.caliper.sensors.values())
        if len(tokens) != len(set(tokens)):
            problems.append(f"tenants.{tenant}: a Bearer token is listed twice")
    return problems


def _where(loc: tuple[int | str, ...]) -> str:
    return ".".join(str(part) for part in loc) or "(top level)"


def parse_tenants(raw: Any, name: str = "tenants file") -> TenantsFile:
    """The parsed YAML of a tenants file -> the validated file, or TenantConfigError."""
    if not isinstance(raw, dict):
        raise TenantConfigError(f"{name}: the top level must be a mapping with `tenants:`")
    try:
        parsed = TenantsFile.model_validate(raw)
    except ValidationError as exc:
        lines = [f"{name}: {_where(e['loc'])}: {_one_line(e['msg'])}" for e in exc.errors()]
        raise TenantConfigError("\n".join(lines)) from exc
    problems = _double_claims(parsed.tenants)
    if problems:
        raise TenantConfigError("\n".join(f"{name}: {p}" for p in problems))
    return parsed


def _one_line(text: str) -> str:
    return " ".join(part.strip() for part in text.splitlines() if part.strip())


def load_tenants(path: Path) -> TenantsFile:
    """Reads and validates the tenants file at `path`."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise TenantConfigError(
            f"{path}: cannot read the tenants file ({exc.strerror}); fix "
            "TEAMPULSE_TENANTS_FILE or unset it for one implicit tenant"
        ) from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise TenantConfigError(f"{path.name}: not valid YAML: {_one_line(str(exc))}") from exc
    return parse_tenants(raw, path.name)
