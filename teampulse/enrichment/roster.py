"""The roster as a lookup: team of a person, team sizes, the org path of a team.

Every stage that needs a team reads it here, and `resolve_team` is the one rule for an
event's team: the team its producer sent, else the roster's team of its actor, else
`UNASSIGNED_TEAM`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable

from teampulse.contract.event import UNASSIGNED_TEAM
from teampulse.contract.roster import RosterEntry
from teampulse.contract.tenant_scope import scoped, tenant_of

__all__ = ["Roster", "RosterEntry", "resolve_team"]


class Roster:
    def __init__(self, entries: list[RosterEntry] | None = None) -> None:
        self._people: dict[str, RosterEntry] = {}
        self._team_sizes: Counter[str] = Counter()
        self._paths: dict[str, tuple[str, str]] = {}
        for entry in entries or []:
            self.apply(entry)

    def apply(self, entry: RosterEntry) -> None:
        self.remove(entry.person)
        self._people[entry.person] = entry
        if entry.active:
            self._team_sizes[entry.team] += 1
        self._paths[entry.team] = (entry.department, entry.division)

    def remove(self, person: str) -> None:
        previous = self._people.pop(person, None)
        if previous is not None and previous.active:
            self._team_sizes[previous.team] -= 1
            if self._team_sizes[previous.team] <= 0:
                del self._team_sizes[previous.team]

    def drop_tenants(self, known: Callable[[str | None], bool]) -> int:
        """A deleted tenant's people leave the roster (their teams carry the tenant)."""
        gone = [p for p, entry in self._people.items() if not known(tenant_of(entry.team))]
        for person in gone:
            self.remove(person)
        for team in [t for t in self._paths if not known(tenant_of(t))]:
            del self._paths[team]
        return len(gone)

    def entries(self) -> list[RosterEntry]:
        """Every person's latest entry (active or not)."""
        return list(self._people.values())

    def team_of(self, person: str) -> str | None:
        entry = self._people.get(person)
        return entry.team if entry is not None else None

    def team_size(self, team: str) -> int:
        """Active members of a team; 0 for a team the roster does not know."""
        return self._team_sizes.get(team, 0)

    def path(self, team: str) -> tuple[str, str] | None:
        """(department, division) of a team, from its members' latest roster records."""
        return self._paths.get(team)

    def teams(self) -> list[str]:
        """Teams with at least one active member, sorted."""
        return sorted(self._team_sizes)

    def __len__(self) -> int:
        return len(self._people)


def resolve_team(
    sent_team: str | None, actor: str, roster: Roster, tenant: str | None = None
) -> str:
    """The team an event counts for (see the module docstring), inside the event's tenant
    (teampulse.contract.tenant_scope): the roster's team of a person only counts when the
    roster record came from the same tenant."""
    if tenant is None:
        return sent_team or roster.team_of(actor) or UNASSIGNED_TEAM
    if sent_team:
        return scoped(tenant, sent_team)
    listed = roster.team_of(actor)
    if listed is not None and tenant_of(listed) == tenant:
        return listed
    return scoped(tenant, UNASSIGNED_TEAM)
