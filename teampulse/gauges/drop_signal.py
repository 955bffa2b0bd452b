"""The drop signal: has a team's activity fallen below its own normal? Judged on raw counts.

Small teams produce a few events an hour, so the signal accumulates evidence on event counts
over days (a one-sided lower CUSUM, Lucas 1985) instead of comparing two short windows:

* expected events in each bucket of the span = the team's level (events per week over its
  reference weeks) x the organisation's share of a week's events in that hour of the week,
  x the rest of the organisation's observed / expected events over the hours before (never
  above 1): a public holiday lowers what every team is expected to do;
* evidence S = max(0, S + k x expected - observed) over the span, k tuned for a fall to
  `tuned_drop` of the usual, turned into a log-likelihood ratio and divided by the
  team's dispersion (variance / mean of its weekly counts, pooled with the organisation's
  while its own history is short, and widened by the error of the team's estimated level):
  overdispersed teams, and teams with a short reference, need more evidence. The pooled
  part is the organisation's variation beyond chance per event per member: a team whose
  members each do little varies little more than chance, one whose members are busy more;
* hours in which the rest of the organisation is below `org_hold_ratio` of its usual (a
  public holiday, an offsite) add no evidence at all: a quiet day everyone shares says
  nothing about one team, neither on the day nor the day after;
* the evidence runs over completed buckets only, so the state moves once an hour (and with
  late events), never within one;
* a second CUSUM, tuned to a steep fall (`fast_tuned_drop`), with its own threshold: the
  state follows the surer of the two, so a team that all but stops is alerted sooner;
* drop when the evidence reaches the threshold (which grows with the log of the expected
  events per working day up to `threshold_peak_events` and falls back beyond it, as the
  grid's steady teams' false alarms did, so every level has about the same false-alarm
  rate), watch from
  `watch_share` of it; a drop while the whole organisation is quiet is held at watch;
* insufficient_activity while the reference holds too few weeks, or while even the upper end
  of the level's range (the estimate plus LEVEL_GATE_Z standard errors) is below the minimum
  of expected events per working day.

Active members (against the team's usual share, binomial) explain an alert and raise a
watch on their own when half the team goes silent. docs/gauges.md explains it for L&D.
Pure: counts in, a `DropSignal` out. The stream and the reference model call the same code.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Literal

from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.counts import ActivityCounts

__all__ = [
    "DROP_STATES",
    "DropSignal",
    "DropState",
    "OrgActivity",
    "binomial_cdf",
    "dispersion_evidence",
    "drop_signal",
    "level_term",
    "org_activity",
]

DropState = Literal["ok", "watch", "drop", "insufficient_activity"]
DROP_STATES: tuple[DropState, ...] = ("ok", "watch", "drop", "insufficient_activity")
WORKING_DAYS = 5  # of a week's seven 24-hour blocks, the busiest five are its working days
# Every hour of the week keeps this share of an even spread in the organisation's shape, so an
# hour the organisation never used still expects a little of a team that does use it.
SHAPE_FLOOR = 0.01
# Working days over which the error of the team's estimated level is weighed against chance.
LEVEL_HORIZON_DAYS = 2
# The level gate: a team is judged unless the upper end of its estimated level's range (this
# many standard errors above the estimate, one-sided 97.5 %) is below the minimum.
LEVEL_GATE_Z = 1.96
# The "normal" band shown around the expected count: about 95 % of usual weeks fall in it.
NORMAL_BAND_Z = 1.96


@dataclass(frozen=True, slots=True)
class OrgActivity:
    """The organisation's activity (the merge of its teams') and its pooled dispersion."""

    activity: ActivityCounts
    excess: float  # sum over teams of their weekly counts' Pearson statistic minus its df
    exposure: float  # ... and of df x events per active member in a usual week

    def judged_by(self) -> tuple[object, ...]:
        """What of it a team's signal reads (all but the active members)."""
        a = self.activity
        return a.recent, a.profile, a.days, self.excess, self.exposure


