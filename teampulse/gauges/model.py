"""What the gauges stage hands to the exporters: one snapshot per team, department, division
and the organisation, computed as of one instant.

The exporters never compute: the Prometheus collector and the Redis writer turn these
snapshots into series and hashes by fixed naming rules (docs/metrics.md, docs/redis-keys.md).
A value that is undefined (a median of nothing, a ratio over zero) is absent, never 0.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

__all__ = [
    "ORG_KEY",
    "STAGES",
    "ContentSnapshot",
    "InitiativeSnapshot",
    "OrgSnapshot",
    "Scope",
    "ScopeSnapshot",
]

Scope = Literal["team", "department", "division", "org"]
SCOPES: tuple[Scope, ...] = ("team", "department", "division", "org")
ORG_KEY = "org"

# ADKAR stages in order; "none" counts members with no evidence yet.
STAGES = ("none", "awareness", "desire", "knowledge", "ability", "reinforcement")


@dataclass(frozen=True, slots=True)
class InitiativeSnapshot:
    stage_members: dict[str, int]  # every stage of STAGES -> members whose highest stage it is
    members: int  # denominator: members of the scope
    ratio: float | None  # share at ability or beyond
    index: float | None  # 0..1 weighted progress through the stages


@dataclass(slots=True)
class ScopeSnapshot:
    scope: Scope
    key: str  # team / department / division name, ORG_KEY for the organisation
    as_of: float  # epoch seconds the windows end at
    windowed: dict[str, dict[str, float]] = field(default_factory=dict)  # window -> gauge -> v
    plain: dict[str, float] = field(default_factory=dict)  # gauge -> value (members, baseline)
    initiatives: dict[str, InitiativeSnapshot] = field(default_factory=dict)
    info: dict[str, str] = field(default_factory=dict)  # org path of a team: department, division
    # A team's drop signal state: ok | watch | drop | insufficient_activity (teams only).
    drop_signal: str | None = None
    # A team's row of the team x team matrix: window -> other team -> interactions between them
    # (both directions); only other published teams of its tenant, longest window only.
    interactions: dict[str, dict[str, int]] = field(default_factory=dict)


@dataclass(slots=True)
class ContentSnapshot:
    """One content item or group of one tenant (`gauges.content`): window -> gauge -> value;
    a figure withheld for privacy or undefined is absent."""

    tenant: str | None
    key: str  # the content id, or a group's prefix followed by "*"
    initiative: str  # the content's initiative, "" without one
    windowed: dict[str, dict[str, float]] = field(default_factory=dict)


@dataclass(slots=True)
class OrgSnapshot:
    """Everything one worker publishes at one instant."""

    as_of: float
    teams: dict[str, ScopeSnapshot] = field(default_factory=dict)  # published teams only
    rollups: list[ScopeSnapshot] = field(default_factory=list)  # departments, divisions, org
    # Every tenant's published content table (with the roll-ups: their owner computes it).
    content: list[ContentSnapshot] = field(default_factory=list)
