"""Creates TeamPulse's topics with the right partitions and retention before the worker starts.

Faust would create its agents' topics on first use, but the roster and erasure readers and
the state-log restores read topics before any agent touches them, and the roster, the
erasures and the roll-up inputs must be compacted, which only creation can set.

Retention (docs/privacy.md) is also brought up to date on topics that already exist: a
changed `TEAMPULSE_*_RETENTION` takes effect at the next start. aiokafka only speaks the
legacy AlterConfigs, which replaces a topic's whole set of topic-level settings, so the
topic's own settings are read first and written back with the new `retention.ms`: nothing
an operator set on the topic is lost.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import logging
from collections.abc import Mapping
from dataclasses import dataclass

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import (
    KafkaConnectionError,
    TopicAlreadyExistsError,
    UnknownTopicOrPartitionError,
    for_code,
)
from aiokafka.protocol.api import Response

from teampulse.gauges.config import load_gauge_config
from teampulse.kafka.security import kafka_client_options, kafka_connection_problem
from teampulse.settings import Settings, parse_duration

__all__ = [
    "TopicChanges",
    "ensure_topics",
    "retention_ms",
    "state_log_retention",
    "topic_settings",
    "topic_specs",
    "update_retention",
]

log = logging.getLogger(__name__)

CONNECT_ATTEMPTS = 30
LEADER_WAIT_S = 30.0
LEADER_POLL_S = 0.2
# A state log must outlive what the gauges keep (the longest window, the baseline's reach and
# the lateness: GaugeConfig.retention_s), or a restore loses buckets.
STATE_LOG_MARGIN = dt.timedelta(days=7)
RETENTION = "retention.ms"
# DescribeConfigs' config_source of a setting made on the topic itself (not a default).
DYNAMIC_TOPIC_CONFIG = 1
UNKNOWN_TOPIC = UnknownTopicOrPartitionError.errno
# Topics that carry records on their way through the pipeline, read within seconds.
INPUTS = ("events", "xapi")
REPARTITIONED = ("by-team", "by-thread", "thread-facts")
STATE_LOGS = ("team-state", "thread-state")
SNAPSHOTS = ("team-snapshots", "thread-snapshots")
# Compaction only cleans closed segments: rolled hourly, a snapshot that was replaced (and an
# erased person's data in it) is gone within hours, not after the default week.
SNAPSHOT_SEGMENT_MS = 3_600_000


def state_log_retention(settings: Settings) -> dt.timedelta:
    """The configured state-log retention, or the gauges' reach plus a margin ('auto').

    Shorter than the gauges' reach is refused: a restart would silently lose counts.
    """
    reach = dt.timedelta(seconds=load_gauge_config(settings).retention_s)
    if settings.state_log_retention == "auto":
        return reach + STATE_LOG_MARGIN
    configured = dt.timedelta(seconds=parse_duration(settings.state_log_retention))
    if configured < reach:
        raise SystemExit(
            f"TEAMPULSE_STATE_LOG_RETENTION={settings.state_log_retention} is shorter than "
            f"what the gauges look back over ({reach.days} days): a restart would lose counts"
        )
    return configured


def retention_ms(settings: Settings) -> dict[str, int]:
    """retention.ms per logical topic (the compacted roster, erasures, roll-up inputs: none)."""
    inputs = parse_duration(settings.input_retention) * 1000
    state_logs = int(state_log_retention(settings).total_seconds() * 1000)
    return {
        **dict.fromkeys(INPUTS + REPARTITIONED, inputs),
        "deadletter": parse_duration(settings.deadletter_retention) * 1000,
        **dict.fromkeys(STATE_LOGS, state_logs),
    }


def topic_specs(
    settings: Settings, tenant_topics: Mapping[str, int | None] | None = None
) -> list[NewTopic]:
    """Every topic TeamPulse needs; `tenant_topics`: the tenants' own input topics
    (docs/tenancy.md), each with its tenant's `retention` in seconds (None: kept as long as
    the shared input topics)."""
    partitions = settings.topic_partitions
    compacted = {"cleanup.policy": "compact"}
    inputs = parse_duration(settings.input_retention) * 1000
    specs = [
        NewTopic(settings.topic(name), partitions, 1, topic_configs={RETENTION: str(ms)})
        for name, ms in {
            **retention_ms(settings),
            **{
                name: inputs if seconds is None else seconds * 1000
                for name, seconds in (tenant_topics or {}).items()
            },
        }.items()
    ]
    specs.append(NewTopic(settings.topic("roster"), partitions, 1, topic_configs=compacted))
    snapshots = {**compacted, "segment.ms": str(SNAPSHOT_SEGMENT_MS)}
    specs.extend(
        NewTopic(settings.topic(name), partitions, 1, topic_configs=snapshots) for name in SNAPSHOTS
    )
    specs.append(NewTopic(settings.topic("team-counts"), 1, 1, topic_configs=compacted))
    # One record per erased person, kept for good: an erasure must outlive every replay.
    specs.append(NewTopic(settings.topic("erasures"), 1, 1, topic_configs=compacted))
    return specs


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str]) -> None:
    """Return once every partition of the new topics has a leader: a producer that starts
    sooner gets NotLeaderForPartition on its first batches and logs a retry for each."""
    deadline = asyncio.get_running_loop().time() + LEADER_WAIT_S
    while asyncio.get_running_loop().time() < deadline:
        described = await admin.describe_topics(names)
        if all(
            topic.get("error_code") == 0
            and topic.get("partitions")
            and all(p.get("leader", -1) >= 0 for p in topic["partitions"])
            for topic in described
        ):
            return
        await asyncio.sleep(LEADER_POLL_S)
    log.warning("topics %s have no leader after %.0f s; producers will retry", names, LEADER_WAIT_S)


async def topic_settings(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    """The settings made on each topic itself (defaults of the broker left out)."""
    resources = [ConfigResource(ConfigResourceType.TOPIC, name) for name in names]
    found: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for error_code, error_message, _type, name, entries, *_ in response.resources:
            if error_code == UNKNOWN_TOPIC:
                continue  # deleted meanwhile: nothing to update
            if error_code:
                raise for_code(error_code)(f"describe configs of {name}: {error_message}")
            found[name] = {
                entry[0]: entry[1] for entry in entries if entry[3] == DYNAMIC_TOPIC_CONFIG
            }
    return found


async def update_retention(admin: AIOKafkaAdminClient, specs: list[NewTopic]) -> list[str]:
    """Set retention.ms on existing topics where it differs; returns the names changed."""
    wanted = {
        spec.name: spec.topic_configs[RETENTION]
        for spec in specs
        if RETENTION in spec.topic_configs
    }
    if not wanted:
        return []
    current = await topic_settings(admin, sorted(wanted))
    changes = [
        ConfigResource(ConfigResourceType.TOPIC, name, configs={**own, RETENTION: wanted[name]})
        for name, own in sorted(current.items())
        if own.get(RETENTION) != wanted[name]
    ]
    if changes:
        for response in await admin.alter_configs(changes):
            for error_code, error_message, _type, name in response.resources:
                if error_code:
                    raise for_code(error_code)(f"alter configs of {name}: {error_message}")
        log.info(
            "retention updated: %s",
            ", ".join(f"{c.name}={c.configs[RETENTION]}ms" for c in changes),
        )
    return [change.name for change in changes]


def _created(response: Response) -> list[str]:
    """The topics a CreateTopics answer created. The broker answers per topic: one that
    exists already (another worker was first, or the topic list read a moment before was a
    broker's stale view) is kept for the retention check; any other refusal is raised."""
    created = []
    for name, error_code, *message in response.topic_errors:
        if error_code == TopicAlreadyExistsError.errno:
            continue
        if error_code:
            reason = message[0] if message and message[0] else "no reason given"
            raise for_code(error_code)(f"create topic {name}: {reason}")
        created.append(name)
    return created


@dataclass(frozen=True)
class TopicChanges:
    created: list[str]
    retention_updated: list[str]


async def ensure_topics(
    settings: Settings, tenant_topics: Mapping[str, int | None] | None = None
) -> TopicChanges:
    """Create the missing topics and bring the retention of the others up to date."""
    admin = AIOKafkaAdminClient(**kafka_client_options(settings))
    for attempt in range(CONNECT_ATTEMPTS):
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            # A broker still starting is worth waiting for; a refused login is not.
            problem = await kafka_connection_problem(settings)
            if problem.lasting or attempt == CONNECT_ATTEMPTS - 1:
                raise SystemExit(problem.message) from None
            await asyncio.sleep(1)
    try:
        specs = topic_specs(settings, tenant_topics)
        existing = set(await admin.list_topics())
        missing = [spec for spec in specs if spec.name not in existing]
        created: list[str] = []
        if missing:
            created = _created(await admin.create_topics(missing))
            if created:
                log.info("created topics: %s", ", ".join(created))
            await _wait_for_leaders(admin, [spec.name for spec in missing])
        updated = await update_retention(
            admin, [spec for spec in specs if spec.name not in created]
        )
        return TopicChanges(created=created, retention_updated=updated)
    finally:
        await admin.close()
