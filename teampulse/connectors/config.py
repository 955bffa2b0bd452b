"""`connectors.yaml`: which channel (or Caliper group) belongs to which team or initiative,
and how Caliper events map to canonical types. Loaded once at start like the other YAML files
of `settings.config_dir`; docs/connectors/*.md explain each entry.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from teampulse.contract.events import MAX_REF_CHARS

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
    """Where a channel's conversation belongs: a team (wins over the roster), an initiative
    (the team still comes from the roster), and the content (course, video, path) it is
    about, for the posts and replies that name no content themselves (docs/connectors/)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    team: str | None = Field(None, min_length=1, max_length=200)
    initiative: str | None = Field(None, min_length=1, max_length=200)
    content: str | None = Field(None, min_length=1, max_length=MAX_REF_CHARS)

    @model_validator(mode="after")
    def _one_target(self) -> ChannelRoute:
        if self.team is None and self.initiative is None and self.content is None:
            raise ValueError("a channel needs `team`, `initiative` or `content`")
        return self

    def fields(self) -> dict[str, str]:
        """The canonical event fields this route sets on every event of the channel (the
        content only on posts and replies: `PlatformConfig.content_of`)."""
        return {
            name: value
            for name, value in (("team", self.team), ("initiative", self.initiative))
            if value is not None
        }


@lru_cache(maxsize=64)
def _link_pattern(pattern: str) -> re.Pattern[str]:
    return re.compile(pattern)


class PlatformConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)
    # channel id (Slack channel, Teams channel, Discourse category, Caliper group) -> route
    channels: dict[str, ChannelRoute] = Field(default_factory=dict)
    # Regular expressions over a message's text, each with a group named `content`: a link
    # to the learning platform in the message (`https://lms.example.com/courses/(?P<content>
    # [\w-]+)`) names the content the post or reply is about. The first that matches wins.
    content_links: tuple[str, ...] = ()
    # Discourse: a topic tag that starts with this is a content id, the tag itself.
    content_tag_prefix: str | None = Field(None, min_length=1, max_length=200)

    @field_validator("content_links")
    @classmethod
    def _patterns(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        for pattern in patterns:
            try:
                compiled = _link_pattern(pattern)
            except re.error as exc:
                raise ValueError(f"{pattern!r} is not a regular expression: {exc}") from None
            if "content" not in compiled.groupindex:
                raise ValueError(f"{pattern!r} has no group named `content`: (?P<content>...)")
        return patterns

    def route(self, channel: str | None) -> dict[str, str]:
        if channel is None:
            return {}
        found = self.channels.get(channel)
        return found.fields() if found is not None else {}

    def content_of(
        self, text: str | None, channel: str | None, tags: Iterable[str] = ()
    ) -> str | None:
        """The content a post or reply is about, by the connectors' rule (docs/connectors/
        README.md, "Content"): a link in its text (`content_links`), else a topic tag
        (`content_tag_prefix`), else its channel's `content`; None when none says."""
        if text:
            for pattern in self.content_links:
                found = _link_pattern(pattern).search(text)
                named = found.group("content") if found is not None else None
                if named and len(named) <= MAX_REF_CHARS:
                    return named
        prefix = self.content_tag_prefix
        if prefix is not None:
            for tag in tags:
                if tag.startswith(prefix) and len(tag) <= MAX_REF_CHARS:
                    return tag
        route = self.channels.get(channel) if channel is not None else None
        return route.content if route is not None else None


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
