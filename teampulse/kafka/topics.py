"""Creates TeamPulse's topics with the right partitions and retention before the worker starts.

Faust would create its agents' topics on first use, but the roster reader and the state-log
restores read topics before any agent touches them, and the roster and roll-up inputs must
be compacted, which only creation can set.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import logging

from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.errors import KafkaConnectionError, TopicAlreadyExistsError

from teampulse.gauges.config import load_gauge_config
from teampulse.settings import Settings

__all__ = ["ensure_topics", "state_log_retention", "topic_specs"]

log = logging.getLogger(__name__)

CONNECT_ATTEMPTS = 30
LEADER_WAIT_S = 30.0
LEADER_POLL_S = 0.2
# A state log must outlive what the gauges keep (the longest window, the baseline's reach and
# the lateness: GaugeConfig.retention_s), or a restore loses buckets.
STATE_LOG_MARGIN = dt.timedelta(days=7)


def state_log_retention(settings: Settings) -> dt.timedelta:
    return dt.timedelta(seconds=load_gauge_config(settings).retention_s) + STATE_LOG_MARGIN


def topic_specs(settings: Settings) -> list[NewTopic]:
    partitions = settings.topic_partitions
    state_retention_ms = int(state_log_retention(settings).total_seconds() * 1000)
    compacted = {"cleanup.policy": "compact"}
    retained = {"retention.ms": str(state_retention_ms)}
    plain = ["events", "xapi", "deadletter", "by-team", "by-thread", "thread-facts"]
    specs = [NewTopic(settings.topic(n), partitions, 1) for n in plain]
    specs.append(NewTopic(settings.topic("roster"), partitions, 1, topic_configs=compacted))
    specs.append(NewTopic(settings.topic("team-counts"), 1, 1, topic_configs=compacted))
    for name in ("team-state", "thread-state"):
        specs.append(NewTopic(settings.topic(name), partitions, 1, topic_configs=retained))
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


async def ensure_topics(settings: Settings) -> list[str]:
    """Create the missing topics; returns the names created."""
    admin = AIOKafkaAdminClient(bootstrap_servers=settings.kafka_bootstrap)
    for attempt in range(CONNECT_ATTEMPTS):
        try:
            await admin.start()
            break
        except KafkaConnectionError:
            if attempt == CONNECT_ATTEMPTS - 1:
                raise SystemExit(
                    f"cannot reach Kafka at {settings.kafka_bootstrap}: start it with "
                    "`make up`, or point TEAMPULSE_KAFKA_BOOTSTRAP at your broker"
                ) from None
            await asyncio.sleep(1)
    try:
        existing = set(await admin.list_topics())
        missing = [spec for spec in topic_specs(settings) if spec.name not in existing]
        if missing:
            with contextlib.suppress(TopicAlreadyExistsError):  # another worker was first
                await admin.create_topics(missing)
            log.info("created topics: %s", ", ".join(spec.name for spec in missing))
            await _wait_for_leaders(admin, [spec.name for spec in missing])
        return [spec.name for spec in missing]
    finally:
        await admin.close()
