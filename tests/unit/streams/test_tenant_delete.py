"""A deleted tenant leaves the partitions, the roster and the roll-up inputs, and a replay of
the state log it left behind does not bring it back."""

from __future__ import annotations

import orjson

from teampulse.contract.event import Event, encode_wire
from teampulse.contract.roster import RosterEntry
from teampulse.contract.tenant_scope import scoped
from teampulse.enrichment.roster import Roster
from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.counts import TeamCounts
from teampulse.gauges.threads import ReplyLink
from teampulse.streams.partitions import (
    RollupInputs,
    TeamPartition,
    ThreadPartition,
    event_op,
    fact_op,
)
from teampulse.streams.pipeline import _without_deleted
from teampulse.streams.state_snapshots import dump_threads, load_threads

AT = 1_772_409_600.0


def known(tenant: str | None) -> bool:
    return tenant != "acme"  # acme was deleted, globex and the implicit tenant remain


def event(tenant: str | None, n: int) -> Event:
    return Event(
        id=scoped(tenant, f"e-{n}"),
        type="learning.completed",
        occurred_at=AT,
        actor=f"p-{n}",
        source="lms",
        team=scoped(tenant, "red"),
        tenant=tenant,
    )


def test_a_replay_leaves_a_deleted_tenants_events_and_facts_out() -> None:
    red = scoped("acme", "red")
    link = ReplyLink(red, scoped("acme", "p-2"), red, scoped("acme", "blue"), AT)
    record = orjson.dumps(
        [
            orjson.loads(event_op(encode_wire(event("acme", 1)))),
            orjson.loads(event_op(encode_wire(event("globex", 1)))),
            orjson.loads(event_op(encode_wire(event(None, 1)))),
            orjson.loads(fact_op(orjson.dumps(link.to_wire()))),
        ]
    )
    partition = TeamPartition(GaugeConfig())

    partition.replay(record, known=known)

    assert set(partition.teams) == {scoped("globex", "red"), "red"}


def test_dropping_a_tenant_empties_its_teams_roster_and_counts() -> None:
    config = GaugeConfig()
    partition = TeamPartition(config)
    for tenant in ("acme", "globex"):
        partition.apply_event(event(tenant, 1))
    roster = Roster(
        [
            RosterEntry(f"{t}-p", scoped(t, "red"), scoped(t, "sales"), scoped(t, "emea"))
            for t in ("acme", "globex")
        ]
    )
    inputs = RollupInputs(
        counts={scoped(t, "red"): TeamCounts.empty(config, 1) for t in ("acme", "globex")}
    )

    assert partition.drop_tenants(known) == 1
    assert roster.drop_tenants(known) == 1
    inputs.drop_tenants(known)

    assert set(partition.teams) == {scoped("globex", "red")}
    assert roster.teams() == [scoped("globex", "red")]
    assert roster.path(scoped("acme", "red")) is None
    assert set(inputs.counts) == {scoped("globex", "red")} and inputs.changed


def post(tenant: str | None, n: int, thread: str = "t-1") -> Event:
    return Event(
        id=scoped(tenant, f"post-{n}"),
        type="discussion.posted",
        occurred_at=AT + n,
        actor=f"p-{n}",
        source="forum",
        team=scoped(tenant, "red"),
        thread=scoped(tenant, thread),
        post=scoped(tenant, f"post-{n}"),
        tenant=tenant,
    )


def test_a_deleted_tenants_threads_leave_the_book_at_once_and_a_replay_or_restore_skips_them() -> (
    None
):
    config = GaugeConfig()
    threads = ThreadPartition(config)
    for tenant in ("acme", "globex", None):
        for n in range(3):
            threads.book.apply(post(tenant, n, thread=f"t-{n % 2}"))
    assert (len(threads.book), threads.book.posts) == (6, 9)

    assert threads.drop_tenants(known) == 2

    assert (len(threads.book), threads.book.posts) == (4, 6)
    threads.expire_threads(AT + 10 * 365 * 86400)  # expiry skips the dropped threads' entries
    assert len(threads.book) == 0

    replayed = ThreadPartition(config)
    log = orjson.dumps([orjson.loads(encode_wire(post(t, 1))) for t in ("acme", "globex")])
    replayed.replay(log, known=known)
    assert (len(replayed.book), replayed.book.posts) == (1, 1)

    # A snapshot taken before the delete is restored without the tenant.
    before = ThreadPartition(config)
    before.book.apply(post("acme", 1))
    before.book.apply(post("globex", 1))
    restore = _without_deleted(load_threads(config), known)
    restored = restore(0, dump_threads(config)(before))
    assert (len(restored.book), restored.book.posts) == (1, 1)
