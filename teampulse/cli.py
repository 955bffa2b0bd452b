"""`teampulse`: the one command-line entry point.

Each subcommand imports its edge lazily, so `teampulse --help` and the pure commands
(`replay`) start fast and do not need Kafka.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Callable
from enum import StrEnum
from pathlib import Path
from typing import Annotated, Any

import typer

from teampulse.settings import Settings, SettingsError, read_settings
from teampulse.simulation.scenarios import SCENARIOS

__all__ = ["main"]


class RecordKind(StrEnum):
    events = "events"
    xapi = "xapi"
    roster = "roster"


ScenarioName = StrEnum("ScenarioName", {name: name for name in SCENARIOS})  # type: ignore[misc]


cli = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    help="TeamPulse: real-time per-team engagement, conversation and adoption gauges. "
    "Every command reads its settings from TEAMPULSE_* environment variables "
    "(docs/configuration.md lists them all).",
)

# The settings each command depends on most, shown under its --help: the options are few, the
# environment carries the rest.
KAFKA = ("TEAMPULSE_KAFKA_BOOTSTRAP", "TEAMPULSE_KAFKA_SECURITY_PROTOCOL", "TEAMPULSE_TOPIC_PREFIX")
COMMAND_SETTINGS: dict[str, tuple[str, ...]] = {
    "worker": (
        *KAFKA,
        "TEAMPULSE_REDIS_URL",
        "TEAMPULSE_WEB_PORT",
        "TEAMPULSE_APP_ID",
        "TEAMPULSE_PSEUDONYM_SECRET",
        "TEAMPULSE_CONFIG_DIR",
        "TEAMPULSE_WINDOWS",
        "TEAMPULSE_LATENESS",
        "TEAMPULSE_MIN_GROUP_SIZE",
    ),
    "ingest": (
        *KAFKA,
        "TEAMPULSE_INGEST_PORT",
        "TEAMPULSE_INGEST_CREDENTIALS",
        "TEAMPULSE_INGEST_RATE_PER_S",
        "TEAMPULSE_CONFIG_DIR",
        "TEAMPULSE_SLACK_SIGNING_SECRET",
    ),
    "produce": (*KAFKA, "TEAMPULSE_MAX_EVENT_BYTES", "TEAMPULSE_TENANTS_FILE"),
    "backfill": (*KAFKA, "TEAMPULSE_BACKFILL_LRS_CREDENTIALS", "TEAMPULSE_BACKFILL_PAGE_LIMIT"),
    "simulate": (*KAFKA, "TEAMPULSE_CLOCK"),
    "replay": ("TEAMPULSE_CONFIG_DIR", "TEAMPULSE_WINDOWS", "TEAMPULSE_PSEUDONYM_SECRET"),
    "forget": (*KAFKA, "TEAMPULSE_PSEUDONYM_SECRET"),
    "topics": (
        *KAFKA,
        "TEAMPULSE_TOPIC_PARTITIONS",
        "TEAMPULSE_INPUT_RETENTION",
        "TEAMPULSE_TENANTS_FILE",
    ),
    "tenant-relay": (*KAFKA, "TEAMPULSE_TENANTS_FILE", "TEAMPULSE_TENANTS_RELOAD_S"),
    "tenant": ("TEAMPULSE_TENANTS_FILE", "TEAMPULSE_TENANTS_RELOAD_S", "TEAMPULSE_PROMETHEUS_URL"),
    "tenant-admin": (
        "TEAMPULSE_TENANTS_FILE",
        "TEAMPULSE_ADMIN_HOST",
        "TEAMPULSE_ADMIN_PORT",
        "TEAMPULSE_ADMIN_TOKEN",
        "TEAMPULSE_PROMETHEUS_URL",
    ),
    "demo": (*KAFKA, "TEAMPULSE_REDIS_URL", "TEAMPULSE_WEB_PORT"),
    "web": (
        "TEAMPULSE_REDIS_URL",
        "TEAMPULSE_WEBAPP_PORT",
        "TEAMPULSE_PROMETHEUS_URL",
        "TEAMPULSE_ALERTMANAGER_URL",
        "TEAMPULSE_TENANTS_FILE",
    ),
    "notify": (
        "TEAMPULSE_NOTIFY_PORT",
        "TEAMPULSE_NOTIFY_TEAMS_WEBHOOK_URL",
        "TEAMPULSE_WEBAPP_PUBLIC_URL",
    ),
    "digest": (
        "TEAMPULSE_REDIS_URL",
        "TEAMPULSE_SMTP_HOST",
        "TEAMPULSE_DIGEST_TO",
        "TEAMPULSE_WEBAPP_PUBLIC_URL",
        "TEAMPULSE_TENANTS_FILE",
    ),
    "msteams-subscribe": (
        "TEAMPULSE_MSTEAMS_RESOURCE",
        "TEAMPULSE_MSTEAMS_PUBLIC_URL",
        "TEAMPULSE_MSTEAMS_CLIENT_ID",
    ),
}


def _settings_epilog(command: str) -> str:
    return (
        f"Settings: {', '.join(COMMAND_SETTINGS[command])} and the other TEAMPULSE_* "
        "variables (docs/configuration.md lists every one with its default)."
    )


def _settings(reads_config: bool = False) -> Settings:
    """The settings, or exit 2 with one line per bad variable. A command that reads the YAML
    configuration says on stderr which files came from TEAMPULSE_CONFIG_DIR."""
    try:
        settings = read_settings()
    except SettingsError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from None
    if reads_config:
        typer.echo(settings.config_origins(), err=True)
        _check_config(settings)
    return settings


def _check_config(settings: Settings) -> None:
    """Read every config file once before anything starts: a mistake is a few lines naming
    the file and the entry, not a traceback from deep inside the worker."""
    import yaml

    from teampulse.connectors.config import CONNECTORS_FILE, ConnectorConfig
    from teampulse.contract.xapi import VERB_MAP_FILE, VerbMap
    from teampulse.gauges.config import load_gauge_config

    verbs = settings.config_file(VERB_MAP_FILE)
    try:
        load_gauge_config(settings)
        ConnectorConfig.load(settings.config_file(CONNECTORS_FILE))
        VerbMap.load(verbs)
    except yaml.YAMLError as exc:
        problem = f"{verbs}: not valid YAML: {exc}"
    except (ValueError, SystemExit) as exc:  # ConnectorConfigError is a SystemExit
        problem = str(exc)
    else:
        return
    typer.echo(
        f"{problem}\nfix that file, or remove it from TEAMPULSE_CONFIG_DIR to use the shipped "
        "default (docs/configuration.md)",
        err=True,
    )
    raise typer.Exit(2)


def _logging(level: str, repeat_interval_s: float = 0.0) -> None:
    """Log lines with time and source. With `repeat_interval_s`, repeated lines collapse:
    aiokafka logs every failed connection attempt, so an unreachable broker would print
    dozens of identical lines before the command's own error says what to do."""
    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    if repeat_interval_s > 0:
        from teampulse.kafka.log_limit import limit_repeated_messages

        limit_repeated_messages(logging.getLogger(), repeat_interval_s)


