"""One typed settings object, read from `TEAMPULSE_*` environment variables.

Every tunable of the product lives here with its default; docs/configuration.md lists them.
"""

from __future__ import annotations

import datetime as dt
import re
import time
from collections.abc import Callable, Mapping
from functools import cached_property
from importlib import resources
from pathlib import Path

from pydantic import Field, ValidationError, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = [
    "CONFIG_FILES",
    "DEV_PSEUDONYM_SECRET",
    "PACKAGED_CONFIG_DIR",
    "Settings",
    "SettingsError",
    "compressed_clock",
    "load_settings",
    "parse_duration",
    "read_settings",
    "settings_from_environment",
    "settings_reference",
]

# The configuration that ships with the code is package data, so a plain `pip install` finds
# it; TEAMPULSE_CONFIG_DIR points elsewhere.
PACKAGED_CONFIG_DIR = Path(str(resources.files("teampulse") / "config"))
# The YAML files of a config folder; each one missing from TEAMPULSE_CONFIG_DIR is read from
# the shipped folder, so a folder holding only the file one changes is a whole configuration.
CONFIG_FILES = ("connectors.yaml", "initiatives.yaml", "scoring.yaml", "xapi-verbs.yaml")
DEV_PSEUDONYM_SECRET = "teampulse-dev-secret-change-me"


DURATION_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_DURATION = re.compile(r"(\d+(?:\.\d+)?)\s*([smhdw]?)")
DURATION_FIX = (
    "write a number and one unit letter (s, m, h, d or w) such as '48h' or '7d', "
    "or a bare number of seconds"
)
SETTINGS_DOC = "docs/configuration.md"
REDIS_URL_SCHEMES = ("redis://", "rediss://", "unix://")


class SettingsError(ValueError):
    """A TEAMPULSE_* variable that cannot be read: one line per variable, naming it and the fix."""


def parse_duration(text: str) -> int:
    """'48h', '7d', '30m', '90s' or a bare number of seconds -> seconds."""
    match = _DURATION.fullmatch(text.strip().lower())
    if match is None:
        raise ValueError(f"{text!r} is not a duration: {DURATION_FIX}")
    number, unit = match.groups()
    return int(float(number) * DURATION_UNITS[unit or "s"])


