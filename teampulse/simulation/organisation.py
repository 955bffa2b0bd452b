"""A simulated organisation: people in teams, teams in departments in divisions.

Each team gets an archetype that drives how its members behave in the simulated feed
(`teampulse.simulation.feed`), so the demo and the tests can point at a team and say what
its gauges should look like: an `engaged` team learns, posts and answers other teams; a
`quiet` team barely shows up; a `silo` team talks only to itself; a `declining` team is
engaged until `decline_day`, then its activity falls by about 70 % (seven in ten members
stop, the others carry on); a `steady` team is average. A few teams are smaller than the
minimum group size, to exercise privacy suppression, and a few people are inactive, to
exercise team sizes.

Pure and seeded: the same arguments give the same organisation.
"""

from __future__ import annotations

import random
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import Any, Literal

__all__ = [
    "ARCHETYPES",
    "MIN_TEAM_SIZE",
    "Archetype",
    "Organisation",
    "Person",
    "Team",
    "build_organisation",
    "with_archetypes",
]

Archetype = Literal["engaged", "quiet", "silo", "declining", "steady"]
ARCHETYPES: tuple[Archetype, ...] = ("engaged", "quiet", "silo", "declining", "steady")

# How often each archetype is drawn once every archetype has one team.
ARCHETYPE_SHARES: dict[Archetype, float] = {
    "steady": 0.35,
    "engaged": 0.20,
    "quiet": 0.15,
    "silo": 0.15,
    "declining": 0.15,
}

SMALL_TEAM_SIZES = (3, 4)  # below the default minimum group size of 5
SMALL_TEAMS_PER_TEAM = 1 / 8  # 3 small teams in 24
INACTIVE_SHARE = 0.02  # people on leave or gone, still in the roster
PERSISTING_SHARE = 0.3  # members of a declining team who still show up after its decline
MIN_TEAM_SIZE = 5  # every team that is not deliberately small has at least this many
DEFAULT_DECLINE_DAY = 21.0

DEPARTMENT_NAMES = (
    "engineering",
    "sales",
    "customer-care",
    "finance",
    "product",
    "people",
    "marketing",
    "legal",
)
DIVISION_NAMES = ("product-and-technology", "commercial", "corporate", "operations")
TEAM_WORDS = (
    "atlas", "borealis", "comet", "delta", "ember", "fjord", "granite", "harbor",
    "iris", "juniper", "kestrel", "lumen", "meridian", "nova", "orbit", "pioneer",
    "quartz", "river", "summit", "tundra", "umbra", "vertex", "willow", "zephyr",
)  # fmt: skip
FIRST_NAMES = (
    "ana", "ben", "chloe", "daniel", "elif", "farid", "grace", "hugo", "ines", "jonas",
    "kofi", "lena", "mateo", "nadia", "oscar", "priya", "quinn", "rosa", "sven", "tariq",
    "ursula", "victor", "wen", "yara", "zoe",
)  # fmt: skip
LAST_NAMES = (
    "almeida", "berg", "costa", "dubois", "eriksen", "fischer", "garcia", "hansen",
    "ivanova", "jensen", "kowalski", "larsen", "moreau", "nakamura", "okafor", "petrov",
    "rossi", "schmidt", "tanaka", "weber",
)  # fmt: skip


@dataclass(frozen=True, slots=True)
class Person:
    person: str  # raw id as a producer sends it: an e-mail address
    team: str
    active: bool
    activity: float  # relative activity within the team (some people contribute more)
    participates: bool  # False: on the roster but never shows up in the feed
    persists: bool  # in a `declining` team: still shows up after the decline day


@dataclass(frozen=True, slots=True)
class Team:
    name: str
    department: str
    division: str
    archetype: Archetype
    members: tuple[str, ...]  # person ids, active or not


@dataclass(frozen=True, slots=True)
class Organisation:
    seed: int
    people: tuple[Person, ...]
    teams: tuple[Team, ...]
    decline_day: float  # days after the start of a history when `declining` teams decline

    def roster_records(self) -> list[dict[str, Any]]:
        """One roster record per person, in the roster topic's JSON format."""
        teams = {team.name: team for team in self.teams}
        return [
            {
                "person": person.person,
                "team": person.team,
                "department": teams[person.team].department,
                "division": teams[person.team].division,
                "active": person.active,
            }
            for person in self.people
        ]

    def team(self, name: str) -> Team:
        for team in self.teams:
            if team.name == name:
                return team
        raise KeyError(name)

    def teams_of(self, archetype: Archetype) -> list[Team]:
        return [team for team in self.teams if team.archetype == archetype]

    def active_size(self, team: str) -> int:
        return sum(1 for p in self.people if p.team == team and p.active)