@cli.command(epilog=_settings_epilog("worker"))
def worker(
    loglevel: Annotated[str, typer.Option(help="debug, info, warning")] = "info",
) -> None:
    """Run the Faust worker: ingest, gauges, /metrics and the read API on TEAMPULSE_WEB_PORT."""
    from teampulse.worker import run_worker

    run_worker(_settings(reads_config=True), loglevel)


@cli.command(epilog=_settings_epilog("ingest"))
def ingest(
    insecure_no_auth: Annotated[
        bool, typer.Option(help="Serve without credentials (local experiments only)")
    ] = False,
    loglevel: str = "info",
) -> None:
    """Serve the xAPI statements endpoint and POST /events on TEAMPULSE_INGEST_PORT."""
    from teampulse.ingest.http import serve_ingest

    settings = _settings(reads_config=True)
    _logging(loglevel, settings.log_repeat_interval_s)
    asyncio.run(serve_ingest(settings, insecure_no_auth=insecure_no_auth))


@cli.command(epilog=_settings_epilog("produce"))
def produce(
    file: Annotated[
        Path | None, typer.Argument(help="JSON array or NDJSON; '-' or none: stdin")
    ] = None,
    kind: Annotated[
        RecordKind | None, typer.Option(help="Record kind; default: detect per record")
    ] = None,
    fail_on_reject: Annotated[bool, typer.Option(help="Exit 1 if any record is rejected")] = False,
    tenant: Annotated[
        str | None,
        typer.Option(help="Send as this tenant of TEAMPULSE_TENANTS_FILE (docs/tenancy.md)"),
    ] = None,
) -> None:
    """Send canonical events, xAPI statements or roster records from a file to Kafka."""
    from teampulse.ingest.produce import produce_file

    path = None if file is None or str(file) == "-" else file
    if path is not None and not path.exists():
        typer.echo(f"no such file: {path}", err=True)
        raise typer.Exit(2)
    settings = _settings()
    _logging("warning", settings.log_repeat_interval_s)
    summary = asyncio.run(
        produce_file(settings, path, kind.value if kind else None, fail_on_reject, tenant=tenant)
    )
    typer.echo(str(summary), err=True)
    if fail_on_reject and summary.rejected:
        raise typer.Exit(1)


