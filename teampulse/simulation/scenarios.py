"""Scripted scenarios: a simulated organisation whose teams are all healthy, with one scripted
change, and the alerts that change must (and must not) raise.

    scenario = SCENARIOS["team-drops"]
    org = scenario_organisation(scenario, seed=7)
    events = scenario_events(scenario, org, start, seed=7)   # days of history, in order
    problems = scenario.check(firing)                        # [] when the alerts are right

Every team but the scripted one has the same archetype (`engaged` by default: most members
take part and most of them get to practise each initiative), so any alert can be put down to
the script. Days are counted from the scenario's start. Pure and seeded, like the rest of the
simulation: no clock reads, the same arguments give the same events.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

from teampulse.simulation.feed import generate_events
from teampulse.simulation.organisation import (
    MIN_TEAM_SIZE,
    Archetype,
    Organisation,
    build_organisation,
    with_archetypes,
)

__all__ = [
    "SCENARIOS",
    "AlertExpectation",
    "Scenario",
    "SourceSilence",
    "TeamDrop",
    "event_time",
    "scenario_events",
    "scenario_organisation",
]

DAY_S = 86_400
# What no scenario may raise: nothing in them breaks the pipeline itself.
PIPELINE_FAULT_ALERTS = ("DeadLetterRateHigh", "WorkerDown", "RedisWritesFailing")
TEAM_ALERTS = ("TeamEngagementDropped", "TeamParticipationLow", "AdoptionStalled")


@dataclass(frozen=True, slots=True)
class AlertExpectation:
    """An alert by name, carrying at least these labels (others are free)."""

    alert: str
    labels: Mapping[str, str] = field(default_factory=dict)

    def matches(self, alert: Mapping[str, str]) -> bool:
        """`alert`: the labels of one firing alert, `alertname` among them."""
        return alert.get("alertname") == self.alert and all(
            alert.get(name) == value for name, value in self.labels.items()
        )

    def __str__(self) -> str:
        labels = ", ".join(f'{name}="{value}"' for name, value in self.labels.items())
        return f"{self.alert}{{{labels}}}"


@dataclass(frozen=True, slots=True)
class TeamDrop:
    """From `day` on, only about three in ten members of `team` still show up."""

    team: str
    day: float


@dataclass(frozen=True, slots=True)
class SourceSilence:
    """From `day` on, nothing arrives from `source`."""

    source: str
    day: float


@dataclass(frozen=True, slots=True)
class Scenario:
    name: str
    summary: str
    history_days: float  # before 'now': sent at once, so the baselines exist
    live_days: float  # after 'now': sent as the (possibly compressed) clock reaches them
    fires: tuple[AlertExpectation, ...]  # each must fire
    # Must not fire, except where `fires` or `may_fire` says so.
    silent: tuple[str, ...]
    may_fire: tuple[AlertExpectation, ...] = ()  # a consequence of the script, not required
    archetype: Archetype = "engaged"
    team_drop: TeamDrop | None = None
    never_practised: frozenset[str] = frozenset()  # initiatives trained but never practised
    source_silence: SourceSilence | None = None

    @property
    def days(self) -> float:
        return self.history_days + self.live_days

    def check(self, firing: Iterable[Mapping[str, str]]) -> list[str]:
        """What is wrong with these firing alerts (label sets with `alertname`); [] if none."""
        firing = list(firing)
        problems = [
            f"{expected} did not fire"
            for expected in self.fires
            if not any(expected.matches(alert) for alert in firing)
        ]
        allowed = (*self.fires, *self.may_fire)
        for alert in firing:
            if alert.get("alertname") in self.silent and not any(
                expected.matches(alert) for expected in allowed
            ):
                labels = ", ".join(f'{k}="{v}"' for k, v in sorted(alert.items()))
                problems.append(f"unexpected alert {{{labels}}}")
        return problems


SCENARIOS: dict[str, Scenario] = {
    scenario.name: scenario
    for scenario in (
        Scenario(
            name="steady",
            summary="Every team carries on as it was: no team or source alert at all.",
            history_days=35,
            live_days=7,
            fires=(),
            silent=(*TEAM_ALERTS, "SourceSilent", *PIPELINE_FAULT_ALERTS),
        ),
        Scenario(
            name="team-drops",
            summary="From day 36, seven in ten members of sales-nova stop taking part.",
            history_days=35,
            live_days=7,
            team_drop=TeamDrop(team="sales-nova", day=36),
            fires=(AlertExpectation("TeamEngagementDropped", {"team": "sales-nova"}),),
            # Its participation falls below half once the 7-day window has forgotten the
            # members who stopped: within the week, but not required.
            may_fire=(AlertExpectation("TeamParticipationLow", {"team": "sales-nova"}),),
            silent=(*TEAM_ALERTS, "SourceSilent", *PIPELINE_FAULT_ALERTS),
        ),
        Scenario(
            name="adoption-stalls",
            summary="People complete the data-literacy training but nobody ever practises it.",
            history_days=35,
            live_days=7,
            never_practised=frozenset({"data-literacy"}),
            fires=(AlertExpectation("AdoptionStalled", {"initiative": "data-literacy"}),),
            silent=(*TEAM_ALERTS, "SourceSilent", *PIPELINE_FAULT_ALERTS),
        ),
        Scenario(
            name="source-silent",
            summary="From day 36, the lxp platform sends nothing.",
            history_days=35,
            live_days=7,
            source_silence=SourceSilence(source="lxp", day=36),
            fires=(AlertExpectation("SourceSilent", {"source": "lxp"}),),
            # The teams lose real evidence with the source; whether their alerts should
            # stay quiet then is not settled, so they are not part of this scenario.
            silent=("SourceSilent", *PIPELINE_FAULT_ALERTS),
        ),
    )
}


def scenario_organisation(
    scenario: Scenario, seed: int, people: int = 240, teams: int = 24
) -> Organisation:
    """The seeded organisation with every team of the scenario's archetype, and the
    dropping team `declining` from its drop day."""
    org = build_organisation(seed, people=people, teams=teams)
    archetypes: dict[str, Archetype] = {team.name: scenario.archetype for team in org.teams}
    decline_day = None
    if scenario.team_drop is not None:
        name = scenario.team_drop.team
        if name not in archetypes:
            raise ValueError(f"scenario {scenario.name!r}: no team {name!r} in the organisation")
        size = len(org.team(name).members)
        if size < MIN_TEAM_SIZE:
            raise ValueError(
                f"scenario {scenario.name!r}: team {name!r} has {size} members with seed "
                f"{seed}, too few to publish gauges; choose another seed"
            )
        archetypes[name] = "declining"
        decline_day = scenario.team_drop.day
    return with_archetypes(org, archetypes, decline_day=decline_day)


def event_time(event: Mapping[str, Any]) -> float:
    """An event's `occurred_at` as epoch seconds."""
    return dt.datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00")).timestamp()


def scenario_events(
    scenario: Scenario, org: Organisation, start: float, seed: int
) -> Iterator[dict[str, Any]]:
    """The scenario's canonical events over [start, start + days), in occurred_at order.

    `org` comes from scenario_organisation (it carries the drop)."""
    events = generate_events(
        org,
        start,
        start + scenario.days * DAY_S,
        seed,
        never_practised=scenario.never_practised,
    )
    silence = scenario.source_silence
    if silence is None:
        yield from events
        return
    silent_from = start + silence.day * DAY_S
    for event in events:
        if event["source"] != silence.source or event_time(event) < silent_from:
            yield event
