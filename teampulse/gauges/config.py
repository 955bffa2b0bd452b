"""What the gauges stage is configured with: event time, privacy, score weights, initiatives.

Event time and privacy come from the settings (environment); the score formulas' weights and
targets come from `scoring.yaml`, the initiatives and their adoption evidence from
`initiatives.yaml`, both in `settings.config_dir`. Everything is validated once at start-up
so a typo in a weight or a stage name stops the worker with a message naming the file and key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from teampulse.contract.event import EVENT_TYPES
from teampulse.contract.tenant_scope import tenant_of
from teampulse.gauges.model import STAGES
from teampulse.settings import Settings, parse_duration

__all__ = [
    "DAY_S",
    "DropSignalScoring",
    "EVIDENCE_STAGES",
    "WEEK_S",
    "BaselineScoring",
    "ContentScoring",
    "EngagementScoring",
    "EngagementWeights",
    "EvidenceMatcher",
    "GaugeConfig",
    "GaugeConfigError",
    "InitiativeConfig",
    "QualityScoring",
    "QualityWeights",
    "Reinforcement",
    "ScoringConfig",
    "TenantGauges",
    "TenantScoring",
    "load_gauge_config",
    "parse_initiatives",
    "parse_scoring",
]

DAY_S = 86_400
WEEK_S = 7 * DAY_S
EVIDENCE_STAGES = STAGES[1:]  # awareness .. reinforcement; "none" needs no evidence
WEIGHT_TOLERANCE = 1e-6
DEFAULT_WINDOWS = {"1d": DAY_S, "7d": WEEK_S, "28d": 28 * DAY_S}
DEFAULT_CONTENT_WINDOWS = ("7d", "28d")


class GaugeConfigError(ValueError):
    """A configuration file or setting the gauges cannot run with."""


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


def _check_weights(weights: Mapping[str, float], what: str) -> None:
    if any(w < 0 for w in weights.values()):
        raise ValueError(f"{what} weights must not be negative")
    total = sum(weights.values())
    if abs(total - 1.0) > WEIGHT_TOLERANCE:
        raise ValueError(f"{what} weights must add up to 1 (they add up to {total:g})")


class EngagementWeights(_Strict):
    participation: float = 0.40
    learning_intensity: float = 0.25
    conversation: float = 0.25
    conversation_quality: float = 0.10

    @model_validator(mode="after")
    def _sum_to_one(self) -> EngagementWeights:
        _check_weights(self.model_dump(), "engagement")
        return self


class EngagementScoring(_Strict):
    weights: EngagementWeights = EngagementWeights()
    # What "fully engaged" means, per member and per day of the window.
    learning_target_seconds_per_member_day: float = Field(default=900.0, gt=0)
    contributions_target_per_member_day: float = Field(default=2.0, gt=0)


class QualityWeights(_Strict):
    reply_ratio: float = 0.30
    speed: float = 0.20
    depth: float = 0.15
    voice_evenness: float = 0.20
    cross_team: float = 0.15

    @model_validator(mode="after")
    def _sum_to_one(self) -> QualityWeights:
        _check_weights(self.model_dump(), "conversation_quality")
        return self


class QualityScoring(_Strict):
    weights: QualityWeights = QualityWeights()
    # speed = target / (target + median time to first reply): 0.5 when the median equals it.
    first_reply_target_seconds: float = Field(default=14_400.0, gt=0)
    # depth = min(1, replies per thread / target).
    depth_target_replies: float = Field(default=3.0, gt=0)


class BaselineScoring(_Strict):
    # The score compared with its normal: the engagement score of this trailing window.
    window: str = "20h"
    # Its normal: the mean of the same window `every` before now, 2 x `every` before, ...
    # `samples` times: with a week, a Tuesday afternoon is compared with Tuesday afternoons.
    every: str = "7d"
    samples: int = Field(default=4, ge=1)
    # The change ratio is left out while the samples held fewer events than this on average.
    min_events: float = Field(default=25, ge=0)


class DropSignalScoring(_Strict):
    """The drop signal on raw event counts (docs/gauges.md, "The drop signal")."""

    # The evidence runs over the last `span_weeks` weeks; its normal is the team's level
    # over the `reference_weeks` weeks before them, shaped by the organisation's week.
    span_weeks: int = Field(default=2, ge=1)
    reference_weeks: int = Field(default=3, ge=1)
    # Weeks of the reference that must hold any event before the team is judged.
    min_reference_weeks: int = Field(default=2, ge=1)
    # Below this many expected events per working day the state is insufficient_activity.
    min_expected_per_working_day: float = Field(default=5.0, gt=0)
    # The fall in activity the detector is tuned for (0.5: half the usual count).
    tuned_drop: float = Field(default=0.5, gt=0, lt=1)
    # Evidence (log-likelihood ratio, divided by the dispersion) at which the state is drop:
    # threshold + threshold_per_log_events x (ln P - |ln(E / P)|), E the expected events per
    # working day and P threshold_peak_events: the threshold grows with ln E up to P and falls
    # back at the same rate beyond it. Calibrated by simulation to 0.05 false drops per
    # team-month or fewer in every cell of the grid (benchmarks/signal.py --grid).
    threshold: float = Field(default=5.6, gt=0)
    threshold_per_log_events: float = Field(default=0.5, ge=0)
    # The grid's steady teams needed the highest threshold at 16-22 a day; beyond, the lowest
    # threshold that kept a cell at 0.03 false drops fell (4.6-5.3 at 40 or more a day).
    threshold_peak_events: float = Field(default=16.0, gt=1)
    # A second detector tuned to a steep fall (0.75: to a quarter of the usual count), with
    # its own threshold (plus the same level term): a team that all but stops is alerted
    # sooner. Calibrated with the first to the same false-alarm rate.
    fast_tuned_drop: float = Field(default=0.75, gt=0, lt=1)
    fast_threshold: float = Field(default=6.5, gt=0)
    # The share of the drop threshold at which the state is watch (shown, notifies no one).
    watch_share: float = Field(default=0.5, gt=0, lt=1)
    # The rest of the organisation's observed / expected events over each hour and the ones
    # just before it, `org_window_hours` in all (plus `org_prior_events` on both sides,
    # so a small organisation's ratio stays near 1): the team's expected count is
    # multiplied by it (never raised), and below org_hold_ratio a team's drop is held at
    # watch (the whole organisation is quiet).
    org_window_hours: int = Field(default=3, ge=1)
    org_prior_events: float = Field(default=20.0, gt=0)
    org_hold_ratio: float = Field(default=0.7, gt=0, le=1)
    # Weight (in degrees of freedom) of the organisation's pooled dispersion in a team's.
    dispersion_prior_df: float = Field(default=30.0, ge=0)
    # Active members this improbable against the usual share (binomial) make the state watch.
    members_alpha: float = Field(default=0.001, gt=0, lt=1)


class ContentScoring(_Strict):
    """The content gauges (docs/gauges.md, "Content: what learning sparks")."""

    # The windows (labels of TEAMPULSE_WINDOWS) the content table is computed over; unset:
    # 7d and 28d, those of them that TEAMPULSE_WINDOWS has.
    windows: tuple[str, ...] | None = None
    # Practice after learning: adoption.practiced evidence within these spans of completing.
    practice_within: tuple[str, ...] = ("14d", "28d")
    # The fallback rule: a post or reply without a content id, in one of the channels of the
    # content's initiative, counts for the content when its author completed it within this
    # span before it.
    conversation_within: str = "7d"
    # Needs attention: completed by at least this many people (and the minimum group size).
    attention_min_completers: int = Field(default=10, ge=1)
    # Prometheus gets the top this-many items per tenant and initiative (by learners in the
    # longest content window), plus totals; Redis and the read API get every item.
    prometheus_top_items: int = Field(default=5, ge=0)

    @field_validator("windows", "practice_within", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:  # (windows: [] turns the content gauges off)
        return (value,) if isinstance(value, str) else value

    @field_validator("practice_within", "conversation_within")
    @classmethod
    def _durations(cls, value: Any) -> Any:
        for text in (value,) if isinstance(value, str) else value:
            if parse_duration(text) <= 0:
                raise ValueError(f"{text!r} must be a duration longer than 0, such as '14d'")
        return value


class ScoringConfig(_Strict):
    engagement: EngagementScoring = EngagementScoring()
    conversation_quality: QualityScoring = QualityScoring()
    baseline: BaselineScoring = BaselineScoring()
    drop_signal: DropSignalScoring = DropSignalScoring()
    content: ContentScoring = ContentScoring()


# The parts of scoring.yaml that decide how much history a team's state keeps and how it is
# read (the baseline's samples, the drop signal's weeks): the deployment's for every tenant,
# since all tenants' teams share one state layout, one state log and one snapshot format.
DEPLOYMENT_SCORING = ("baseline", "drop_signal")


class TenantScoring(_Strict):
    """A tenant's own scoring (its `scoring` in the tenants file): the engagement score's and
    the conversation quality score's weights and targets. What is left out stays the
    deployment's (scoring.yaml)."""

    engagement: EngagementScoring | None = None
    conversation_quality: QualityScoring | None = None

    @model_validator(mode="before")
    @classmethod
    def _not_the_deployments(cls, value: Any) -> Any:
        if isinstance(value, Mapping):
            shared = [part for part in DEPLOYMENT_SCORING if part in value]
            if shared:
                raise ValueError(
                    f"{' and '.join(shared)} cannot be set per tenant: they decide how much "
                    "history every team's state keeps; set them in scoring.yaml for the "
                    "whole deployment"
                )
        return value

    def over(self, scoring: ScoringConfig) -> ScoringConfig:
        """The deployment's scoring with this tenant's parts in place of its own."""
        update = {
            part: value
            for part, value in (
                ("engagement", self.engagement),
                ("conversation_quality", self.conversation_quality),
            )
            if value is not None
        }
        return scoring.model_copy(update=update) if update else scoring


