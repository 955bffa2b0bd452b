"""Fencing a worker whose group membership may have lapsed: a lease on the right to write.

The group coordinator gives a member's partitions to others once it has heard no heartbeat
for the session timeout. A worker frozen past that (SIGSTOP, a stalled VM, a long pause)
does not know it when it wakes: its heartbeat and its batch loop resume together, and the
batch loop can apply and send a batch, or the Redis writer flush what it queued before the
freeze, before the heartbeat's answer says the member is gone.

So every write is allowed by a lease instead: it lasts `LEASE_SHARE` of the session timeout
from the moment the latest successful heartbeat (or the assignment) was *sent*, which is
before the coordinator received it, so the lease ends before the coordinator can have given
the partitions away. A worker whose lease ended writes nothing (state log, snapshots, Redis,
/metrics) until the group confirms it: a heartbeat of the current member and generation
answered without error (the broker was away, or the pause was shorter than the session;
nobody got the partitions, since a reassignment moves the generation on) lets it go on with
its state; otherwise the next assignment reports a lapse (the lease ended, or the member id
changed, as aiokafka resets it when the coordinator no longer knows it), and all partition
state is dropped before anything is applied again, even when the same partitions come back:
whatever the other owner applied meanwhile is only in the log.

Why a lease and not Kafka transactions or epochs carried by Redis writes: aiokafka's
transactional offset commits carry no group generation (no KIP-447), so only one fixed
transactional id per input partition would fence, at the price of a producer per partition
and aiokafka's open transaction issues; a Redis epoch checked by a script at every write
guards Redis only, not the state log or /metrics. The lease covers every output with one
check, on any client, at the cost of trusting that the process's monotonic clock advances
while it is frozen (it does: CLOCK_MONOTONIC counts a stopped process's time).
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable
from typing import Any

__all__ = ["LEASE_SHARE", "MembershipLease"]

# The lease ends this share of the session timeout after the heartbeat that renewed it was
# sent: a margin for the heartbeat's own travel and the next heartbeat's interval.
LEASE_SHARE = 0.8
NO_MEMBER = ""
NO_GENERATION = -1


class MembershipLease:
    def __init__(
        self, session_timeout_s: float, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self._length = session_timeout_s * LEASE_SHARE
        self._clock = clock
        self._renewed_at: float | None = None  # None: no membership yet
        self._member = NO_MEMBER
        self._generation = NO_GENERATION
        self._lapsed = False  # the lease ended, and the group has not confirmed us since

    def valid(self) -> bool:
        """May this worker write what its partitions' state implies now?"""
        if self._renewed_at is None:
            return False
        if self._clock() - self._renewed_at >= self._length:
            self._lapsed = True
            return False
        return True

    def fenced(self) -> bool:
        """Had a membership whose lease ended, and no new assignment yet."""
        return self._renewed_at is not None and not self.valid()

    def renewed(self, sent_at: float, member: str, generation: int) -> None:
        """A heartbeat sent at `sent_at` by `member` in `generation` was answered without
        error. If that is the current assignment's member and generation, the coordinator
        still counted this worker the owner of its partitions when it received it (a
        reassignment makes the generation move on): the lease runs again from `sent_at`,
        also after it had ended (an outage of the broker, a pause shorter than the session),
        and nothing needs rebuilding."""
        if self._renewed_at is None or (member, generation) != (self._member, self._generation):
            return
        if sent_at > self._renewed_at:
            self._renewed_at = sent_at
            if self._clock() - sent_at < self._length:
                self._lapsed = False

    def assigned(
        self, member: str, generation: int = NO_GENERATION, at: float | None = None
    ) -> bool:
        """A new assignment (the group's answer, so the member is in it as of `at`).
        True when the membership lapsed since the previous one: every partition state this
        worker still holds must be dropped and rebuilt."""
        lapsed = self._lapsed or (self._member != NO_MEMBER and member != self._member)
        if self._renewed_at is not None and not lapsed:
            self.valid()  # an expiry not yet noticed counts too
            lapsed = self._lapsed
        self._member = member
        self._generation = generation
        self._renewed_at = self._clock() if at is None else at
        self._lapsed = False
        return lapsed

    def watch(self, coordinator: Any) -> None:  # noqa: ANN401 - aiokafka's private coordinator
        """Renews the lease on every successful heartbeat of aiokafka's group coordinator
        (it exposes no hook: its heartbeat routine keeps the time to itself)."""
        heartbeat: Callable[[], Awaitable[bool]] = coordinator._do_heartbeat

        async def timed_heartbeat() -> bool:
            sent_at = self._clock()
            member, generation = coordinator.member_id, coordinator.generation
            answered = await heartbeat()
            # aiokafka resets the member id and generation on an error that ends the
            # membership; they are compared again after the answer.
            if answered and (coordinator.member_id, coordinator.generation) == (member, generation):
                self.renewed(sent_at, member, generation)
            return answered

        coordinator._do_heartbeat = timed_heartbeat
