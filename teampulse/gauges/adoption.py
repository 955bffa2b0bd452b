"""Transformation adoption: each person's highest ADKAR stage per initiative, per team.

Evidence is configured per initiative and stage (teampulse/config/initiatives.yaml). A person's
stage is the highest stage they have any evidence for; reinforcement is also reached by
practising (ability evidence) in `practice_weeks` distinct ISO weeks, or by answering a peer
(`discussion.replied`) in one of the initiative's channels. Adoption is cumulative, not
windowed; per person it keeps a stage bitmask and at most `practice_weeks` week numbers.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from teampulse.contract.event import REPLIED, Event
from teampulse.gauges.config import EVIDENCE_STAGES, EvidenceMatcher, InitiativeConfig
from teampulse.gauges.eventtime import week_of

__all__ = [
    "ABILITY",
    "REINFORCEMENT",
    "AdoptionBook",
    "PersonProgress",
    "evidence_ranks",
    "matchers_by_type",
    "matches",
    "names_initiative",
]

# Ranks: awareness 1, desire 2, knowledge 3, ability 4, reinforcement 5.
RANK = {stage: rank for rank, stage in enumerate(EVIDENCE_STAGES, start=1)}
ABILITY = RANK["ability"]
REINFORCEMENT = RANK["reinforcement"]


def names_initiative(event: Event, initiative_id: str) -> bool:
    return event.initiative == initiative_id or initiative_id in event.tags


def matches(matcher: EvidenceMatcher, event: Event, named: bool) -> bool:
    """Whether one event is the evidence this matcher describes."""
    if event.type not in matcher.type:
        return False
    if matcher.success is not None and event.success is not matcher.success:
        return False
    if matcher.content and event.content not in matcher.content:
        return False
    if matcher.content_prefix and not (event.content or "").startswith(matcher.content_prefix):
        return False
    if matcher.practices and event.practice not in matcher.practices:
        return False
    if matcher.channels and event.channel not in matcher.channels:
        return False
    return named or matcher.explicit


MatchersByType = dict[str, tuple[tuple[int, EvidenceMatcher], ...]]


def matchers_by_type(initiative: InitiativeConfig) -> MatchersByType:
    """An initiative's matchers as (rank, matcher), indexed by the event type they accept."""
    index: dict[str, list[tuple[int, EvidenceMatcher]]] = {}
    for stage, matchers in initiative.stages.items():
        for matcher in matchers:
            for event_type in matcher.type:
                index.setdefault(event_type, []).append((RANK[stage], matcher))
    return {event_type: tuple(pairs) for event_type, pairs in index.items()}


def evidence_ranks(
    event: Event, initiative: InitiativeConfig, index: MatchersByType | None = None
) -> set[int]:
    """The stages (as ranks) one event is evidence of, for one initiative; no week logic.

    `index` is `matchers_by_type(initiative)`, passed in by callers that match many events.
    """
    if index is None:
        index = matchers_by_type(initiative)
    ranks: set[int] = set()
    candidates = index.get(event.type)
    if candidates:
        named = names_initiative(event, initiative.id)
        for rank, matcher in candidates:
            if rank not in ranks and matches(matcher, event, named):
                ranks.add(rank)
    if event.type == REPLIED and event.channel in initiative.reinforcement.reply_channels:
        ranks.add(REINFORCEMENT)
    return ranks


@dataclass(slots=True)
class PersonProgress:
    stages: int = 0  # bit (rank - 1) set when the person has evidence of that stage
    practice_weeks: set[int] = field(default_factory=set)  # at most practice_weeks entries

    @property
    def highest(self) -> int:
        return self.stages.bit_length()


class AdoptionBook:
    """Per initiative, the progress of each person seen in one team, and the stage counts."""

    def __init__(self, initiatives: tuple[InitiativeConfig, ...]) -> None:
        self._initiatives = initiatives
        self._indexes = [matchers_by_type(initiative) for initiative in initiatives]
        self._people: list[dict[str, PersonProgress]] = [{} for _ in initiatives]
        # members whose highest stage is rank r, at index r - 1
        self._stage_counts: list[list[int]] = [[0] * len(RANK) for _ in initiatives]
        self._types = {t for index in self._indexes for t in index}
        if any(i.reinforcement.reply_channels for i in initiatives):
            self._types.add(REPLIED)

    @property
    def initiatives(self) -> tuple[InitiativeConfig, ...]:
        return self._initiatives

    def following(self, initiatives: tuple[InitiativeConfig, ...]) -> AdoptionBook:
        """This book for another list of initiatives (a tenant's changed in the tenants
        file): an initiative configured as before keeps its people's progress; a new or
        changed one starts from the events that arrive from now on (the state keeps no event
        to read again); one no longer listed is dropped."""
        book = AdoptionBook(initiatives)
        before = {initiative.id: index for index, initiative in enumerate(self._initiatives)}
        for index, initiative in enumerate(initiatives):
            old = before.get(initiative.id)
            if old is not None and self._initiatives[old] == initiative:
                book._people[index] = self._people[old]
                book._stage_counts[index] = self._stage_counts[old]
        return book

    def apply(self, event: Event) -> bool:
        """Take one accepted event into account; True when some stage count changed."""
        if event.type not in self._types:
            return False
        changed = False
        kind = event.type
        for index, initiative in enumerate(self._initiatives):
            matchers = self._indexes[index]
            if kind not in matchers and kind != REPLIED:
                continue  # the common case: nothing of this initiative accepts this type
            ranks = evidence_ranks(event, initiative, matchers)
            if ranks and self._advance(index, initiative, event, ranks):
                changed = True
        return changed

    def _advance(
        self, index: int, initiative: InitiativeConfig, event: Event, ranks: set[int]
    ) -> bool:
        people = self._people[index]
        progress = people.get(event.actor)
        if progress is None:
            progress = people[event.actor] = PersonProgress()
        before = progress.highest
        for rank in ranks:
            progress.stages |= 1 << (rank - 1)
        reinforced = progress.stages >> (REINFORCEMENT - 1) & 1
        if ABILITY in ranks and not reinforced:
            progress.practice_weeks.add(week_of(event.occurred_at))
            if len(progress.practice_weeks) >= initiative.reinforcement.practice_weeks:
                progress.stages |= 1 << (REINFORCEMENT - 1)
                progress.practice_weeks.clear()  # reached: the weeks are no longer needed
        elif reinforced:
            progress.practice_weeks.clear()
        after = progress.highest
        if after == before:
            return False
        counts = self._stage_counts[index]
        if before:
            counts[before - 1] -= 1
        counts[after - 1] += 1
        return True

    def forget(self, people: set[str]) -> bool:
        """Erasure: drop these people's progress; True when some stage count changed."""
        changed = False
        for index, progress_of in enumerate(self._people):
            counts = self._stage_counts[index]
            for person in people:
                progress = progress_of.pop(person, None)
                if progress is not None and progress.highest:
                    counts[progress.highest - 1] -= 1
                    changed = True
        return changed

    @property
    def progress_records(self) -> int:
        """People with progress kept, summed over initiatives: what this book holds."""
        return sum(len(people) for people in self._people)

    def stage_counts(self) -> dict[str, tuple[int, ...]]:
        """initiative -> members whose highest stage is awareness .. reinforcement."""
        return {
            initiative.id: tuple(self._stage_counts[index])
            for index, initiative in enumerate(self._initiatives)
        }
