"""The membership lease: writes allowed only while the group surely still counts this worker
a member, and every state dropped after a lapse."""

from __future__ import annotations

import asyncio

from teampulse.engine.membership import MembershipLease

SESSION_S = 10.0  # the lease lasts 8 s from the heartbeat that renewed it


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_no_write_before_the_first_assignment_and_nothing_to_fence() -> None:
    lease = MembershipLease(SESSION_S, Clock())

    assert not lease.valid()
    assert not lease.fenced()


def test_an_assignment_starts_the_lease_and_it_ends_without_heartbeats() -> None:
    clock = Clock()
    lease = MembershipLease(SESSION_S, clock)
    assert lease.assigned("member-1") is False

    clock.now += 7.9
    assert lease.valid()
    clock.now += 0.1
    assert not lease.valid()
    assert lease.fenced()


def test_a_heartbeat_renews_the_lease_from_when_it_was_sent() -> None:
    clock = Clock()
    lease = MembershipLease(SESSION_S, clock)
    lease.assigned("member-1", 3)
    clock.now += 5
    lease.renewed(clock.now - 1, "member-1", 3)  # answered a second after it was sent

    clock.now += 6.9
    assert lease.valid()
    clock.now += 0.1
    assert not lease.valid()


def test_a_heartbeat_of_an_older_generation_or_member_does_not_revive_the_lease() -> None:
    clock = Clock()
    lease = MembershipLease(SESSION_S, clock)
    lease.assigned("member-1", 3)
    clock.now += 30  # frozen past the session timeout
    assert not lease.valid()

    lease.renewed(clock.now, "member-1", 2)
    lease.renewed(clock.now, "member-0", 3)

    assert not lease.valid()
    assert lease.assigned("member-1", 4) is True


def test_a_heartbeat_answered_in_the_same_generation_after_an_outage_revives_the_lease() -> None:
    """The broker was away longer than the lease, but the group kept the member: nobody else
    got its partitions, so its state stands."""
    clock = Clock()
    lease = MembershipLease(SESSION_S, clock)
    lease.assigned("member-1", 3)
    clock.now += 30
    assert lease.fenced()

    lease.renewed(clock.now - 0.5, "member-1", 3)

    assert lease.valid()
    assert lease.assigned("member-1", 4) is False


def test_a_late_answer_to_a_heartbeat_sent_before_a_freeze_does_not_revive_the_lease() -> None:
    clock = Clock()
    lease = MembershipLease(SESSION_S, clock)
    lease.assigned("member-1", 3)
    sent_at = clock.now + 1
    clock.now += 30  # the answer is read only after the freeze

    lease.renewed(sent_at, "member-1", 3)

    assert not lease.valid()


def test_an_assignment_after_the_lease_ended_reports_a_lapse_even_with_the_same_member() -> None:
    clock = Clock()
    lease = MembershipLease(SESSION_S, clock)
    lease.assigned("member-1")
    clock.now += 30

    assert lease.assigned("member-1") is True
    assert lease.valid()


def test_an_assignment_under_a_new_member_id_reports_a_lapse() -> None:
    lease = MembershipLease(SESSION_S, Clock())
    lease.assigned("member-1")

    assert lease.assigned("member-2") is True


def test_an_ordinary_rebalance_within_the_lease_keeps_the_state() -> None:
    clock = Clock()
    lease = MembershipLease(SESSION_S, clock)
    lease.assigned("member-1")
    clock.now += 3

    assert lease.assigned("member-1") is False


class Coordinator:
    """What the lease reads of aiokafka's group coordinator."""

    def __init__(self, answers: list[bool]) -> None:
        self.member_id = "member-1"
        self.generation = 3
        self._answers = answers

    async def _do_heartbeat(self) -> bool:
        return self._answers.pop(0)


async def test_watching_the_coordinator_renews_on_answered_heartbeats_only() -> None:
    clock = Clock()
    lease = MembershipLease(SESSION_S, clock)
    coordinator = Coordinator([False, True])
    lease.watch(coordinator)
    lease.assigned("member-1", 3)

    clock.now += 5
    assert await coordinator._do_heartbeat() is False
    clock.now += 3
    assert not lease.valid()  # the failed heartbeat renewed nothing

    lease.assigned("member-1", 3)
    clock.now += 5
    assert await asyncio.wait_for(coordinator._do_heartbeat(), 1) is True
    clock.now += 7
    assert lease.valid()  # renewed 5 s after the assignment