@dataclass(frozen=True, slots=True)
class DropSignal:
    state: DropState
    window: str  # label of the week the figures below cover ("7d")
    events: int  # observed in the last week
    expected: float | None  # expected in the last week (None: not enough to judge)
    normal_low: float | None
    normal_high: float | None
    expected_per_working_day: float | None
    evidence_ratio: float | None  # evidence / drop threshold (1 = drop)
    active_members: int
    usual_active_members: float | None
    held: bool = False  # a drop held at watch because the whole organisation is quiet


def dispersion_evidence(days: Sequence[int], weeks: int) -> tuple[float, int]:
    """Pearson statistic and degrees of freedom of the weekly counts across reference weeks.

    Each reference week's total is compared with their mean over the weeks that hold any
    event; for Poisson counts the statistic / df is about 1. Whole weeks, not the 24-hour
    blocks within them: those blocks start at the hour the signal is judged, so most of them
    split a working day in two and hide how much whole days vary (a team of 5 whose days vary
    2.3 times as much as chance read about 1 at 10:00).
    """
    totals = [sum(days[7 * r : 7 * r + 7]) for r in range(weeks)]
    kept = [total for total in totals if total > 0]
    if len(kept) < 2:
        return 0.0, 0
    mean = sum(kept) / len(kept)
    return sum((total - mean) ** 2 for total in kept) / mean, len(kept) - 1


def excess_dispersion(counts: ActivityCounts, weeks: int) -> tuple[float, float]:
    """A team's share of the organisation's variation beyond chance: its weekly counts'
    Pearson statistic minus its degrees of freedom, and the df times its events per active
    member in a usual week (0, 0 without two weeks of events or without active members).

    For Poisson counts the first is about 0. When each member's days vary (some busy, some
    quiet), a week's count varies 1 + c x (events per member) times as much as chance: the
    organisation's c = sum of the first / sum of the second, so a team whose members each
    do little is not judged as careful as a team of busy ones (a team of 12 at half an event
    a day, bursty, read the organisation's 2.1 for its own 1.25, and saw no 50 % drop)."""
    if not counts.days:
        return 0.0, 0.0
    chi2, df = dispersion_evidence(counts.days, weeks)
    per_member = _events_per_member(counts, weeks)
    if not df or per_member is None:
        return 0.0, 0.0
    return chi2 - df, df * per_member


def _events_per_member(counts: ActivityCounts, weeks: int) -> float | None:
    """Events per active member in a usual reference week (None: no one was active)."""
    totals = _week_totals(counts.days, weeks)
    active = [n for n, d in zip(counts.usual_active, totals, strict=False) if d > 0]
    if not active or sum(active) <= 0:
        return None
    return sum(d for d in totals if d > 0) / sum(active)


def org_activity(parts: Iterable[ActivityCounts], config: GaugeConfig) -> OrgActivity:
    """The organisation from its teams; pass them in a fixed order (sorted by team)."""
    parts = list(parts)
    weeks = config.scoring.drop_signal.reference_weeks
    excess = exposure = 0.0
    for part in parts:
        e, x = excess_dispersion(part, weeks)
        excess += e
        exposure += x
    return OrgActivity(activity=ActivityCounts.merge(parts), excess=excess, exposure=exposure)


def binomial_cdf(k: int, n: int, p: float) -> float:
    """P(X <= k) for X ~ Binomial(n, p)."""
    if k >= n or p <= 0:
        return 1.0
    if k < 0:
        return 0.0
    if p >= 1:
        return 0.0
    return sum(math.comb(n, i) * p**i * (1 - p) ** (n - i) for i in range(k + 1))


def _weeks_with_events(days: Sequence[int], weeks: int) -> int:
    return sum(1 for r in range(weeks) if sum(days[7 * r : 7 * r + 7]) > 0)