@cli.command(epilog=_settings_epilog("backfill"))
def backfill(
    lrs: Annotated[str, typer.Option(help="The LRS's xAPI endpoint, e.g. https://lrs/xAPI/")],
    since: Annotated[
        str | None, typer.Option(help="Only statements stored after this RFC 3339 instant")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Only statements stored at or before this instant")
    ] = None,
    limit: Annotated[
        int | None, typer.Option(help="Statements per page; default TEAMPULSE_BACKFILL_PAGE_LIMIT")
    ] = None,
    state: Annotated[
        Path | None, typer.Option(help="Cursor file; default: one per LRS under the data dir")
    ] = None,
    credentials: Annotated[
        str | None,
        typer.Option(
            help="'user:secret' for Basic auth; default TEAMPULSE_BACKFILL_LRS_CREDENTIALS"
        ),
    ] = None,
    xapi_version: Annotated[
        str, typer.Option(help="X-Experience-API-Version sent: 1.0.3 or 2.0.0")
    ] = "1.0.3",
    max_pages: Annotated[
        int | None, typer.Option(help="Stop after N pages (a rerun resumes)")
    ] = None,
    restart: Annotated[bool, typer.Option(help="Drop the saved cursor and start over")] = False,
) -> None:
    """Copy an LRS's statement history into TeamPulse, resumable after an interruption."""
    from teampulse.ingest.backfill import BackfillError, BackfillQuery, run_backfill

    settings = _settings()
    _logging("warning", settings.log_repeat_interval_s)
    query = BackfillQuery(since, until, limit or settings.backfill_page_limit)
    try:
        summary = asyncio.run(
            run_backfill(
                settings,
                lrs,
                query=query,
                state=state,
                credentials=credentials,
                version=xapi_version,
                max_pages=max_pages,
                restart=restart,
            )
        )
    except BackfillError as exc:
        typer.echo(f"backfill failed: {exc}", err=True)
        raise typer.Exit(1) from exc
    except KeyboardInterrupt:
        typer.echo(
            "backfill interrupted: the same command resumes after the last saved page", err=True
        )
        raise typer.Exit(130) from None
    typer.echo(str(summary), err=True)


@cli.command(epilog=_settings_epilog("simulate"))
def simulate(
    days: Annotated[float, typer.Option(help="Days of history to backfill before now", min=0)] = 28,
    live_seconds: Annotated[
        float,
        typer.Option(help="Seconds of live feed after the backfill (0: none, -1: forever)", min=-1),
    ] = 0,
    rate: Annotated[float, typer.Option(help="Live events per second", min=0.01)] = 20,
    people: Annotated[int, typer.Option(min=1)] = 240,
    teams: Annotated[int, typer.Option(min=1)] = 24,
    seed: int = 7,
    faults: Annotated[bool, typer.Option(help="Mix in duplicates and malformed records")] = True,
    scenario: Annotated[
        ScenarioName | None,
        typer.Option(
            help="Run a scripted scenario instead: its own history and live days "
            "(--people, --teams and --seed apply). Set TEAMPULSE_CLOCK=INSTANT*SPEED for the "
            "worker and this command alike to run the live days SPEED times faster."
        ),
    ] = None,
) -> None:
    """Produce a simulated organisation: roster, event history, then a live feed."""
    from teampulse.ingest.feed import run_scenario, run_simulation

    _logging("info")
    if scenario is not None:
        chosen = SCENARIOS[scenario.value]
        try:
            asyncio.run(run_scenario(_settings(), chosen, people=people, teams=teams, seed=seed))
        except ValueError as exc:  # a seed whose scripted team is too small, say
            typer.echo(str(exc), err=True)
            raise typer.Exit(2) from exc
        return
    try:
        asyncio.run(
            run_simulation(
                _settings(),
                days=days,
                live_seconds=live_seconds,
                rate=rate,
                people=people,
                teams=teams,
                seed=seed,
                faults=faults,
            )
        )
    except ValueError as exc:  # an organisation that cannot be built: too few people, say
        typer.echo(str(exc), err=True)
        raise typer.Exit(2) from exc


