"""The organisation `teampulse demo` shows: one that makes the point in its first minute.

* Its small teams (below the minimum group size) sit together in one department, so that
  they add up to a group big enough to publish: every department, division and the
  organisation itself publish under complementary suppression, while the small teams
  themselves still publish nothing.
* Its largest team drops: from `DROP_DAYS_AGO` days before the live feed starts, only
  STILL_ACTIVE of its members still show up (the `declining` archetype). Large, so that the
  drop is far outside its normal range and its alert fires on the first evaluations; recent,
  so that the live feed starts inside the drop; deep, so that it stays beyond the alert's
  threshold however long the demo runs. Every other team keeps its own character (engaged,
  steady, quiet, silo); none declines.
"""

from __future__ import annotations

from dataclasses import replace

from teampulse.simulation.organisation import (
    MIN_TEAM_SIZE,
    Archetype,
    Organisation,
    build_organisation,
    with_archetypes,
)

__all__ = ["DROP_DAYS_AGO", "demo_organisation"]

DROP_DAYS_AGO = 1.5
# Members of the dropping team who still show up after the drop (its least active ones): few
# enough that the drop stays far beyond the alert's threshold while the live feed runs.
STILL_ACTIVE = 2


def demo_organisation(
    seed: int, history_days: float, people: int = 240, teams: int = 24
) -> tuple[Organisation, str]:
    """The demo's organisation and the name of the team that drops."""
    org = _small_teams_together(
        build_organisation(
            seed, people=people, teams=teams, decline_day=history_days - DROP_DAYS_AGO
        )
    )
    full = [t for t in org.teams if org.active_size(t.name) >= MIN_TEAM_SIZE]
    dropping = max(full, key=lambda t: (org.active_size(t.name), t.name)).name
    archetypes: dict[str, Archetype] = {}
    for team in org.teams:
        if team.name == dropping:
            archetypes[team.name] = "declining"
        elif team.archetype == "declining":
            archetypes[team.name] = "engaged"
    org = with_archetypes(org, archetypes)
    members = sorted(
        (p for p in org.people if p.team == dropping and p.participates),
        key=lambda p: (p.activity, p.person),
    )
    staying = {p.person for p in members[:STILL_ACTIVE]}
    dropped = tuple(
        replace(p, persists=p.person in staying) if p.team == dropping else p for p in org.people
    )
    return replace(org, people=dropped), dropping


def _small_teams_together(org: Organisation) -> Organisation:
    """Move every team below MIN_TEAM_SIZE into the department of the first of them."""
    small = [t for t in org.teams if org.active_size(t.name) < MIN_TEAM_SIZE]
    if not small:
        return org
    home = small[0]
    renamed: dict[str, str] = {}
    teams = []
    for team in org.teams:
        if team in small and team.department != home.department:
            word = team.name.removeprefix(f"{team.department}-")
            name = f"{home.department}-{word}"
            renamed[team.name] = name
            team = replace(team, name=name, department=home.department, division=home.division)
        teams.append(team)
    people = tuple(replace(p, team=renamed.get(p.team, p.team)) for p in org.people)
    return replace(org, teams=tuple(teams), people=people)
