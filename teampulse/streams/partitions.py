"""What one worker holds for one input partition of each stateful stage.

These classes only route records to the pure core (`teampulse.gauges`) and remember which
teams changed since the last export; all arithmetic lives in the core.
"""

from __future__ import annotations

from collections.abc import Callable
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field

import orjson

from teampulse.contract.event import Event
from teampulse.contract.tenant_scope import tenant_of
from teampulse.engine.state_store import NO_LOG_POSITION
from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.counts import TeamCounts
from teampulse.gauges.team_state import TeamState
from teampulse.gauges.threads import ThreadBook, ThreadFact, fact_from_wire
from teampulse.streams.team_counts_record import decode_team_counts

__all__ = [
    "KnownTenant",
    "RollupInputs",
    "TeamPartition",
    "ThreadPartition",
    "event_op",
    "every_tenant",
    "fact_op",
]

THREAD_EXPIRY_EVERY_S = 3600.0
# Whether a tenant is one of the tenants file (None: the implicit tenant, always known).
KnownTenant = Callable[[str | None], bool]


def every_tenant(_tenant: str | None) -> bool:
    return True


EVENT_OP = b'{"e":'
FACT_OP = b'{"f":'


def event_op(wire: bytes) -> bytes:
    return EVENT_OP + wire + b"}"


def fact_op(wire: bytes) -> bytes:
    return FACT_OP + wire + b"}"


@dataclass
class TeamPartition:
    config: GaugeConfig
    teams: dict[str, TeamState] = field(default_factory=dict)
    changed: set[str] = field(default_factory=set)

    def team(self, name: str) -> TeamState:
        state = self.teams.get(name)
        if state is None:
            state = self.teams[name] = TeamState(name, self.config)
        return state

    def apply_event(self, event: Event) -> str:
        assert event.team is not None, "the ingest stage resolves every event's team"
        outcome = self.team(event.team).apply_event(event)
        if outcome == "accepted" or outcome == "stale":
            self.changed.add(event.team)
        return outcome

    def apply_fact(self, fact: ThreadFact) -> None:
        self.team(fact.team).apply_fact(fact)
        self.changed.add(fact.team)

    def forget(self, people: set[str]) -> None:
        """Erasure: remove these people from every team of the partition."""
        for name, state in self.teams.items():
            if state.forget(people):
                self.changed.add(name)

    def drop_tenants(self, known: KnownTenant) -> int:
        """A deleted tenant's teams leave the partition (docs/tenancy.md); how many left."""
        gone = [name for name in self.teams if not known(tenant_of(name))]
        for name in gone:
            del self.teams[name]
            self.changed.discard(name)
        return len(gone)

    def replay(
        self,
        record: bytes,
        erased: AbstractSet[str] = frozenset(),
        known: KnownTenant = every_tenant,
    ) -> None:
        """Apply one state-log record; events of erased people are left out, which is what
        applying them and then the erasure would leave (the facts that correct their threads
        are in the log after the ones they correct). So are a deleted tenant's events and
        facts: its log records stay until the log's retention, and must not rebuild it."""
        for op in orjson.loads(record):
            if "e" in op:
                event = Event.from_wire(op["e"])
                if event.actor not in erased and known(event.tenant):
                    self.apply_event(event)
            else:
                fact = fact_from_wire(op["f"])
                if known(tenant_of(fact.team)):
                    self.apply_fact(fact)


@dataclass
class ThreadPartition:
    config: GaugeConfig
    book: ThreadBook = field(init=False)
    _latest: float = float("-inf")  # latest event time seen: the clock of thread expiry
    _next_expiry: float = float("-inf")

    def __post_init__(self) -> None:
        self.book = ThreadBook(self.config)

    def expire_threads(self, occurred_at: float) -> None:
        """Drop idle threads once per event-time hour (the book's expiry is a full scan)."""
        self._latest = max(self._latest, occurred_at)
        if self._latest >= self._next_expiry:
            self.book.expire(self._latest)
            self._next_expiry = self._latest + THREAD_EXPIRY_EVERY_S

    def forget(self, people: set[str]) -> list[ThreadFact]:
        """Erasure: remove these people's posts; the facts that correct the teams."""
        return self.book.forget(people)

    def drop_tenants(self, known: KnownTenant) -> int:
        """A deleted tenant's threads and posts leave the book at once (thread ids are
        scoped to their tenant); no fact is sent: its teams are gone too."""
        return self.book.drop_threads(lambda thread_id: known(tenant_of(thread_id)))

    def replay(self, record: bytes, known: KnownTenant = every_tenant) -> None:
        # Erased people's posts are replayed too and removed by the erasure applied after the
        # restore (HotStages), which also re-sends its facts: the book's versions then grow
        # past what the teams hold, as they did before the restart.
        # Facts re-emitted by a replay were already delivered before the log was written,
        # or their input record is delivered again (it was not committed) and re-emits them.
        # A deleted tenant's posts stay in the log until its retention and are left out.
        for wire in orjson.loads(record):
            event = Event.from_wire(wire)
            if not known(event.tenant):
                continue
            self.expire_threads(event.occurred_at)
            self.book.apply(event)


@dataclass
class RollupInputs:
    """Latest counts of every team, as published by the team owners (absolute values).

    Which record is the latest must not depend on the order records arrive in: two workers
    can publish the same team around a rebalance, and under a frozen clock (tests, replays)
    every record has the same `as_of`. A record carries `seq`, the offset of the last
    state-log record of the team's partition its state includes. Offsets only grow, and
    the owner after a rebalance or a restart replays the log its predecessor wrote before
    appending, so a state of a higher `seq` holds everything a lower one held. The order is
    (`seq`, `as_of`): the further state first, then the later instant (windows move with the
    clock). A full tie between two owners is the same state (the old owner's batches were
    all logged and acknowledged before it let the partition go); within one owner, records
    arrive in the order it wrote them.
    """

    counts: dict[str, TeamCounts] = field(default_factory=dict)
    version: dict[str, tuple[int, float]] = field(default_factory=dict)
    changed: bool = False

    def drop_tenants(self, known: KnownTenant) -> None:
        for team in [t for t in self.counts if not known(tenant_of(t))]:
            del self.counts[team]
            self.version.pop(team, None)
            self.changed = True

    def apply(self, record: bytes) -> None:
        team, version, counts = decode_team_counts(record)
        if version >= self.version.get(team, (NO_LOG_POSITION, float("-inf"))):
            self.counts[team] = counts
            self.version[team] = version
            self.changed = True