@cli.command(epilog=_settings_epilog("replay"))
def replay(
    file: Annotated[
        Path,
        typer.Argument(help="Canonical events, JSON array or NDJSON", exists=True, dir_okay=False),
    ],
    roster: Annotated[
        Path | None,
        typer.Option(help="Roster records, JSON or NDJSON", exists=True, dir_okay=False),
    ] = None,
    as_of: Annotated[
        str | None,
        typer.Option(
            help="RFC 3339 instant the gauges are computed at; default: the latest event "
            "time. Give a worker's 'now' to compare with it (docs/gauges.md)"
        ),
    ] = None,
    output: Annotated[Path | None, typer.Option(help="Write JSON here instead of a table")] = None,
    forget: Annotated[
        list[str] | None,
        typer.Option(help="Leave this person out, as `teampulse forget` does (repeatable)"),
    ] = None,
) -> None:
    """Compute every gauge for a historical export with the reference model (no Kafka)."""
    from teampulse.contract.timestamps import format_rfc3339
    from teampulse.reference.replay import print_snapshot, replay_file, write_snapshot

    settings = _settings(reads_config=True)
    try:
        snapshot = replay_file(file, settings, roster_path=roster, as_of=as_of, forget=forget or ())
    except ValueError as exc:  # a file that is not JSON, an --as-of that is not an instant
        typer.echo(f"replay: {exc}", err=True)
        raise typer.Exit(2) from None
    # A worker computes as of its clock, replay as of the file's end: say which one this is.
    instant = format_rfc3339(snapshot.as_of, "seconds")
    typer.echo(
        f"as of {instant} (--as-of)"
        if as_of is not None
        else f"as of {instant}, the latest event in the file; pass --as-of to compare with a "
        "worker, which computes as of its clock",
        err=True,
    )
    if output is not None:
        write_snapshot(snapshot, output)
        typer.echo(f"wrote {output}", err=True)
    else:
        print_snapshot(snapshot, sys.stdout)


@cli.command(epilog=_settings_epilog("forget"))
def forget(
    person: Annotated[
        list[str],
        typer.Argument(
            help="The person's identifiers: an e-mail, mailto:..., sha1:<mbox_sha1sum>, "
            "account:<homePage>|<name>, openid:<url>, or the id a source sends (give every "
            "one the sources use)"
        ),
    ],
) -> None:
    """Erase a person (GDPR art. 17): every worker removes them from all its state."""
    import os

    from teampulse.contract.erasure import identifier_doubt
    from teampulse.ingest.erasure import ForgetError, record_erasures

    for identifier in person:
        doubt = identifier_doubt(identifier)
        if doubt is not None:
            typer.echo(f"warning: {doubt}", err=True)
    settings = _settings()
    _logging("warning", settings.log_repeat_interval_s)
    now = settings.now_source()()
    try:
        erasures = asyncio.run(record_erasures(settings, person, os.environ, now))
    except ForgetError as exc:
        typer.echo(f"forget failed: {exc}", err=True)
        raise typer.Exit(1) from None
    for identifier, erasure in zip(person, erasures, strict=True):
        typer.echo(f"erasure recorded for {identifier!r} (pseudonym {erasure.pseudonym})")
    typer.echo(
        f"on {settings.topic('erasures')}: the workers remove "
        f"{'this person' if len(erasures) == 1 else 'these identifiers'} from every gauge "
        "within seconds and drop their events from now on (docs/privacy.md)"
    )


tenant_app = typer.Typer(
    help="Create, list, show, suspend, resume, delete a tenant of TEAMPULSE_TENANTS_FILE, or "
    "show its usage "
    "(docs/tenancy.md); running processes pick the change up within TEAMPULSE_TENANTS_RELOAD_S.",
    epilog=_settings_epilog("tenant"),
    no_args_is_help=True,
)
cli.add_typer(tenant_app, name="tenant")


def _tenants_file() -> Path:
    settings = _settings()
    if settings.tenants_file is None:
        typer.echo("set TEAMPULSE_TENANTS_FILE to the tenants file (docs/tenancy.md)", err=True)
        raise typer.Exit(2)
    return settings.tenants_file