@dataclass(frozen=True)
class TenantGauges:
    """What the tenants file sets for a tenant's gauges; None: the deployment's."""

    min_group_size: int | None = None
    scoring: TenantScoring | None = None
    initiatives: tuple[InitiativeConfig, ...] | None = None

    @property
    def own(self) -> bool:
        return (
            self.min_group_size is not None
            or self.scoring is not None
            or self.initiatives is not None
        )


class EvidenceMatcher(_Strict):
    """One kind of event that proves a stage. `type` is required; every other key narrows.

    An event that names the initiative (its `initiative` field or a tag) is evidence when it
    matches; an event that does not name it is evidence only when the matcher pins down
    content, practice or channel explicitly (the kick-off video proves awareness whoever
    tagged it).
    """

    type: tuple[str, ...]
    content: tuple[str, ...] = ()
    content_prefix: str | None = None
    practices: tuple[str, ...] = ()
    channels: tuple[str, ...] = ()
    success: bool | None = None

    @field_validator("type", "content", "practices", "channels", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return (value,) if isinstance(value, str) else value

    @field_validator("type")
    @classmethod
    def _known_types(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        if not value:
            raise ValueError("needs at least one event type")
        unknown = [t for t in value if t not in EVENT_TYPES]
        if unknown:
            raise ValueError(f"unknown event type(s) {unknown}; known: {list(EVENT_TYPES)}")
        return value

    @property
    def explicit(self) -> bool:
        """True when the matcher names its content, practice or channel itself."""
        return bool(self.content or self.content_prefix or self.practices or self.channels)


class Reinforcement(_Strict):
    # Sustained practice: ability evidence in this many distinct ISO weeks (Monday-Sunday, UTC).
    practice_weeks: int = Field(default=3, ge=1)
    # Answering peers: a discussion.replied in one of these channels.
    reply_channels: tuple[str, ...] = ()


class InitiativeConfig(_Strict):
    id: str = Field(pattern=r"^[a-z0-9][a-z0-9._-]*$")
    name: str = ""
    stages: dict[str, tuple[EvidenceMatcher, ...]] = Field(default_factory=dict)
    reinforcement: Reinforcement = Reinforcement()

    @field_validator("stages")
    @classmethod
    def _known_stages(
        cls, value: dict[str, tuple[EvidenceMatcher, ...]]
    ) -> dict[str, tuple[EvidenceMatcher, ...]]:
        unknown = [s for s in value if s not in EVIDENCE_STAGES]
        if unknown:
            raise ValueError(f"unknown stage(s) {unknown}; stages: {list(EVIDENCE_STAGES)}")
        return value


class _InitiativesFile(_Strict):
    initiatives: tuple[InitiativeConfig, ...] = ()

    @field_validator("initiatives")
    @classmethod
    def _unique(cls, value: tuple[InitiativeConfig, ...]) -> tuple[InitiativeConfig, ...]:
        ids = [i.id for i in value]
        doubles = sorted({i for i in ids if ids.count(i) > 1})
        if doubles:
            raise ValueError(f"initiative ids must be unique: {doubles}")
        return value


@dataclass(frozen=True)
class GaugeConfig:
    """Everything the pure gauge code needs; build it with `load_gauge_config(settings)`."""

    windows: Mapping[str, int] = field(default_factory=lambda: dict(DEFAULT_WINDOWS))
    bucket_s: int = 3600
    lateness_s: int = 48 * 3600
    min_group_size: int = 5
    scoring: ScoringConfig = field(default_factory=ScoringConfig)
    initiatives: tuple[InitiativeConfig, ...] = ()
    # tenant -> the configuration of its teams and roll-ups, for the tenants whose entry in
    # the tenants file sets a minimum group size, scoring or initiatives of their own; the
    # worker keeps it in step with the file at every reload (`use_tenants`).
    tenants: dict[str, GaugeConfig] = field(default_factory=dict, compare=False, repr=False)

    def __post_init__(self) -> None:
        if self.bucket_s <= 0 or DAY_S % self.bucket_s:
            raise GaugeConfigError(f"bucket width {self.bucket_s}s must divide a day evenly")
        if not self.windows:
            raise GaugeConfigError("at least one window is needed")
        for label, seconds in self.windows.items():
            if seconds <= 0 or seconds % self.bucket_s:
                raise GaugeConfigError(
                    f"window {label} ({seconds}s) must be a whole number of buckets"
                    f" of {self.bucket_s}s"
                )
        baseline = parse_duration(self.scoring.baseline.window)
        if baseline <= 0 or baseline % self.bucket_s:
            raise GaugeConfigError(
                f"baseline window {self.scoring.baseline.window} must be a whole number of buckets"
            )
        every = parse_duration(self.scoring.baseline.every)
        if every < baseline or every % self.bucket_s:
            raise GaugeConfigError(
                f"baseline every {self.scoring.baseline.every} must be a whole number of buckets"
                f" and at least the baseline window {self.scoring.baseline.window}"
            )
        if self.lateness_s < 0:
            raise GaugeConfigError("lateness must not be negative")
        if self.min_group_size < 1:
            raise GaugeConfigError("min_group_size must be at least 1")
        object.__setattr__(self, "windows", dict(self.windows))
        self._derive(baseline, every)
        self._check_content()

    def _check_content(self) -> None:
        content = self.scoring.content
        unknown = [w for w in content.windows or () if w not in self.windows]
        if unknown:
            raise GaugeConfigError(
                f"scoring.yaml content.windows {unknown} are not windows of TEAMPULSE_WINDOWS"
                f" ({sorted(self.windows)})"
            )
        spans = [parse_duration(s) for s in (*content.practice_within, content.conversation_within)]
        if any(s % self.bucket_s for s in spans):
            raise GaugeConfigError(
                f"scoring.yaml content spans must be whole numbers of buckets of {self.bucket_s}s"
            )

    # --- per tenant ---------------------------------------------------------------------
    def of(self, key: str) -> GaugeConfig:
        """The configuration a team or roll-up (its scoped name) is computed with: its
        tenant's own, or the deployment's."""
        if not self.tenants:
            return self
        return self.tenants.get(tenant_of(key) or "", self)

    def of_tenant(self, tenant: str | None) -> GaugeConfig:
        """The configuration of a tenant's teams (None: the one implicit tenant)."""
        if tenant is None or not self.tenants:
            return self
        return self.tenants.get(tenant, self)

    def initiatives_of(self, tenant: str | None) -> tuple[InitiativeConfig, ...]:
        """The initiatives (and their evidence) a tenant's adoption gauges follow."""
        return self.of_tenant(tenant).initiatives

    def use_tenants(self, tenants: Mapping[str, TenantGauges]) -> bool:
        """Put the tenants' own settings in force (at start and at every reload of the
        tenants file); True when a tenant's configuration changed. A tenant's configuration
        object is kept while its settings stay the same, so state built with it stays valid."""
        wanted: dict[str, GaugeConfig] = {}
        for tenant, own in tenants.items():
            if not own.own:
                continue
            config = replace(
                self,
                min_group_size=own.min_group_size or self.min_group_size,
                scoring=own.scoring.over(self.scoring) if own.scoring else self.scoring,
                initiatives=self.initiatives if own.initiatives is None else own.initiatives,
                tenants={},
            )
            kept = self.tenants.get(tenant)
            wanted[tenant] = kept if kept == config else config
        if wanted.keys() == self.tenants.keys() and all(
            wanted[t] is self.tenants[t] for t in wanted
        ):
            return False
        self.tenants.clear()
        self.tenants.update(wanted)
        return True

    # --- derived values, computed once (they are read on every event) ----------------------
    longest_window_s: int = field(init=False, repr=False)
    baseline_window_s: int = field(init=False, repr=False)
    baseline_every_s: int = field(init=False, repr=False)  # between the baseline's samples
    baseline_lookback_s: int = field(init=False, repr=False)  # reach of the oldest sample
    retention_s: int = field(init=False, repr=False)
    buckets_per_day: int = field(init=False, repr=False)
    buckets_per_week: int = field(init=False, repr=False)
    signal_lookback_s: int = field(init=False, repr=False)  # span + reference of the drop signal
    content_windows: dict[str, int] = field(init=False, repr=False)  # label -> seconds
    content_lookback_s: int = field(init=False, repr=False)  # reach of the content gauges

    def _derive(self, baseline_window_s: int, baseline_every_s: int) -> None:
        """Retention: event time a team's buckets (and an idle thread) are kept behind its
        watermark. The longest window, the baseline's reach (its oldest sample's window
        starts `samples` x `every` + one baseline window before now) or the drop signal's
        (its span and reference weeks), whichever is longest, plus the
        lateness: an event accepted now can land that far back, and a window as of any instant
        no earlier than `watermark - lateness` still finds every bucket it needs."""
        lookback = self.scoring.baseline.samples * baseline_every_s + baseline_window_s
        signal = self.scoring.drop_signal
        signal_lookback = (signal.span_weeks + signal.reference_weeks) * WEEK_S
        content = self.scoring.content
        chosen = content.windows if content.windows is not None else DEFAULT_CONTENT_WINDOWS
        content_windows = {
            label: seconds for label, seconds in self.windows.items() if label in chosen
        }
        # A post in a content window counts for a completion up to conversation_within
        # before it; non-completers' practice is read over the last practice_within.
        content_lookback = (
            max(
                max(content_windows.values(), default=0)
                + parse_duration(content.conversation_within),
                *(parse_duration(span) for span in content.practice_within),
            )
            if content_windows
            else 0
        )
        derived = {
            "longest_window_s": max(self.windows.values()),
            "baseline_window_s": baseline_window_s,
            "baseline_every_s": baseline_every_s,
            "baseline_lookback_s": lookback,
            "retention_s": max(
                max(self.windows.values()), lookback, signal_lookback, content_lookback
            )
            + self.lateness_s,
            "buckets_per_day": DAY_S // self.bucket_s,
            "buckets_per_week": WEEK_S // self.bucket_s,
            "signal_lookback_s": signal_lookback,
            "content_windows": content_windows,
            "content_lookback_s": content_lookback,
        }
        for name, value in derived.items():
            object.__setattr__(self, name, value)


def _read_yaml(path: Path) -> dict[str, Any]:
    try:
        loaded = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        raise GaugeConfigError(f"{path.name}: not valid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise GaugeConfigError(f"{path.name}: the top level must be a mapping")
    return loaded


def _explain(name: str, exc: ValidationError) -> GaugeConfigError:
    lines = []
    for error in exc.errors():
        where = ".".join(str(part) for part in error["loc"]) or "(top level)"
        lines.append(f"  {where}: {error['msg']}")
    return GaugeConfigError(f"{name} is invalid:\n" + "\n".join(lines))


def parse_scoring(raw: Mapping[str, Any], name: str = "scoring.yaml") -> ScoringConfig:
    try:
        return ScoringConfig.model_validate(raw)
    except ValidationError as exc:
        raise _explain(name, exc) from exc


def parse_initiatives(
    raw: Mapping[str, Any], name: str = "initiatives.yaml"
) -> tuple[InitiativeConfig, ...]:
    try:
        return _InitiativesFile.model_validate(raw).initiatives
    except ValidationError as exc:
        raise _explain(name, exc) from exc


def load_gauge_config(settings: Settings) -> GaugeConfig:
    """Settings + `scoring.yaml` + `initiatives.yaml` (in settings.config_dir), validated.

    A file the config folder lacks is read from the shipped defaults (Settings.config_file).
    """
    scoring = parse_scoring(_read_yaml(settings.config_file("scoring.yaml")))
    initiatives = parse_initiatives(_read_yaml(settings.config_file("initiatives.yaml")))
    if len(initiatives) > settings.max_initiatives:
        raise GaugeConfigError(
            f"initiatives.yaml defines {len(initiatives)} initiatives; the cardinality guard"
            f" TEAMPULSE_MAX_INITIATIVES allows {settings.max_initiatives}"
        )
    return GaugeConfig(
        windows=settings.window_seconds,
        bucket_s=settings.bucket_s,
        lateness_s=settings.lateness_s,
        min_group_size=settings.min_group_size,
        scoring=scoring,
        initiatives=initiatives,
    )