def build_organisation(
    seed: int,
    people: int = 240,
    teams: int = 24,
    departments: int = 6,
    divisions: int = 2,
    decline_day: float = DEFAULT_DECLINE_DAY,
) -> Organisation:
    """A seeded organisation; every archetype has at least one team of 5 or more people
    when there are at least 5 full-size teams."""
    if not 1 <= divisions <= departments <= teams:
        raise ValueError(
            f"an organisation of {divisions} divisions and {departments} departments needs at "
            f"least {departments} teams, not {teams}: raise --teams"
        )
    rng = random.Random(f"{seed}:organisation")
    small_count = int(teams * SMALL_TEAMS_PER_TEAM) if teams >= 8 else 0
    small_sizes = [rng.choice(SMALL_TEAM_SIZES) for _ in range(small_count)]
    full_count = teams - small_count
    if people < sum(small_sizes) + MIN_TEAM_SIZE * full_count:
        raise ValueError(
            f"{people} people are too few for {teams} teams: give at least "
            f"{sum(small_sizes) + MIN_TEAM_SIZE * full_count} people, or fewer teams"
        )

    sizes = _team_sizes(rng, people - sum(small_sizes), full_count) + small_sizes
    archetypes = _archetypes(rng, full_count) + [rng.choice(ARCHETYPES) for _ in range(small_count)]
    # Shuffle teams so that the small ones are not all in the last department.
    order = list(range(teams))
    rng.shuffle(order)

    department_names = _names(DEPARTMENT_NAMES, departments)
    division_names = _names(DIVISION_NAMES, divisions)
    team_words = _names(TEAM_WORDS, teams)
    people_out: list[Person] = []
    teams_out: list[Team] = []
    next_person = 1
    for position, index in enumerate(order):
        department = department_names[position % departments]
        division = division_names[(position % departments) % divisions]
        name = f"{department}-{team_words[position]}"
        archetype = archetypes[index]
        members = []
        size = sizes[index]
        # Exactly this many persist (a draw per person would make the decline a lottery).
        persisting = set(rng.sample(range(size), max(1, round(size * PERSISTING_SHARE))))
        for position_in_team in range(size):
            person_id = (
                f"{rng.choice(FIRST_NAMES)}.{rng.choice(LAST_NAMES)}.{next_person}@example.com"
            )
            next_person += 1
            members.append(person_id)
            people_out.append(
                Person(
                    person=person_id,
                    team=name,
                    active=True,
                    activity=rng.lognormvariate(0.0, 0.6),
                    participates=rng.random() < _PARTICIPATING_SHARE[archetype],
                    persists=position_in_team in persisting,
                )
            )
        teams_out.append(Team(name, department, division, archetype, tuple(members)))

    people_out = _mark_inactive(rng, people_out, teams_out)
    return Organisation(seed, tuple(people_out), tuple(teams_out), decline_day)


def with_archetypes(
    org: Organisation, archetypes: Mapping[str, Archetype], decline_day: float | None = None
) -> Organisation:
    """The same organisation with the archetypes of the teams in `archetypes` replaced.

    Who takes part at all depends on the archetype, so it is drawn again for those teams
    (seeded by the organisation's seed); everything else stays as it was."""
    rng = random.Random(f"{org.seed}:archetypes")
    teams = tuple(replace(t, archetype=archetypes.get(t.name, t.archetype)) for t in org.teams)
    people = tuple(
        replace(
            p, participates=p.active and rng.random() < _PARTICIPATING_SHARE[archetypes[p.team]]
        )
        if p.team in archetypes
        else p
        for p in org.people
    )
    return replace(
        org,
        teams=teams,
        people=people,
        decline_day=org.decline_day if decline_day is None else decline_day,
    )


# Share of a team's members who take part at all; quiet teams have many who never show up.
_PARTICIPATING_SHARE: dict[Archetype, float] = {
    "engaged": 0.97,
    "steady": 0.85,
    "quiet": 0.35,
    "silo": 0.9,
    "declining": 0.95,
}


def _team_sizes(rng: random.Random, people: int, teams: int) -> list[int]:
    """Split `people` over `teams`, each at least MIN_TEAM_SIZE, unevenly."""
    sizes = [MIN_TEAM_SIZE] * teams
    weights = [rng.uniform(0.5, 1.5) for _ in range(teams)]
    for _ in range(people - MIN_TEAM_SIZE * teams):
        sizes[rng.choices(range(teams), weights)[0]] += 1
    return sizes


def _archetypes(rng: random.Random, teams: int) -> list[Archetype]:
    chosen: list[Archetype] = list(ARCHETYPES[:teams])
    shares = list(ARCHETYPE_SHARES.values())
    chosen += rng.choices(list(ARCHETYPE_SHARES), shares, k=teams - len(chosen))
    rng.shuffle(chosen)
    return chosen


def _names(pool: tuple[str, ...], count: int) -> list[str]:
    """The first `count` names of a pool, numbered once the pool runs out."""
    return [
        pool[i] if i < len(pool) else f"{pool[i % len(pool)]}-{i // len(pool) + 1}"
        for i in range(count)
    ]


def _mark_inactive(rng: random.Random, people: list[Person], teams: list[Team]) -> list[Person]:
    """Make a few people inactive, never taking a full-size team below MIN_TEAM_SIZE."""
    active_size = {team.name: len(team.members) for team in teams}
    wanted = max(1, round(len(people) * INACTIVE_SHARE))
    candidates = list(range(len(people)))
    rng.shuffle(candidates)
    out = list(people)
    for index in candidates:
        if wanted == 0:
            break
        person = out[index]
        if active_size[person.team] > MIN_TEAM_SIZE:
            active_size[person.team] -= 1
            out[index] = Person(
                person.person, person.team, False, person.activity, False, person.persists
            )
            wanted -= 1
    return out