def _tenant_change(change: Callable[[dict[str, Any]], dict[str, Any]], said: str) -> None:
    from teampulse.ops.tenants import read_raw, write_raw
    from teampulse.tenancy.config import TenantConfigError

    path = _tenants_file()
    try:
        write_raw(path, change(read_raw(path)))
    except TenantConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    typer.echo(said)


@tenant_app.command("create")
def tenant_create(tenant: Annotated[str, typer.Argument(help="The new tenant's id")]) -> None:
    """Add a tenant with its own pseudonym key and one Basic credential (shown once)."""
    from teampulse.tenancy.lifecycle import created

    credential = ""

    def change(raw: dict[str, Any]) -> dict[str, Any]:
        nonlocal credential
        changed, credential = created(raw, tenant)
        return changed

    _tenant_change(change, f"created tenant {tenant}")
    typer.echo(f"its LRS credential (Basic user:secret), shown this once: {credential}")


@tenant_app.command("list")
def tenant_list() -> None:
    """Each tenant, whether it is suspended, and what it is reached by (no secrets)."""
    from teampulse.ops.tenants import read_raw
    from teampulse.tenancy.lifecycle import listed

    for line in listed(read_raw(_tenants_file())):
        typer.echo(line)


@tenant_app.command("show")
def tenant_show(tenant: Annotated[str, typer.Argument(help="A tenant's id")]) -> None:
    """A tenant's entry, its secrets masked."""
    from teampulse.ops.tenants import read_raw
    from teampulse.tenancy.config import TenantConfigError
    from teampulse.tenancy.lifecycle import described

    try:
        typer.echo(described(read_raw(_tenants_file()), tenant), nl=False)
    except TenantConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None


@tenant_app.command("usage")
def tenant_usage(
    tenant: Annotated[str | None, typer.Argument(help="A tenant's id (all: none)")] = None,
) -> None:
    """What each tenant uses (records, events, people, teams, series) next to its quotas, as
    Prometheus (TEAMPULSE_PROMETHEUS_URL) has scraped it from every process."""
    from teampulse.ops.tenant_usage import UsageUnavailable, read_usage
    from teampulse.tenancy.config import TenantConfigError
    from teampulse.tenancy.directory import tenant_directory

    settings = _settings()
    _tenants_file()
    try:
        directory = tenant_directory(settings)
    except TenantConfigError as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    if tenant is not None and tenant not in directory.tenants:
        known = ", ".join(sorted(directory.tenants)) or "none"
        typer.echo(f"no tenant {tenant!r} in the tenants file (tenants: {known})", err=True)
        raise typer.Exit(1)
    chosen = [tenant] if tenant is not None else sorted(directory.tenants)
    try:
        reports = asyncio.run(read_usage(settings.prometheus_url, directory, chosen))
    except UsageUnavailable as exc:
        typer.echo(str(exc), err=True)
        raise typer.Exit(1) from None
    for report in reports:
        typer.echo(report.line())


@tenant_app.command("suspend")
def tenant_suspend(tenant: Annotated[str, typer.Argument(help="A tenant's id")]) -> None:
    """Refuse the tenant's requests (403 with the reason); its data is kept."""
    from teampulse.tenancy.lifecycle import suspended

    _tenant_change(lambda raw: suspended(raw, tenant, True), f"suspended tenant {tenant}")


@tenant_app.command("resume")
def tenant_resume(tenant: Annotated[str, typer.Argument(help="A tenant's id")]) -> None:
    """Accept the tenant's requests again."""
    from teampulse.tenancy.lifecycle import suspended

    _tenant_change(lambda raw: suspended(raw, tenant, False), f"resumed tenant {tenant}")


@tenant_app.command("delete")
def tenant_delete(tenant: Annotated[str, typer.Argument(help="A tenant's id")]) -> None:
    """Remove the tenant and destroy its pseudonym key; says what remains."""
    from teampulse.tenancy.lifecycle import REMAINS_AFTER_DELETE, deleted

    _tenant_change(
        lambda raw: deleted(raw, tenant),
        f"deleted tenant {tenant} and its pseudonym key; what remains: {REMAINS_AFTER_DELETE}",
    )


