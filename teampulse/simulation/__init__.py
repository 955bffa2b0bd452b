"""A simulated organisation and its event feed, for the demo, the tests and benchmarks.

Pure and seeded: no clock reads (times are parameters, epoch seconds), and the same
arguments always give the same output.

    org = build_organisation(seed=7)
    roster = org.roster_records()
    history = generate_events(org, start, end, seed=7)
    feed = inject_faults(history, seed=7)
"""

from teampulse.simulation.behaviour import COURSES, INITIATIVE_PLANS, PROFILES, InitiativePlan
from teampulse.simulation.faults import MALFORMED_KINDS, inject_faults
from teampulse.simulation.feed import generate_events, live_events
from teampulse.simulation.organisation import (
    ARCHETYPES,
    Archetype,
    Organisation,
    Person,
    Team,
    build_organisation,
    with_archetypes,
)

__all__ = [
    "ARCHETYPES",
    "COURSES",
    "INITIATIVE_PLANS",
    "MALFORMED_KINDS",
    "PROFILES",
    "Archetype",
    "InitiativePlan",
    "Organisation",
    "Person",
    "Team",
    "build_organisation",
    "generate_events",
    "inject_faults",
    "live_events",
    "with_archetypes",
]
