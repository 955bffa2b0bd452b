"""Composition root of the worker: builds the app, the pipeline, the exporter and the sinks."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import gc
import logging
import socket
import time
from collections.abc import Awaitable, Callable
from dataclasses import asdict
from typing import Any, cast

import faust
from aiohttp.web import Response as AiohttpResponse
from faust.sensors.prometheus import FaustMetrics, PrometheusMonitor
from faust.web import Request, Response, View
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry
from redis.asyncio import Redis
from redis.exceptions import RedisError
from yarl import URL

from teampulse.contract.erasure import key_check
from teampulse.contract.event_structs import FastEventValidator
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.tenant_scope import scoped, tenant_of, unscoped
from teampulse.contract.xapi import XapiMapper
from teampulse.engine.undecodable import skip_undecodable_records, take_skipped
from teampulse.gauges.config import load_gauge_config
from teampulse.gauges.snapshot import publishable
from teampulse.ingest.tenant_metrics import TenantsCollector
from teampulse.kafka.coordinator_log import quiet_coordinator_start
from teampulse.kafka.log_limit import limit_repeated_messages
from teampulse.kafka.security import kafka_client_options
from teampulse.kafka.topics import ensure_topics
from teampulse.settings import DEV_PSEUDONYM_SECRET, Settings
from teampulse.shell import build_app
from teampulse.sinks.content_metrics import ContentCollector
from teampulse.sinks.exporter import Exporter, team_partition
from teampulse.sinks.overview import read_overview, render_overview
from teampulse.sinks.prometheus import GaugeCollector
from teampulse.sinks.read_api import as_tenant_sees, reader, refused, register_read_api_extras
from teampulse.sinks.redis_connection import redis_client, redis_connection_problem
from teampulse.sinks.redis_writer import RedisKeys, RedisWriter, tenant_prefix
from teampulse.sinks.tenant_usage import TenantUsage
from teampulse.streams.erasure_reader import ErasureReader
from teampulse.streams.health import PipelineHealth, StateEntries
from teampulse.streams.pipeline import Pipeline, Topics
from teampulse.streams.roster_reader import RosterReader
from teampulse.streams.team_counts_reader import TeamCountsReader
from teampulse.tenancy.read_access import ReadRefusal
from teampulse.tenancy.source import TenantsSource

__all__ = ["create_worker", "run_worker"]

log = logging.getLogger(__name__)


CONSUMER_LAG_INTERVAL_S = 5.0
UNDECODABLE_REPORT_INTERVAL_S = 1.0
GC_THRESHOLDS = (50_000, 20, 100)
# The earliest next export tick, as a multiple of the last tick's cost from its start: while
# the batch loop is behind its inputs, exports take at most a third of the worker, so it
# catches up; once it keeps up, at most half, so a change waits less for the next tick (when
# every team changes between ticks, the produce-to-gauge latency is about this gap plus a
# tick).
EXPORT_PAUSE_FACTOR = 3.0
EXPORT_PAUSE_FACTOR_KEEPING_UP = 2.0
# Batches come every few milliseconds under load; a tick per batch would recount a busy
# team for every one of them.
EXPORT_MIN_GAP_S = 0.1
OVERVIEW_TIMEOUT_S = 2.0  # a page that waits longer for Redis answers 503 instead


def create_worker(settings: Settings) -> faust.App:
    skip_undecodable_records()
    app = build_app(settings)
    topics = Topics.of(settings)
    config = load_gauge_config(settings)
    clock = settings.now_source()
    tenants = TenantsSource(settings)  # refuses to start on a tenants file with a problem
    config.use_tenants(tenants.directory.gauge_settings())  # their own scoring, initiatives...
    pseudonymiser = Pseudonymiser(settings.pseudonym_secret)
    kafka = kafka_client_options(settings)
    erasures = ErasureReader(kafka, topics.erasures, key_check(settings.pseudonym_secret))
    roster = RosterReader(kafka, topics.roster, pseudonymiser, erasures.erased, tenants)
    team_counts = TeamCountsReader(kafka, topics.team_counts)
    registry = CollectorRegistry()
    health = PipelineHealth(registry)
    collector = GaugeCollector(
        settings, registry, tenants.directory_team_quota, tenants.directory_series_quota
    )
    collector.alert_routes = tenants.directory.alert_routes()
    redis_writer = RedisWriter(settings, health)
    redis_writer.tenant_retention = lambda tenant: tenants.directory.retention_of(tenant)
    pipeline = Pipeline(
        settings,
        topics,
        config,
        roster,
        erasures,
        team_counts,
        FastEventValidator(settings, pseudonymiser),
        XapiMapper(settings, pseudonymiser),
        health,
        clock,
        tenants,
    )
    # Started with the app (its clients connect at once); it joins the group once the roster
    # is loaded, and workers started together share the first assignment.
    app.add_dependency(pipeline.hot)

    async def leave_the_group(_sender: object, **_kwargs: object) -> None:
        # Faust stops its web server before the app's dependencies: stopped then, the batch
        # loop would leave the group only after /metrics went dark, and the teams would be
        # missing until the others noticed. Stopped first, it withdraws and leaves while the
        # web server still answers.
        await pipeline.hot.stop()

    app.on_before_shutdown.connect(leave_the_group)  # type: ignore[arg-type]

    StateEntries(pipeline.state_entries, registry)
    TenantsCollector(tenants, registry)
    TenantUsage(pipeline.tenant_events, roster.roster, collector, registry)

    exporter = Exporter(
        pipeline,
        config,
        settings.topic_partitions,
        clock,
        sinks=[collector, ContentCollector(config, registry), redis_writer],
        send_team_counts=pipeline.send_team_counts,
    )

    # A partition that moved away leaves /metrics at once, one that arrived appears as soon
    # as it is restored: a team's series are missing only while its partition moves.
    pipeline.hot.after_assignment = exporter.tick
    redis_writer.may_write = lambda: not pipeline.hot.lease.fenced()

    def restored(partition: int) -> None:
        # A snapshot taken before a tenant was deleted still holds its teams.
        pipeline.teams.states[partition].drop_tenants(tenants.knows)
        exporter.tick()

    pipeline.teams.after_restore = restored

    @app.task
    async def read_roster() -> None:
        await roster.run()

    @app.task
    async def read_erasures() -> None:
        await erasures.run()

    @app.task
    async def read_team_counts() -> None:
        await team_counts.run()

    @app.task
    async def start_redis_writer() -> None:
        await redis_writer.start()

    @app.task
    async def export_gauges() -> None:
        # A tick follows each batch (what it changed reaches the sinks without waiting for
        # a timer), and export_interval_s after the last one when no batch comes (windows
        # move with the clock). Under heavy load every team changes between ticks and a
        # tick gets expensive; the pause after a tick grows with its cost, so exports never
        # take more than about half of the worker, a third while the stream is behind.
        applied = pipeline.hot.batch_applied
        not_before = 0.0
        while True:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(applied.wait(), settings.export_interval_s)
            pause = not_before - time.perf_counter()
            if pause > 0:
                await asyncio.sleep(pause)
            idle = not applied.is_set()  # no batch since the last tick
            applied.clear()
            started = time.perf_counter()
            exporter.tick(idle=idle)
            took = time.perf_counter() - started
            behind = pipeline.hot.behind
            factor = EXPORT_PAUSE_FACTOR if behind else EXPORT_PAUSE_FACTOR_KEEPING_UP
            not_before = started + max(took * factor, EXPORT_MIN_GAP_S)
            health.observe_export_duration(took)

    @app.timer(settings.tenants_reload_s)
    async def reload_tenants() -> None:
        before = set(tenants.directory.tenants)
        reload = tenants.reload_if_changed()
        if reload.changed:
            collector.alert_routes = tenants.directory.alert_routes()
        if reload.changed and config.use_tenants(tenants.directory.gauge_settings()):
            # A tenant's minimum group size, scoring or initiatives changed: its teams and
            # roll-ups are counted and judged again with them at the next tick.
            exporter.judge_again()
            pipeline.hot.batch_applied.set()  # at once, not after the idle export interval
        deleted = before - set(tenants.directory.tenants) if reload.changed else set()
        if deleted and not tenants.directory.implicit:
            await _forget_deleted_tenants(deleted, tenants, pipeline, exporter, redis_writer)

    @app.timer(UNDECODABLE_REPORT_INTERVAL_S)
    async def report_undecodable() -> None:
        skipped = take_skipped()
        if skipped:
            pipeline.report_undecodable(skipped)

    @app.timer(CONSUMER_LAG_INTERVAL_S)
    async def report_consumer_lag() -> None:
        health.set_consumer_lag(
            await pipeline.hot.lags()
        )  # every partition read is the hot group's

    def withdraw_if_fenced() -> None:
        # A worker that wakes after a freeze may be asked for /metrics before its next export
        # tick: what it published before the freeze may belong to another worker by now.
        if pipeline.hot.lease.fenced():
            exporter.tick()

    _register_metrics_page(app, registry, collector, withdraw_if_fenced)
    _register_read_api(app, pipeline, exporter, tenants)
    _register_overview_page(app, settings, clock, tenants)
    register_read_api_extras(app, settings, tenants)
    return app


async def _forget_deleted_tenants(
    deleted: set[str],
    tenants: TenantsSource,
    pipeline: Pipeline,
    exporter: Exporter,
    redis_writer: RedisWriter,
) -> None:
    """A tenant gone from the tenants file (`teampulse tenant delete`): its teams' state,
    roster people, series and Redis keys go at once (docs/tenancy.md, "Deleting a
    tenant"). Every worker does it for what it holds; the Redis keys are deleted by each,
    which is idempotent."""
    teams = pipeline.drop_tenants(tenants.knows)
    exporter.forget_tenants(tenants.knows)
    exporter.tick()
    for tenant in sorted(deleted):
        try:
            keys = await redis_writer.delete_tenant(tenant)
        except RedisError as exc:
            log.error(
                "tenant=%s deleted, but its Redis keys could not be removed (%s): delete the "
                "keys under %s by hand",
                tenant,
                exc,
                tenant_prefix(pipeline.settings.redis_prefix, tenant),
            )
            keys = 0
        log.info(
            "tenant=%s deleted: its state (%d teams on this worker), roster, series and %d "
            "Redis keys are removed; its records on the input topics and the state log stay "
            "until their retention, ignored",
            tenant,
            teams,
            keys,
        )


def _register_metrics_page(
    app: faust.App,
    registry: CollectorRegistry,
    collector: GaugeCollector,
    before_render: Callable[[], None],
) -> None:
    """/metrics with Faust's stream sensors, the pipeline health and the gauges.

    Faust's own page renders the whole registry with generate_latest inside the event loop;
    the gauges alone take about a second for 1,000 teams that way, so the gauge text comes
    from the collector's per-snapshot cache instead.
    """
    app.monitor = PrometheusMonitor(metrics=FaustMetrics.create(registry, "teampulse_faust"))

    @app.page("/metrics")
    async def metrics(web: View, request: Request) -> Response:
        before_render()
        return cast(
            Response,
            AiohttpResponse(
                # Faust types the query as a Mapping; aiohttp's is a MultiDict
                body=collector.metrics_page(
                    registry,
                    request.query.getall("name[]", None),  # type: ignore[attr-defined]
                ),
                headers={"Content-Type": CONTENT_TYPE_LATEST},
            ),
        )


TeamView = Callable[..., Awaitable[Response]]


def _routed_to_team_owner(
    app: faust.App, pipeline: Pipeline, tenants: TenantsSource
) -> Callable[[TeamView], TeamView]:
    """Serve a team's request on the worker that owns its `by-team` partition (the hot
    consumer's assignor publishes the owners), forwarding it there if that is another one.
    The handler gets the team's key inside the reader's tenant (its read token decides)."""
    own_url = app.conf.canonical_url
    partitions = pipeline.settings.topic_partitions

    def decorate(handler: TeamView) -> TeamView:
        @functools.wraps(handler)
        async def routed(web: View, request: Request, team: str, **kwargs: str) -> Response:
            tenant = reader(tenants, request)
            if isinstance(tenant, ReadRefusal):
                return refused(web, tenant)
            key = scoped(tenant, team)
            partition = team_partition(key, partitions)
            owner = pipeline.hot.assignor.owners.get(partition)
            here = partition in pipeline.teams.states
            if here or owner is None or URL(owner) == own_url:
                return await handler(web, request, key, **kwargs)
            target = URL(owner)
            url = request.url.with_host(target.host or "").with_port(target.port)
            async with app.http_client.get(url, headers=request.headers) as response:
                return web.text(
                    await response.text(),
                    content_type=response.content_type,
                    status=response.status,
                )

        return routed

    return decorate


def _register_read_api(
    app: faust.App, pipeline: Pipeline, exporter: Exporter, tenants: TenantsSource
) -> None:
    routed = _routed_to_team_owner(app, pipeline, tenants)

    def not_found(web: View, what: str) -> Response:
        return web.json({"error": "not_found", "detail": what}, status=404)

    @app.page("/teams")
    async def list_teams(web: View, request: Request) -> Response:
        tenant = reader(tenants, request)
        if isinstance(tenant, ReadRefusal):
            return refused(web, tenant)
        roster = exporter.state.roster
        teams = [
            unscoped(t)
            for t in roster.teams()
            if tenant_of(t) == tenant
            and publishable(t, roster.team_size(t), roster.path(t), exporter.config)
        ]
        return web.json({"teams": teams})

    @app.page("/teams/{team}")
    @routed
    async def get_team(web: View, request: Request, team: str) -> Response:
        snapshot = exporter.published(team)
        if snapshot is None:
            return not_found(
                web, f"team {unscoped(team)!r} is unknown or below the minimum group size"
            )
        return web.json(as_tenant_sees(snapshot))

    @app.page("/teams/{team}/initiatives/{initiative}")
    @routed
    async def get_initiative(web: View, request: Request, team: str, initiative: str) -> Response:
        snapshot = exporter.published(team)
        if snapshot is None or initiative not in snapshot.initiatives:
            return not_found(
                web, f"no gauges for team {unscoped(team)!r} and initiative {initiative!r}"
            )
        return web.json(
            {
                "team": unscoped(team),
                "initiative": initiative,
                "as_of": snapshot.as_of,
                **asdict(snapshot.initiatives[initiative]),
            }
        )


def _register_overview_page(
    app: faust.App, settings: Settings, clock: Callable[[], float], tenants: TenantsSource
) -> None:
    """`/`: the team overview page, read from Redis (every worker shows every team)."""
    all_keys = RedisKeys(settings.redis_prefix)
    client: list[Redis] = []  # made on the first request, in the worker's event loop

    @app.page("/")
    async def overview(web: View, request: Request) -> Response:
        tenant = reader(tenants, request)
        if isinstance(tenant, ReadRefusal):
            return refused(web, tenant)
        if not client:
            client.append(redis_client(settings, socket_timeout=OVERVIEW_TIMEOUT_S))
        try:
            rows = await read_overview(client[0], all_keys.of_tenant(tenant))
        except RedisError as exc:
            return web.text(
                f"the team overview reads Redis, which did not answer: {exc}", status=503
            )
        return web.html(render_overview(rows, clock()))


def _check_port_free(host: str, port: int) -> None:
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(
                f"cannot serve /metrics on {host}:{port}: {exc.strerror}. Another worker may "
                "be running (`make down` stops the demo's), or set TEAMPULSE_WEB_PORT."
            ) from None


class TeamPulseWorker(faust.Worker):
    """Faust's worker, with repeated identical log lines collapsed (an outage makes every
    Kafka client log each retry, ten times a second)."""

    def __init__(self, app: faust.App, *, repeat_interval_s: float, **kwargs: Any) -> None:
        super().__init__(app, **kwargs)
        self._repeat_interval_s = repeat_interval_s

    def on_setup_root_logger(self, logger: logging.Logger, level: int) -> None:
        super().on_setup_root_logger(logger, level)
        limit_repeated_messages(logger, self._repeat_interval_s)


def run_worker(settings: Settings, loglevel: str = "info") -> None:
    # A worker holds millions of long-lived objects (buckets, event ids, thread posts). With
    # the default thresholds the collector runs every 700 allocations and its older
    # generations walk all of them; our state has no reference cycles to reclaim in a hurry.
    gc.set_threshold(*GC_THRESHOLDS)
    quiet_coordinator_start()
    if settings.pseudonym_secret == DEV_PSEUDONYM_SECRET:
        log.warning("TEAMPULSE_PSEUDONYM_SECRET is the development default: set it in production")
    _check_port_free(settings.web_host, settings.web_port)
    asyncio.run(ensure_topics(settings))
    # A refused login or certificate will not heal by itself, unlike an outage: say so now.
    redis_problem = asyncio.run(redis_connection_problem(settings))
    if redis_problem is not None:
        raise SystemExit(redis_problem)
    app = create_worker(settings)
    worker = TeamPulseWorker(
        app, loglevel=loglevel, quiet=True, repeat_interval_s=settings.log_repeat_interval_s
    )
    # Faust's terminal spinner sets the root logger to DEBUG (to spin on every record) when
    # the level is WARNING or above: every aiokafka send would then build a log record.
    worker.spinner = None
    worker.execute_from_commandline()
