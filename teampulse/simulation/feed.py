"""The simulated feed: a history of events with a working-week rhythm, and a live stream at
a target rate. Both yield canonical event dicts in `occurred_at` order.

A history is drawn hour by hour: each team's expected number of activities in an hour is
its members' activity times its archetype's rates, shaped by the hour of day and the day
of the week (UTC), and reduced for a `declining` team from the
organisation's decline day on: then only its persisting members (about 30 %) act. The count
is drawn from a Poisson distribution.
"""

from __future__ import annotations

import bisect
import itertools
import math
import random
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

from teampulse.simulation.behaviour import (
    ACTIVITIES,
    PROFILES,
    Activity,
    Behaviour,
)
from teampulse.simulation.organisation import Organisation, Person, Team

__all__ = ["DAY_S", "T", "generate_events", "live_events"]

T = TypeVar("T")
DAY_S = 86_400
HOUR_S = 3_600
# Relative activity by hour of day (UTC): office hours with a lunch dip, little at night.
HOUR_WEIGHTS = (
    0.02, 0.02, 0.02, 0.02, 0.02, 0.03, 0.1, 0.3,  # 00-07
    0.8, 1.3, 1.3, 1.2, 0.7, 1.1, 1.2, 1.2,  # 08-15
    1.0, 0.6, 0.25, 0.15, 0.1, 0.06, 0.04, 0.02,  # 16-23
)  # fmt: skip
_HOUR_SHARE = tuple(w / sum(HOUR_WEIGHTS) for w in HOUR_WEIGHTS)
WEEKEND_FACTOR = 0.05  # share of a working day's activity on Saturday and Sunday


@dataclass(frozen=True, slots=True)
class _TeamPlan:
    """What drawing a team's activities needs, precomputed once."""

    team: Team
    people: tuple[Person, ...]  # members who take part
    cumulative_activity: tuple[float, ...]
    daily_rate: float  # expected activities per working day for the whole team
    activity_weights: tuple[float, ...]  # per ACTIVITIES


def _plan(team: Team, people: list[Person], activity: list[float]) -> _TeamPlan:
    profile = PROFILES[team.archetype]
    weights = tuple(profile.rates[a] for a in ACTIVITIES)
    return _TeamPlan(
        team=team,
        people=tuple(people),
        cumulative_activity=tuple(itertools.accumulate(activity)),
        daily_rate=sum(activity) * sum(weights),
        activity_weights=weights,
    )


def _plans(org: Organisation) -> list[tuple[_TeamPlan, _TeamPlan]]:
    """Per team: how it behaves normally, and after its decline (the same unless the team is
    `declining`)."""
    plans = []
    for team in org.teams:
        people = [p for p in org.people if p.team == team.name and p.participates]
        normal = _plan(team, people, [p.activity for p in people])
        if team.archetype == "declining":
            persisting = [p for p in people if p.persists]
            declined = _plan(team, persisting, [p.activity for p in persisting])
        else:
            declined = normal
        plans.append((normal, declined))
    return plans


def generate_events(
    org: Organisation,
    start: float,
    end: float,
    seed: int,
    rate_scale: float = 1.0,
    never_practised: frozenset[str] = frozenset(),
) -> Iterator[dict[str, Any]]:
    """Events with `start <= occurred_at < end` (epoch seconds), in occurred_at order.

    `declining` teams decline `org.decline_day` days after `start`; people who finish the
    training of an initiative in `never_practised` never practise it."""
    rng = random.Random(f"{seed}:history")
    behaviour = Behaviour(org, rng, never_practised)
    plans = _plans(org)
    decline_at = start + org.decline_day * DAY_S
    hour = math.floor(start / HOUR_S) * HOUR_S
    while hour < end:
        low, high = max(hour, start), min(hour + HOUR_S, end)
        rhythm = _rhythm(hour) * (high - low) / HOUR_S * rate_scale
        low_ms, high_ms = math.ceil(low * 1000), math.ceil(high * 1000)
        drawn: list[tuple[int, int, Person, Activity]] = []
        for normal, declined in plans:
            plan = declined if low >= decline_at else normal
            if not plan.people:
                continue
            for _ in range(_poisson(rng, plan.daily_rate * rhythm)):
                person = _pick(rng, plan.people, plan.cumulative_activity)
                activity = rng.choices(ACTIVITIES, plan.activity_weights)[0]
                drawn.append((rng.randrange(low_ms, high_ms), len(drawn), person, activity))
        drawn.sort(key=lambda item: (item[0], item[1]))
        for at_ms, _, person, activity in drawn:
            yield behaviour.act(person, activity, at_ms)
        hour += HOUR_S


def live_events(
    org: Organisation,
    start: float,
    seconds: float,
    events_per_second: float,
    seed: int,
    history_start: float | None = None,
) -> Iterator[dict[str, Any]]:
    """round(events_per_second * seconds) events spread evenly over [start, start+seconds),
    in occurred_at order, drawn across teams in proportion to their daily activity.

    `seconds=math.inf` gives an endless feed at that rate: one generator keeps its threads
    and journeys, so live replies can answer posts from seconds or minutes before.
    `declining` teams count as declined unless `history_start` says their decline day is
    still ahead."""
    rng = random.Random(f"{seed}:live")
    behaviour = Behaviour(org, rng)
    declined = history_start is None or start >= history_start + org.decline_day * DAY_S
    plans = [pair[1] if declined else pair[0] for pair in _plans(org)]
    plans = [plan for plan in plans if plan.people]
    cumulative_teams = tuple(itertools.accumulate(plan.daily_rate for plan in plans))
    indices: Iterator[int]
    if math.isinf(seconds):  # an endless feed: the consumer paces itself by occurred_at
        slot, indices = 1.0 / events_per_second, itertools.count()
    else:
        count = round(events_per_second * seconds)
        slot, indices = (seconds / count if count else 0.0), iter(range(count))
    for index in indices:
        at_ms = int((start + (index + rng.random()) * slot) * 1000)
        plan = _pick(rng, plans, cumulative_teams)
        person = _pick(rng, plan.people, plan.cumulative_activity)
        activity = rng.choices(ACTIVITIES, plan.activity_weights)[0]
        yield behaviour.act(person, activity, at_ms)


def _rhythm(hour_start: float) -> float:
    """Share of a working day's activity that falls in this hour (UTC)."""
    day = math.floor(hour_start / DAY_S)
    weekday = (day + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    hour_of_day = int((hour_start - day * DAY_S) // HOUR_S)
    return _HOUR_SHARE[hour_of_day] * (WEEKEND_FACTOR if weekday >= 5 else 1.0)


def _pick(rng: random.Random, items: Sequence[T], cumulative: tuple[float, ...]) -> T:
    index = bisect.bisect(cumulative, rng.random() * cumulative[-1])
    return items[min(index, len(items) - 1)]


def _poisson(rng: random.Random, mean: float) -> int:
    """A Poisson draw; a normal approximation for large means keeps it fast."""
    if mean <= 0:
        return 0
    if mean > 50:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, product, count = math.exp(-mean), rng.random(), 0
    while product > limit:
        product *= rng.random()
        count += 1
    return count