@cli.command("tenant-relay", epilog=_settings_epilog("tenant-relay"))
def tenant_relay(
    loglevel: Annotated[str, typer.Option(help="Logging level")] = "info",
) -> None:
    """Copy each tenant's own input topics into the shared ones, with its tenant."""
    from teampulse.ingest.relay import TenantRelay
    from teampulse.tenancy.source import TenantsSource

    settings = _settings()
    _logging(loglevel, settings.log_repeat_interval_s)
    tenants = TenantsSource(settings)
    if tenants.directory.implicit:
        typer.echo("tenant-relay needs TEAMPULSE_TENANTS_FILE (docs/tenancy.md)", err=True)
        raise typer.Exit(2)
    asyncio.run(TenantRelay(settings, tenants, settings.now_source()).run())


@cli.command("tenant-admin", epilog=_settings_epilog("tenant-admin"))
def tenant_admin() -> None:
    """Serve the tenant commands as an authenticated HTTP API (docs/tenancy.md)."""
    from teampulse.ops.admin_api import run_admin

    run_admin(_settings())


@cli.command(epilog=_settings_epilog("topics"))
def topics() -> None:
    """Create TeamPulse's Kafka topics (the worker also does this at start)."""
    from teampulse.kafka.topics import ensure_topics
    from teampulse.tenancy.directory import tenant_directory

    settings = _settings()
    _logging("warning", settings.log_repeat_interval_s)
    tenant_topics = tenant_directory(settings).tenant_topic_retention()
    changes = asyncio.run(ensure_topics(settings, tenant_topics))
    typer.echo("created: " + (", ".join(changes.created) or "nothing, all exist"))
    if changes.retention_updated:
        typer.echo("retention updated: " + ", ".join(changes.retention_updated))


@cli.command(epilog=_settings_epilog("demo"))
def demo(
    seconds: Annotated[
        float | None, typer.Option(envvar="DEMO_SECONDS", help="Stop after N seconds")
    ] = None,
) -> None:
    """Run the worker and a realistic simulated feed; print where to look."""
    from teampulse.ops.demo import run_demo

    raise typer.Exit(run_demo(_settings(reads_config=True), seconds))


@cli.command("msteams-subscribe", epilog=_settings_epilog("msteams-subscribe"))
def msteams_subscribe(
    renew_every: Annotated[
        str, typer.Option(help="Keep renewing at this interval (e.g. 45m); default: once")
    ] = "0",
) -> None:
    """Create or renew the Microsoft Graph subscription for Teams channel messages."""
    from teampulse.ingest.msteams_subscribe import keep_subscribed
    from teampulse.settings import parse_duration

    settings = _settings()
    try:
        every_s = parse_duration(renew_every)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--renew-every") from None
    asyncio.run(keep_subscribed(settings, settings.now_source(), every_s, typer.echo))


@cli.command(epilog=_settings_epilog("web"))
def web() -> None:
    """Serve the L&D web app: Organisation, Initiatives, Network, Team, Alerts pages, runbooks."""
    from teampulse.web.server import run_web

    _logging("INFO")
    run_web(_settings())


@cli.command(epilog=_settings_epilog("notify"))
def notify() -> None:
    """Receive Alertmanager's webhook and post each alert to Microsoft Teams (Workflows)."""
    from teampulse.notify.server import run_notify

    _logging("INFO")
    run_notify(_settings())


@cli.command(epilog=_settings_epilog("digest"))
def digest(
    scope: Annotated[str, typer.Option(help="org, division:NAME or department:NAME")] = "org",
    to: Annotated[
        str, typer.Option(help="email, teams, slack, or html (write the e-mail's HTML to --out)")
    ] = "email",
    out: Annotated[Path, typer.Option(help="File --to html writes")] = Path("digest.html"),
    tenant: Annotated[
        str | None,
        typer.Option(help="The scope of this tenant of TEAMPULSE_TENANTS_FILE (docs/tenancy.md)"),
    ] = None,
) -> None:
    """Make the weekly digest of one scope from published figures and deliver it."""
    from teampulse.digest.run import run_digest

    try:
        typer.echo(asyncio.run(run_digest(_settings(), scope, to, out, tenant)))
    except ValueError as exc:  # DigestError
        typer.echo(f"digest: {exc}", err=True)
        raise typer.Exit(2) from None
    except RuntimeError as exc:  # DeliveryError
        typer.echo(f"digest: {exc}", err=True)
        raise typer.Exit(1) from None


def main() -> None:
    cli()


if __name__ == "__main__":
    main()