def _positive_duration(value: str) -> str:
    if parse_duration(value) <= 0:
        raise ValueError(f"{value!r} must be longer than 0 seconds, such as '1h'")
    return value


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TEAMPULSE_", extra="ignore")

    # --- where things are -------------------------------------------------------------
    kafka_bootstrap: str = Field("127.0.0.1:9092", description="Kafka bootstrap servers")
    kafka_security_protocol: str = Field(
        "PLAINTEXT",
        description="How clients talk to Kafka: PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL",
    )
    kafka_sasl_mechanism: str = Field(
        "SCRAM-SHA-512", description="SASL mechanism: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN"
    )
    kafka_sasl_username: str = Field("", description="SASL user (the SASL_* protocols)")
    kafka_sasl_password: str = Field("", description="SASL password (the SASL_* protocols)")
    kafka_ssl_ca_file: Path | None = Field(
        None, description="PEM CA that signed the brokers' certificates (else the system's)"
    )
    kafka_ssl_cert_file: Path | None = Field(
        None, description="PEM client certificate, for brokers that require one"
    )
    kafka_ssl_key_file: Path | None = Field(
        None, description="PEM private key of that certificate (unencrypted)"
    )
    redis_url: str = Field(
        "redis://127.0.0.1:6379/0",
        description="Redis URL for the gauges; rediss://user:password@host:port/0 for TLS "
        "and an ACL user",
    )
    redis_ssl_ca_file: Path | None = Field(
        None, description="PEM CA that signed the Redis server's certificate (rediss://)"
    )
    redis_ssl_cert_file: Path | None = Field(
        None, description="PEM client certificate, for a Redis that requires one"
    )
    redis_ssl_key_file: Path | None = Field(None, description="PEM private key of that certificate")
    redis_prefix: str = Field("teampulse:", description="Prefix of every Redis key")
    topic_prefix: str = Field("teampulse.", description="Prefix of every Kafka topic name")
    app_id: str = Field(
        "teampulse",
        description="App id; the worker's one Kafka consumer group is `<id>.hot`",
    )
    topic_partitions: int = Field(4, ge=1, description="Partitions of the topics TeamPulse creates")
    config_dir: Path = Field(
        PACKAGED_CONFIG_DIR,
        description="Folder of connectors.yaml, initiatives.yaml, scoring.yaml and "
        "xapi-verbs.yaml; a file it lacks is read from the shipped defaults (logged at start)",
    )
    data_dir: Path = Field(Path(".teampulse-data"), description="Worker's local data folder")

    # --- HTTP ports -------------------------------------------------------------------
    web_host: str = Field("127.0.0.1", description="Worker web server bind address")
    web_port: int = Field(
        6066,
        ge=1,
        le=65535,
        description="Worker web server port (/metrics, the read API of docs/read-api.md)",
    )
    ingest_host: str = Field("127.0.0.1", description="xAPI/events HTTP endpoint bind address")
    ingest_port: int = Field(8080, ge=1, le=65535, description="xAPI/events HTTP endpoint port")
    ingest_credentials: str = Field(
        "", description="Comma-separated 'user:secret' (Basic) and bare tokens (Bearer)"
    )
    ingest_xapi_version_by_user: str = Field(
        "",
        description="Comma-separated 'user=version' (version 1.0.3 or 2.0.0): statements "
        "from that Basic user without X-Experience-API-Version are read as that version "
        "(an upstream LRS that forwards without the header); everyone else gets 400",
    )
    ingest_max_body_bytes: int = Field(5_000_000, ge=1, description="Largest accepted request body")
    ingest_write_timeout_s: float = Field(
        5.0,
        gt=0,
        description="Longest wait for Kafka to take a request's records; past it the answer "
        "is 503 and none of them is ever written",
    )
    ingest_retry_after_s: int = Field(
        5, ge=0, description="Retry-After of a 503 (Kafka unavailable)"
    )
    ingest_rate_per_s: float = Field(
        50.0,
        ge=0,
        description="Requests per second each credential (and each signed connector) may "
        "send, on average; past it the answer is 429 with Retry-After. 0 turns the limit off",
    )
    ingest_rate_burst: int = Field(
        200, ge=1, description="Requests a credential may send at once before the rate applies"
    )

    # --- backfill from an LRS ---------------------------------------------------------
    backfill_lrs_credentials: str = Field(
        "", description="'user:secret' (Basic) with which `teampulse backfill` reads the LRS"
    )
    backfill_page_limit: int = Field(500, ge=1, description="Statements asked for per LRS page")
    backfill_timeout_s: float = Field(60.0, gt=0, description="Longest wait for one LRS page")

    # --- discussion-platform and Caliper connectors (docs/connectors/) ---------------------
    slack_signing_secret: str = Field(
        "", description="Slack app's signing secret; empty: /slack/events refuses with 403"
    )
    msteams_client_state: str = Field(
        "", description="clientState of the Graph subscription; empty: /msteams/* refuse (403)"
    )
    msteams_private_key_file: Path | None = Field(
        None, description="PEM private key that decrypts Graph rich notifications"
    )
    msteams_certificate_file: Path | None = Field(
        None, description="PEM certificate of that key, sent when subscribing"
    )
    msteams_certificate_id: str = Field("teampulse", description="encryptionCertificateId")
    msteams_resource: str = Field(
        "", description="Graph resource to subscribe to, e.g. teams/{id}/channels/{id}/messages"
    )
    msteams_public_url: str = Field(
        "", description="Public https base URL of this ingest endpoint, as Graph reaches it"
    )
    msteams_tenant_id: str = Field("", description="Entra ID tenant of the Graph app")
    msteams_client_id: str = Field("", description="Application (client) id of the Graph app")
    msteams_client_secret: str = Field("", description="Client secret of the Graph app")
    msteams_graph_url: str = Field("https://graph.microsoft.com/v1.0", description="Graph API base")
    msteams_login_url: str = Field(
        "https://login.microsoftonline.com", description="Entra ID token endpoint base"
    )
    msteams_subscription_minutes: int = Field(
        55,
        ge=1,
        description="Lifetime asked for a subscription (Graph allows up to 60 for messages)",
    )
    discourse_webhook_secret: str = Field(
        "", description="Secret of the Discourse webhook; empty: /discourse/webhook refuses (403)"
    )

    # --- tenants (docs/tenancy.md) ---------------------------------------------------
    tenants_file: Path | None = Field(
        None,
        description="YAML file of the tenants, their credentials, connector secrets and "
        "pseudonym keys; unset: one implicit tenant from the settings above",
    )
    tenants_reload_s: float = Field(
        5.0, gt=0, description="How often the tenants file is checked for changes"
    )
    admin_host: str = Field("127.0.0.1", description="`teampulse tenant-admin` bind address")
    admin_port: int = Field(
        6091, ge=1, le=65535, description="`teampulse tenant-admin` port (the tenant admin API)"
    )
    admin_token: str = Field(
        "",
        description="Bearer token of the tenant admin API (at least 16 characters); empty: "
        "`teampulse tenant-admin` refuses to start",
    )

    # --- validation -------------------------------------------------------------------
    max_event_bytes: int = Field(65_536, ge=1, description="Largest accepted Kafka record")
    future_skew_s: int = Field(300, ge=0, description="How far in the future an event may lie")
    pseudonym_secret: str = Field(
        DEV_PSEUDONYM_SECRET, description="Key of the person-id hash; set it in production"
    )

    # --- event time -------------------------------------------------------------------
    windows: str = Field("1d,7d,28d", description="Rolling windows, comma-separated")
    bucket: str = Field("1h", description="Width of an event-time bucket")
    lateness: str = Field("48h", description="How late an event may arrive and still count")
    clock: str = Field(
        "wall",
        description="'wall' for the real clock, an RFC 3339 instant to freeze 'now', or "
        "INSTANT*SPEED for a clock that runs SPEED times faster than the wall clock from "
        "INSTANT on (simulations in compressed time)",
    )

    # --- privacy and limits ----------------------------------------------------------
    min_group_size: int = Field(5, ge=1, description="Smallest group whose gauges are published")
    max_teams: int = Field(2000, ge=1, description="Cardinality guard: most teams exported")
    max_initiatives: int = Field(50, ge=0, description="Cardinality guard: most initiatives")

    # --- retention of the Kafka topics TeamPulse creates (docs/privacy.md) -------------
    input_retention: str = Field(
        "7d", description="Retention of the raw input topics and the repartition topics"
    )
    deadletter_retention: str = Field(
        "14d", description="Retention of the dead-letter topic (refused records, as sent)"
    )
    state_log_retention: str = Field(
        "auto", description="Retention of the state logs; 'auto' = the gauges' reach + 7 days"
    )
    snapshot_interval_s: float = Field(
        300.0,
        gt=0,
        description="How often each partition's state is snapshotted (when it changed): a "
        "restore loads the latest snapshot and replays the state log after it only",
    )

    # --- throughput -------------------------------------------------------------------
    batch_max: int = Field(2000, ge=1, description="Most records processed as one batch")
    batch_within_s: float = Field(0.1, ge=0, description="Longest wait to fill a batch")
    tenant_read_ahead: int = Field(
        100_000,
        ge=1,
        description="With tenants: most records a worker reads ahead of what it applies and "
        "holds in memory, so one tenant's backlog does not delay another tenant's records "
        "behind it in the same partitions (docs/tenancy.md, Scheduling by tenant)",
    )
    group_settle_s: float = Field(
        3.0,
        ge=0,
        description="A starting worker waits this long after its latest partition assignment "
        "before processing, so workers started together share the first assignment",
    )
    group_session_timeout_s: float = Field(
        10.0,
        gt=0,
        description="How long the consumer group waits for a worker that stopped answering "
        "(killed, frozen, cut off) before its partitions move to the others; the broker "
        "allows 6 s to 300 s by default (group.min/max.session.timeout.ms)",
    )
    export_interval_s: float = Field(
        0.5,
        gt=0,
        description="Longest time between two recomputations of the gauges (a batch is"
        " followed by one at once, at most every 0.1 s)",
    )
    redis_flush_interval_s: float = Field(0.5, gt=0, description="How often Redis is written")
    redis_history_days: int = Field(90, ge=1, description="Days of daily history kept in Redis")
    redis_stream_maxlen: int = Field(
        10_000, ge=1, description="Approximate length of the updates stream"
    )

    # --- the L&D web app, alert notifications and the digest (docs/operations.md) ------
    webapp_host: str = Field("127.0.0.1", description="`teampulse web` bind address")
    webapp_port: int = Field(6080, ge=1, le=65535, description="`teampulse web` port")
    webapp_public_url: str = Field(
        "",
        description="The web app's address as readers reach it, for links in notifications "
        "and the digest (empty: http://WEBAPP_HOST:WEBAPP_PORT)",
    )
    prometheus_url: str = Field(
        "http://127.0.0.1:9090", description="Prometheus that the web app reads alerts from"
    )
    alertmanager_url: str = Field(
        "http://127.0.0.1:9093", description="Alertmanager that the web app reads alerts from"
    )
    notify_host: str = Field("127.0.0.1", description="`teampulse notify` bind address")
    notify_port: int = Field(
        6081, ge=1, le=65535, description="`teampulse notify` port (Alertmanager's webhook)"
    )
    notify_teams_webhook_url: str = Field(
        "",
        description="Microsoft Teams Workflows webhook that `teampulse notify` posts alerts "
        "to (an Adaptive Card per alert group)",
    )
    smtp_host: str = Field("127.0.0.1", description="SMTP server the digest is sent through")
    smtp_port: int = Field(25, ge=1, le=65535, description="Port of that SMTP server")
    smtp_starttls: bool = Field(False, description="Upgrade the SMTP connection with STARTTLS")
    smtp_username: str = Field("", description="SMTP user (empty: no authentication)")
    smtp_password: str = Field("", description="SMTP password")
    digest_from: str = Field(
        "teampulse@localhost", description="Sender address of the digest e-mail"
    )
    digest_to: str = Field("", description="Comma-separated recipients of the digest e-mail")
    digest_slack_webhook_url: str = Field(
        "", description="Slack incoming webhook the digest is posted to (`--to slack`)"
    )
    digest_teams_webhook_url: str = Field(
        "", description="Teams Workflows webhook the digest is posted to (`--to teams`)"
    )

    # --- logging ---------------------------------------------------------------------
    log_repeat_interval_s: float = Field(
        10.0,
        ge=0,
        description="A log message repeated within this interval is written once, then once "
        "more with the count of repeats (0 writes every line)",
    )

    @field_validator(
        "kafka_ssl_ca_file",
        "kafka_ssl_cert_file",
        "kafka_ssl_key_file",
        "redis_ssl_ca_file",
        "redis_ssl_cert_file",
        "redis_ssl_key_file",
        "tenants_file",
        mode="before",
    )
    @classmethod
    def _empty_path_is_none(cls, value: object) -> object:
        # An exported but empty variable means "not set", not the current folder.
        return None if value == "" else value

    @field_validator("kafka_bootstrap")
    @classmethod
    def _bootstrap_parse(cls, value: str) -> str:
        servers = [server.strip() for server in value.split(",")]
        for server in servers:
            host, _, port = server.rpartition(":")
            if not host or not port.isdigit() or not 0 < int(port) < 65536:
                raise ValueError(
                    f"{server!r} is not host:port: write comma-separated host:port pairs "
                    "such as 'kafka-1:9092,kafka-2:9092'"
                )
        return ",".join(servers)

    @field_validator("redis_url")
    @classmethod
    def _redis_url_parse(cls, value: str) -> str:
        if not value.startswith(REDIS_URL_SCHEMES):
            raise ValueError(
                "not a Redis URL: write redis://host:port/db, rediss://user:password@host:port/db "
                "(TLS) or unix:///path/to/socket"
            )
        return value

    @field_validator("config_dir")
    @classmethod
    def _config_dir_exists(cls, value: Path) -> Path:
        if not value.is_dir():
            raise ValueError(
                "not a folder: create it and put there the YAML files you change (the others "
                "come from the shipped defaults)"
            )
        return value

    @field_validator("windows")
    @classmethod
    def _windows_parse(cls, value: str) -> str:
        names = [w.strip() for w in value.split(",") if w.strip()]
        if not names:
            raise ValueError("needs at least one window, such as '1d,7d,28d'")
        for name in names:
            _positive_duration(name)
        return ",".join(names)

    @field_validator("bucket")
    @classmethod
    def _bucket_parse(cls, value: str) -> str:
        return _positive_duration(value)

    @field_validator("lateness")
    @classmethod
    def _lateness_parse(cls, value: str) -> str:
        parse_duration(value)
        return value

    @field_validator("input_retention", "deadletter_retention", "state_log_retention")
    @classmethod
    def _retention_parse(cls, value: str) -> str:
        if value == "auto":
            return value
        return _positive_duration(value)

    @field_validator("clock")
    @classmethod
    def _clock_parse(cls, value: str) -> str:
        if value != "wall":
            instant, _, speed = value.partition("*")
            try:
                _instant_seconds(instant)
                if speed and not float(speed) > 0:
                    raise ValueError("the speed must be a positive number")
            except ValueError as exc:
                raise ValueError(
                    "must be 'wall', an RFC 3339 instant such as "
                    "2026-03-02T12:00:00Z, or an instant and a speed such as "
                    "2026-03-02T12:00:00Z*1000"
                ) from exc
        return value

    # --- derived values ----------------------------------------------------------------
    def config_file(self, name: str) -> Path:
        """The config file `name` (one of CONFIG_FILES): TEAMPULSE_CONFIG_DIR's own, else the
        shipped default."""
        own = self.config_dir / name
        return own if own.is_file() else PACKAGED_CONFIG_DIR / name

    def config_origins(self) -> str:
        """Where each config file comes from, in one line for the start-up log."""
        if self.config_dir == PACKAGED_CONFIG_DIR:
            return "config: the shipped defaults (TEAMPULSE_CONFIG_DIR is not set)"
        own = [
            name for name in CONFIG_FILES if self.config_file(name) != PACKAGED_CONFIG_DIR / name
        ]
        shipped = [name for name in CONFIG_FILES if name not in own]
        return (
            f"config: {', '.join(own) or 'nothing'} from {self.config_dir}; "
            f"{', '.join(shipped) or 'nothing'} from the shipped defaults"
        )

    @property
    def webapp_url(self) -> str:
        """Where readers reach the web app, without a trailing slash."""
        return (self.webapp_public_url or f"http://{self.webapp_host}:{self.webapp_port}").rstrip(
            "/"
        )

    def topic(self, name: str) -> str:
        """Full topic name of a logical topic ('events', 'xapi', 'roster', ...)."""
        return f"{self.topic_prefix}{name}"

    @cached_property
    def window_seconds(self) -> dict[str, int]:
        """Window label ('7d') -> width in seconds, in configured order."""
        return {name: parse_duration(name) for name in self.windows.split(",")}

    @property
    def bucket_s(self) -> int:
        return parse_duration(self.bucket)

    @property
    def lateness_s(self) -> int:
        return parse_duration(self.lateness)

    @property
    def frozen_now(self) -> float | None:
        """The frozen clock as epoch seconds, or None when the clock runs."""
        if self.clock == "wall" or "*" in self.clock:
            return None
        return _instant_seconds(self.clock)

    @property
    def clock_compression(self) -> tuple[float, float] | None:
        """(instant as epoch seconds, speed) of a compressed clock, or None."""
        instant, _, speed = self.clock.partition("*")
        if not speed:
            return None
        return _instant_seconds(instant), float(speed)

    def now_source(self, wall: Callable[[], float] = time.time) -> Callable[[], float]:
        """What every stage calls for 'now': the wall clock, the frozen instant, or the
        compressed clock. A compressed clock is a function of the wall clock alone, so every
        process given the same setting (the worker, the simulator) agrees on 'now'."""
        compression = self.clock_compression
        if compression is not None:
            return compressed_clock(*compression, wall=wall)
        frozen = self.frozen_now
        if frozen is None:
            return wall
        return lambda: frozen


