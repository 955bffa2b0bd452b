"""The Faust app and the topics it reads and writes (names in docs/architecture.md)."""

from __future__ import annotations

from dataclasses import dataclass

import faust
from faust.types import TopicT

from teampulse.kafka.security import faust_broker_credentials
from teampulse.settings import Settings

__all__ = ["Topics", "build_app", "declare_topics"]

FAUST_HEARTBEAT_S = 3.0  # Faust's default
# Kafka's advice: a heartbeat at most a third of the session timeout.
HEARTBEATS_PER_SESSION = 3


@dataclass(frozen=True)
class Topics:
    events: TopicT
    xapi: TopicT
    roster_name: str
    erasures_name: str
    deadletter: TopicT
    by_team: TopicT
    by_thread: TopicT
    thread_facts: TopicT
    team_counts: TopicT
    team_state_log: TopicT
    thread_state_log: TopicT


def build_app(settings: Settings) -> faust.App:
    return faust.App(
        settings.app_id,
        broker=f"kafka://{settings.kafka_bootstrap}",
        broker_credentials=faust_broker_credentials(settings),
        value_serializer="raw",
        key_serializer="raw",
        store="memory://",
        datadir=str(settings.data_dir),
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_bind=settings.web_host,
        canonical_url=f"http://{settings.web_host}:{settings.web_port}",
        topic_partitions=settings.topic_partitions,
        topic_allow_declare=True,
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # A few milliseconds of linger turn thousands of one-record produce requests per
        # second into a handful of batches.
        producer_linger=0.005,
        producer_max_batch_size=512 * 1024,
        broker_commit_interval=1.0,
        stream_buffer_maxsize=max(4096, settings.batch_max * 2),
        # With no standby replicas and no tables, faust-streaming falls back to Kafka's
        # round-robin assignor, which neither keeps co-partitioned topics together nor
        # records the owner URLs that `topic_route` needs. Keep Faust's own assignor.
        table_standby_replicas=1,
        web_in_thread=False,
        # Faust's /router pages route Faust tables, of which TeamPulse has none (its read API
        # routes teams itself); left on they list every worker's URL to anyone and answer
        # 500 for an unknown table name.
        web_router_enabled=False,
        # Faust's default (60 s) leaves a killed worker's partitions unowned for a minute.
        broker_session_timeout=settings.group_session_timeout_s,
        broker_heartbeat_interval=min(
            FAUST_HEARTBEAT_S, settings.group_session_timeout_s / HEARTBEATS_PER_SESSION
        ),
    )


def declare_topics(app: faust.App, settings: Settings) -> Topics:
    """Faust's handles on the topics; `teampulse.kafka.topics` creates them with their config."""

    def topic(name: str, partitions: int = settings.topic_partitions) -> TopicT:
        return app.topic(settings.topic(name), internal=True, partitions=partitions)

    return Topics(
        events=topic("events"),
        xapi=topic("xapi"),
        roster_name=settings.topic("roster"),
        erasures_name=settings.topic("erasures"),
        deadletter=topic("deadletter"),
        by_team=topic("by-team"),
        by_thread=topic("by-thread"),
        thread_facts=topic("thread-facts"),
        team_counts=topic("team-counts", partitions=1),
        team_state_log=topic("team-state"),
        thread_state_log=topic("thread-state"),
    )