def drop_signal(
    team: ActivityCounts,
    org: OrgActivity,
    members: int,
    as_of: float,
    config: GaugeConfig,
) -> DropSignal:
    """The team's drop signal as of `as_of`, from its activity and the organisation's."""
    cfg = config.scoring.drop_signal
    week = config.buckets_per_week
    per_day = config.buckets_per_day
    weeks = cfg.reference_weeks
    window = f"{week * config.bucket_s // 86_400}d"
    recent = team.recent
    events = sum(recent[-week:]) if recent else 0
    totals = _week_totals(team.days, weeks)
    usual_weeks = [n for n, d in zip(team.usual_active, totals, strict=False) if d > 0]
    usual_active = sum(usual_weeks) / len(usual_weeks) if usual_weeks else None

    def insufficient(per_working_day: float | None = None) -> DropSignal:
        return DropSignal(
            "insufficient_activity",
            window,
            events,
            None,
            None,
            None,
            per_working_day,
            None,
            team.active,
            usual_active,
        )

    with_events = _weeks_with_events(team.days, weeks) if team.days else 0
    if not recent or with_events < cfg.min_reference_weeks:
        return insufficient()
    level = sum(team.profile) / with_events  # the team's events in a usual week
    org_profile = org.activity.profile
    org_total = sum(org_profile)
    floor = SHAPE_FLOOR * org_total / week
    scale = level / (org_total * (1 + SHAPE_FLOOR))
    base = [(n + floor) * scale for n in org_profile]  # expected events per hour of the week
    blocks = sorted(sum(base[d * per_day : (d + 1) * per_day]) for d in range(7))
    per_working_day = sum(blocks[-WORKING_DAYS:]) / WORKING_DAYS
    own_chi2, own_df = dispersion_evidence(team.days, weeks)
    # the organisation's variation beyond chance, at this team's events per member
    per_event = max(0.0, org.excess / org.exposure) if org.exposure > 0 else 0.0
    per_member = _events_per_member(team, weeks)
    if per_member is None:  # no member counted in the reference: the roster's size
        per_member = level / max(1, members)
    pooled = 1 + per_event * per_member
    weight = cfg.dispersion_prior_df
    dispersion = (own_chi2 + weight * pooled) / (own_df + weight) if own_df + weight else 1.0
    dispersion = max(1.0, dispersion)
    reference_events = max(1, sum(team.profile))  # 0 only when the level is 0 too
    # The level is estimated from a few weeks of counts: a team whose true level is at the
    # minimum reads below it about half the time. Insufficient only when even the upper end of
    # the estimate's range is below the minimum, so a team at it is judged.
    level_upper = per_working_day * (1 + LEVEL_GATE_Z * math.sqrt(dispersion / reference_events))
    if level_upper < cfg.min_expected_per_working_day:
        return insufficient(per_working_day)

    # The rest of the organisation: observed against its own expected count, per bucket.
    rest_recent = [o - t for o, t in zip(org.activity.recent, recent, strict=True)]
    rest_profile = [o - t for o, t in zip(org_profile, team.profile, strict=True)]
    rest_days = [o - t for o, t in zip(org.activity.days, team.days, strict=True)]
    rest_weeks = _weeks_with_events(rest_days, weeks)
    rest_scale = 1 / rest_weeks if rest_weeks else 0.0
    span = len(recent)
    last = math.floor(as_of / config.bucket_s)
    elapsed = (as_of - last * config.bucket_s) / config.bucket_s  # of the current bucket
    prior = cfg.org_prior_events
    org_window = cfg.org_window_hours * 3600 // config.bucket_s or 1
    rho = 1 - cfg.tuned_drop
    k = (1 - rho) / math.log(1 / rho)
    # A second detector tuned to a steep fall: on a team that all but stops, its evidence
    # grows faster per hour than the first's, so a sudden fall is alerted sooner.
    fast_rho = 1 - cfg.fast_tuned_drop
    fast_k = (1 - fast_rho) / math.log(1 / fast_rho)
    # The evidence runs over completed hours: it moves once an hour (and with late events), so
    # a state never flickers within an hour and the rule's `for:` only waits out a restart.
    # An hour in which the rest of the organisation is below org_hold_ratio of its usual adds
    # nothing: on a public holiday the rest's ratio over its first hours still leans on the
    # prior (well above the holiday's tenth), so a team expected too much piled up evidence
    # that stayed for the next morning (2 alerts in 1,920 holidays of the grid).
    cusum = fast_cusum = 0.0
    rest_seen = rest_usual = 0.0  # the rest's events over the trailing buckets, and usually
    ratio = completed_ratio = 1.0
    expected_week = 0.0
    trailing: deque[tuple[float, float]] = deque()
    for i in range(span):
        position = i % week
        share = elapsed if i == span - 1 else 1.0
        # The rest over this bucket and the ones just before it: the first hour of a holiday
        # is judged by the holiday itself.
        rest_expected = rest_profile[position] * rest_scale * share
        trailing.append((rest_recent[i], rest_expected))
        rest_seen += rest_recent[i]
        rest_usual += rest_expected
        if len(trailing) > org_window:
            gone_observed, gone_expected = trailing.popleft()
            rest_seen -= gone_observed
            rest_usual -= gone_expected
        ratio = (rest_seen + prior) / (rest_usual + prior)
        expected = base[position] * share * min(1.0, ratio)
        if i < span - 1:
            if ratio >= cfg.org_hold_ratio:
                cusum = max(0.0, cusum + k * expected - recent[i])
                fast_cusum = max(0.0, fast_cusum + fast_k * expected - recent[i])
            completed_ratio = ratio
        if i >= span - week:
            expected_week += expected

    # The level itself is estimated from the reference weeks: over the days the evidence
    # builds up in, its error adds to the counts' own variance (more with fewer weeks).
    level_error = LEVEL_HORIZON_DAYS * per_working_day / reference_events
    dispersion *= 1 + level_error
    by_level = cfg.threshold_per_log_events * level_term(per_working_day, cfg.threshold_peak_events)
    # how sure, against the drop threshold: the surer of the two detectors
    sureness = max(
        cusum * math.log(1 / rho) / dispersion / (cfg.threshold + by_level),
        fast_cusum * math.log(1 / fast_rho) / dispersion / (cfg.fast_threshold + by_level),
    )
    state: DropState = "ok"
    if sureness >= 1:
        state = "drop"
    elif sureness >= cfg.watch_share:
        state = "watch"
    # the rest over the last completed hours
    held = state == "drop" and completed_ratio < cfg.org_hold_ratio
    if held:
        state = "watch"
    if state == "ok" and usual_active is not None and members > 0:
        # Laplace's rule over the reference weeks: a team whose members were all active every
        # week is not certain to be so again (one person on leave is no signal).
        weeks_seen = len(usual_weeks)
        usual_share = (min(usual_active, members) * weeks_seen + 1) / (members * weeks_seen + 2)
        if binomial_cdf(team.active, members, usual_share) < cfg.members_alpha:
            state = "watch"
    spread = NORMAL_BAND_Z * math.sqrt(dispersion * expected_week)
    return DropSignal(
        state,
        window,
        events,
        expected_week,
        max(0.0, expected_week - spread),
        expected_week + spread,
        per_working_day,
        sureness,
        team.active,
        usual_active,
        held,
    )


def level_term(per_working_day: float, peak: float) -> float:
    """ln(peak) - |ln(per_working_day / peak)|: the threshold's growth with the level.

    Calibrated on the grid's steady teams: up to `peak` a busier team's evidence moves faster
    by chance too and needs more; beyond it the busier the team, the fewer its false alarms
    at a fixed threshold (the lowest that kept a cell at 0.03 false drops a team-month:
    5.3-6.7 at 16-40 a day, 4.6-5.3 at 40 or more), so a threshold held at its peak only
    made the busiest teams' alerts wait for the next afternoon."""
    return math.log(peak) - abs(math.log(per_working_day / peak))


def _week_totals(days: Sequence[int], weeks: int) -> list[int]:
    return [sum(days[7 * r : 7 * r + 7]) for r in range(weeks)] if days else []
