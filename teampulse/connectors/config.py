"""`connectors.yaml`: which channel (or Caliper group) belongs to which team or initiative,
and how Caliper events map to canonical types. Loaded once at start like the other YAML files
of `settings.config_dir`; docs/connectors/*.md explain each entry.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

__all__ = [
    "CONNECTORS_FILE",
    "IGNORE",
    "CaliperConfig",
    "ChannelRoute",
    "ConnectorConfig",
    "ConnectorConfigError",
    "PlatformConfig",
]

CONNECTORS_FILE = "connectors.yaml"
IGNORE = "ignore"  # a Caliper mapping target: counted as ignored, never written


class ConnectorConfigError(SystemExit):
    """connectors.yaml is unreadable or invalid; the message names the entry."""


class ChannelRoute(BaseModel):
    """Where a channel's conversation belongs: a team (wins over the roster) or an initiative
    (the team still comes from the roster)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    team: str | None = Field(None, min_length=1, max_length=200)
    initiative: str | None = Field(None, min_length=1, max_length=200)

    @model_validator(mode="after")
    def _one_target(self) -> ChannelRoute:
        if self.team is None and self.initiative is None:
            raise ValueError("a channel needs `team` or `initiative`")
        return self

    def fields(self) -> dict[str, str]:
        """The canonical event fields this route sets."""
        return {
            name: value
            for name, value in (("team", self.team), ("initiative", self.initiative))
            if value is not None
        }


class PlatformConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # channel id (Slack channel, Teams channel, Discourse category, Caliper group) -> route
    channels: dict[str, ChannelRoute] = Field(default_factory=dict)

    def route(self, channel: str | None) -> dict[str, str]:
        if channel is None:
            return {}
        found = self.channels.get(channel)
        return found.fields() if found is not None else {}


CanonicalTarget = Literal[
    "learning.started",
    "learning.progressed",
    "learning.completed",
    "learning.assessed",
    "discussion.posted",
    "adoption.practiced",
    "ignore",
]


DEFAULT_CALIPER_ACTIONS: dict[str, dict[str, CanonicalTarget]] = {
    "MessageEvent": {"Posted": "discussion.posted"},
    "AssessmentEvent": {"Started": "learning.started", "Submitted": "learning.assessed"},
    "GradeEvent": {"Graded": "learning.assessed"},
    "NavigationEvent": {"NavigatedTo": "learning.progressed"},
    "ViewEvent": {"Viewed": "learning.progressed"},
    "SessionEvent": {"LoggedIn": "ignore", "LoggedOut": "ignore"},
}


class CaliperConfig(PlatformConfig):
    # Caliper event type -> action -> canonical type (or `ignore`). A MessageEvent's reply
    # (`object.replyTo`) becomes discussion.replied whatever its entry says.
    actions: dict[str, dict[str, CanonicalTarget]] = Field(
        default_factory=lambda: {k: dict(v) for k, v in DEFAULT_CALIPER_ACTIONS.items()}
    )
    # A grade at or above this share of `maxScore` counts as a pass (success = true).
    pass_score: float = Field(0.5, ge=0, le=1)


class ConnectorConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    slack: PlatformConfig = Field(default_factory=PlatformConfig)
    msteams: PlatformConfig = Field(default_factory=PlatformConfig)
    discourse: PlatformConfig = Field(default_factory=PlatformConfig)
    caliper: CaliperConfig = Field(default_factory=CaliperConfig)

    @classmethod
    def parse(cls, raw: Any, name: str = CONNECTORS_FILE) -> ConnectorConfig:
        if raw is None:
            raw = {}
        if not isinstance(raw, dict):
            raise ConnectorConfigError(f"{name}: the top level must be a mapping")
        # YAML reads numeric ids (a Discourse category 7) as ints; ids are text here.
        for platform in raw.values():
            if isinstance(platform, dict) and isinstance(platform.get("channels"), dict):
                platform["channels"] = {str(k): v for k, v in platform["channels"].items()}
        try:
            return cls.model_validate(raw)
        except ValidationError as exc:
            lines = [
                f"  {'.'.join(str(p) for p in e['loc']) or '(top level)'}: {e['msg']}"
                for e in exc.errors()
            ]
            raise ConnectorConfigError(f"{name} is invalid:\n" + "\n".join(lines)) from exc

    @classmethod
    def load(cls, path: Path) -> ConnectorConfig:
        """A `connectors.yaml` (settings.config_file(CONNECTORS_FILE) finds the one to use)."""
        try:
            raw = yaml.safe_load(path.read_text(encoding="utf-8"))
        except yaml.YAMLError as exc:
            raise ConnectorConfigError(f"{path.name}: not valid YAML: {exc}") from exc
        return cls.parse(raw, path.name)
