"""After an erasure the streaming state equals the reference model without that person.

The histories are those of the streaming-equals-reference property test (duplicates, late
and out-of-order events, moving roots, replies before parents, facts delivered late, twice
and stale). One person is erased at a random point of the stream, as the stages do it: the
roster forgets them, every team state forgets them, every thread book forgets their posts
and its correcting facts join the others in flight; their later events and roster records
are dropped. The reference is computed over what the stream accepted, without that person.
"""

from __future__ import annotations

import orjson
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from teampulse.contract.event import Event
from teampulse.contract.roster import RosterEntry
from teampulse.enrichment.roster import Roster
from teampulse.gauges.counts import TeamCounts
from teampulse.gauges.snapshot import org_snapshot
from teampulse.gauges.team_state import TeamState
from teampulse.gauges.threads import ThreadBook, ThreadFact, fact_from_wire
from teampulse.reference import admit, reference_counts
from tests.unit.gauges.test_streaming_equals_reference import CONFIG, History, histories, resolve


def stream_with_erasure(
    history: History, person: str, erase_at: int
) -> tuple[dict[str, TeamCounts], list[Event], Roster]:
    rng = history.rng
    roster = Roster(history.initial_roster)
    states: dict[str, TeamState] = {}
    books = [ThreadBook(CONFIG), ThreadBook(CONFIG)]
    pending: list[ThreadFact] = []
    emitted: list[ThreadFact] = []
    ingested: list[Event] = []
    erased: set[str] = set()

    def state(team: str) -> TeamState:
        return states.setdefault(team, TeamState(team, CONFIG))

    def deliver(count: int) -> None:
        for _ in range(min(count, len(pending))):
            fact = pending.pop(rng.randrange(len(pending)))
            state(fact.team).apply_fact(fact_from_wire(orjson.loads(orjson.dumps(fact.to_wire()))))
            if rng.random() < 0.1:
                pending.append(fact)

    def erase() -> None:
        erased.add(person)
        roster.remove(person)
        for team_state in states.values():
            team_state.forget(erased)
        for book in books:
            facts = book.forget(erased)
            pending.extend(facts)
            emitted.extend(facts)

    for position, item in enumerate(history.arrivals):
        if position == erase_at:
            erase()
        if isinstance(item, RosterEntry):
            if item.person not in erased:
                roster.apply(item)
            continue
        if item.actor in erased:
            continue
        event = resolve(item, roster)
        ingested.append(event)
        if state(str(event.team)).apply_event(event) == "accepted":
            facts = books[hash(event.thread or "") % 2].apply(event)
            pending.extend(facts)
            emitted.extend(facts)
        deliver(rng.randrange(3))
        if rng.random() < 0.4:
            team = rng.choice(sorted(states))
            states[team].counts(
                event.occurred_at + rng.uniform(-1, 2) * 3600, roster.team_size(team)
            )
    if erase_at >= len(history.arrivals):
        erase()
    while pending:
        deliver(len(pending))
    for fact in rng.sample(emitted, k=min(len(emitted), 5)):
        state(fact.team).apply_fact(fact)
    counts = {team: s.counts(history.as_of, roster.team_size(team)) for team, s in states.items()}
    return counts, ingested, roster


def shared_post_ids(events: list[Event], person: str) -> bool:
    authors: dict[tuple[str | None, str], set[str]] = {}
    for e in events:
        if e.type in ("discussion.posted", "discussion.replied"):
            authors.setdefault((e.thread, e.post or e.id), set()).add(e.actor)
    return any(person in people and len(people) > 1 for people in authors.values())


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.integers(0, 9), st.floats(0, 1.2))
def test_after_an_erasure_the_stream_equals_the_reference_without_that_person(
    history: History, person_number: int, when: float
) -> None:
    person = f"p{person_number}"
    erase_at = int(when * len(history.arrivals))
    streamed, ingested, roster = stream_with_erasure(history, person, erase_at)
    # Known limit (docs/privacy.md): a post id the person used first and someone else used
    # again later; the book kept the first occurrence only, so the other's stays ignored.
    assume(not shared_post_ids(ingested, person))

    # What the stream accepted (the person's events before the erasure moved watermarks as
    # they did in the stream), then the reference over that without the person.
    accepted = admit(ingested, Roster(roster.entries()), CONFIG).accepted
    expected = reference_counts(accepted, roster, CONFIG, history.as_of, erased={person})

    # The person's teams keep a (then empty) state; the reference lists only teams with data.
    for team in set(streamed) - set(expected):
        assert streamed[team] == TeamCounts.empty(CONFIG, roster.team_size(team)), team
    for team, counts in expected.items():
        for label, window in counts.windows.items():
            assert streamed[team].windows[label] == window, (team, label)
        assert streamed[team] == counts, team
    kept = {team: streamed[team] for team in expected}
    assert org_snapshot(kept, roster, CONFIG, history.as_of) == org_snapshot(
        expected, roster, CONFIG, history.as_of
    )
