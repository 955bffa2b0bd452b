"""Scheduling by tenant: a tenant's backlog held back in its order, another tenant's records
taken into the next batch, and commits that never pass a record held back."""

from __future__ import annotations

import pytest
from aiokafka.errors import KafkaTimeoutError
from aiokafka.structs import ConsumerRecord, TopicPartition

from teampulse.engine import batch_loop
from teampulse.engine.tenant_scheduler import TenantScheduler, fair_shares
from tests.unit.engine.test_batch_loop import hot_loop

EVENTS_0 = TopicPartition("t.events", 0)
EVENTS_1 = TopicPartition("t.events", 1)
COUNTS_0 = TopicPartition("t.team-counts", 0)


def record(tp: TopicPartition, offset: int, tenant: str) -> ConsumerRecord:
    headers = (("teampulse-tenant", tenant.encode()),) if tenant else ()
    return ConsumerRecord(tp.topic, tp.partition, offset, 0, 0, None, b"{}", None, 0, 2, headers)


def tenant_of(record: ConsumerRecord) -> str:
    return dict(record.headers).get("teampulse-tenant", b"").decode()


READERS = {"t.events": tenant_of}


def backlog_then_live(tp: TopicPartition, backlog: int, live: int) -> list[ConsumerRecord]:
    """Tenant a's backlog, then tenant b's live records behind it in the same partition."""
    return [record(tp, o, "a") for o in range(backlog)] + [
        record(tp, backlog + o, "b") for o in range(live)
    ]


def test_fair_shares_meet_small_demands_and_split_the_rest_evenly():
    assert fair_shares({"a": 10_000, "b": 3}, 100) == {"b": 3, "a": 97}
    assert fair_shares({"a": 500, "b": 500, "c": 10}, 100) == {"c": 10, "a": 45, "b": 45}
    assert fair_shares({"a": 5, "b": 3}, 100) == {"b": 3, "a": 5}
    # More keys than budget: the smallest demands first, nobody gets more than it has.
    assert sum(fair_shares({k: 4 for k in "abcdef"}, 3).values()) == 3


def test_another_tenants_records_behind_a_backlog_go_into_the_next_batch():
    scheduler: TenantScheduler = TenantScheduler(read_ahead=100_000)
    scheduler.add({EVENTS_0: backlog_then_live(EVENTS_0, 10_000, 5)}, READERS)

    batch = scheduler.take(100)[EVENTS_0]

    assert [r.offset for r in batch if tenant_of(r) == "b"] == list(range(10_000, 10_005))
    assert [r.offset for r in batch if tenant_of(r) == "a"] == list(range(95))
    assert [r.offset for r in batch] == sorted(r.offset for r in batch)  # offset order
    assert scheduler.first_held(EVENTS_0) == 95  # the commit stops at a's first held
    assert scheduler.held == 10_005 - 100


def test_a_backlog_alone_takes_whole_batches_in_its_order():
    scheduler: TenantScheduler = TenantScheduler(read_ahead=100_000)
    scheduler.add({EVENTS_0: backlog_then_live(EVENTS_0, 250, 0)}, READERS)
    offsets = []
    while scheduler.held:
        batch = scheduler.take(100)
        assert sum(len(b) for b in batch.values()) == min(100, 250 - len(offsets))
        offsets += [r.offset for r in batch[EVENTS_0]]
    assert offsets == list(range(250))
    assert scheduler.first_held(EVENTS_0) is None


def test_each_tenants_share_is_spread_over_its_partitions():
    scheduler: TenantScheduler = TenantScheduler(read_ahead=100_000)
    scheduler.add(
        {
            EVENTS_0: backlog_then_live(EVENTS_0, 1000, 0),
            EVENTS_1: backlog_then_live(EVENTS_1, 1000, 2),
        },
        READERS,
    )
    batch = scheduler.take(100)
    assert len(batch[EVENTS_0]) == 49 and len(batch[EVENTS_1]) == 51  # b's 2 + a's 49
    assert scheduler.first_held(EVENTS_0) == 49 and scheduler.first_held(EVENTS_1) == 49


def test_a_topic_without_a_tenant_reader_is_never_held():
    scheduler: TenantScheduler = TenantScheduler(read_ahead=100_000)
    counts = [record(COUNTS_0, o, "") for o in range(300)]
    passed = scheduler.add({COUNTS_0: counts}, READERS)
    assert passed == {COUNTS_0: counts}
    assert scheduler.held == 0


def test_dropping_a_partition_returns_where_to_read_it_again():
    scheduler: TenantScheduler = TenantScheduler(read_ahead=100_000)
    scheduler.add({EVENTS_0: backlog_then_live(EVENTS_0, 300, 3)}, READERS)
    scheduler.take(100)
    assert scheduler.drop([EVENTS_0]) == {EVENTS_0: 97}
    assert scheduler.held == 0 and scheduler.partitions() == set()


async def test_the_loop_applies_b_ahead_of_as_backlog_and_commits_only_up_to_as_first_held():
    hot, consumer, producer, handler = hot_loop()
    handler.tenant_readers = lambda: READERS  # type: ignore[method-assign]
    hot.settings = hot.settings.model_copy(update={"batch_max": 100})
    scheduler = hot._scheduling(READERS)
    assert scheduler is not None

    first = hot._schedule(scheduler, READERS, {EVENTS_0: backlog_then_live(EVENTS_0, 1000, 5)})
    await hot._handle(consumer, first)  # type: ignore[arg-type]
    applied = producer.sent[0][2]
    assert sum(1 for _key, value in applied) == 100
    producer.acks[0].set_result(None)
    await hot.drain()

    # b's 5 live records were applied in the first batch; a's 95 first ones with them, and the
    # commit stops at a's first record held back, so a crash reads it again.
    assert consumer.commits == [{EVENTS_0: 95}]

    second = hot._schedule(scheduler, READERS, {})
    await hot._handle(consumer, second)  # type: ignore[arg-type]
    producer.acks[1].set_result(None)
    await hot.drain()
    assert consumer.commits[-1] == {EVENTS_0: 195}


async def test_a_failed_send_forgets_what_is_held_and_reads_again_from_the_commit(
    monkeypatch: pytest.MonkeyPatch,
):
    monkeypatch.setattr(batch_loop, "RETRY_AFTER_SEND_FAILURE_S", 0)
    hot, consumer, producer, handler = hot_loop()
    hot.settings = hot.settings.model_copy(update={"batch_max": 100})
    scheduler = hot._scheduling(READERS)
    assert scheduler is not None
    fetched = {EVENTS_0: backlog_then_live(EVENTS_0, 1000, 5)}
    await hot._handle(consumer, hot._schedule(scheduler, READERS, fetched))  # type: ignore[arg-type]

    producer.acks[0].set_exception(KafkaTimeoutError())
    await hot.drain()

    assert scheduler.held == 0  # forgotten: read again from Kafka
    assert consumer.seeks == [(EVENTS_0, 0)]  # nothing was committed: from the start
    assert handler.rebuilds == 1