def compressed_clock(
    instant: float, speed: float, wall: Callable[[], float] = time.time
) -> Callable[[], float]:
    """'now' = instant + speed x (wall time since instant)."""
    return lambda: instant + (wall() - instant) * speed


def _instant_seconds(text: str) -> float:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00")).timestamp()


def load_settings(**overrides: object) -> Settings:
    return Settings(**overrides)  # type: ignore[arg-type]


def read_settings() -> Settings:
    """The settings of this process's environment; SettingsError names every bad variable."""
    try:
        return Settings()
    except ValidationError as exc:
        raise SettingsError("\n".join(_explain(error) for error in exc.errors())) from None


_FIXES = {
    "int_parsing": "not a whole number",
    "int_from_float": "not a whole number",
    "float_parsing": "not a number",
    "bool_parsing": "not true or false",
    "greater_than": "must be greater than {gt:g}",
    "greater_than_equal": "must be at least {ge:g}",
    "less_than_equal": "must be at most {le:g}",
}


def _explain(error: Mapping[str, object]) -> str:
    """One pydantic error -> `TEAMPULSE_<NAME>=value: what is wrong; the default and the doc`."""
    loc = error.get("loc") or ("?",)
    name = str(loc[0])  # type: ignore[index]
    kind = str(error.get("type"))
    context = error.get("ctx")
    if kind == "value_error":
        problem = str(error.get("msg")).removeprefix("Value error, ")
    elif kind in _FIXES:
        problem = _FIXES[kind].format(**(context if isinstance(context, dict) else {}))
    else:
        problem = str(error.get("msg"))
    default = f"; unset it for the default {_shown_default(name)}"
    return (
        f"invalid setting TEAMPULSE_{name.upper()}={error.get('input')!r}: {problem}"
        f"{default} ({SETTINGS_DOC} lists every setting)"
    )


def _shown_default(name: str) -> str:
    default = Settings.model_fields[name].default
    if default == PACKAGED_CONFIG_DIR:
        return "teampulse/config"  # the package's folder, wherever it is installed
    return str(default)


def settings_from_environment(env: Mapping[str, str]) -> Settings:
    """The settings a process started with `env` would read (its TEAMPULSE_* entries)."""
    prefix = "TEAMPULSE_"
    return load_settings(
        **{k.removeprefix(prefix).lower(): v for k, v in env.items() if k.startswith(prefix)}
    )


def settings_reference() -> str:
    """The Markdown table of every setting, as docs/configuration.md shows it."""
    rows = ["| variable | default | meaning |", "|---|---|---|"]
    for name, spec in Settings.model_fields.items():
        rows.append(
            f"| `TEAMPULSE_{name.upper()}` | `{_shown_default(name)}` | {spec.description} |"
        )
    return "\n".join(rows)
