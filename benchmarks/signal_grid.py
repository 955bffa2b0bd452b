"""The drop signal over a grid of team sizes, activity levels, noise and drops.

    .venv/bin/python benchmarks/signal.py --grid           # the whole grid (a few minutes)
    .venv/bin/python benchmarks/signal.py --grid --quick   # two sizes, two activity levels

Each cell is a team of `size` people doing `rate` events per person per working day (Poisson,
or overdispersed: each person-day's rate is multiplied by a Gamma(2, 1/2) draw, so a day's
count varies about 1 + rate/2 times as much as Poisson's), in an organisation of 20 more
teams of 10 people at 2.3 events per person per working day (whose dispersion is the sum of
its teams', as `org_activity` adds it up). Events fall in working hours
(9-17 UTC, Monday-Friday) with a tenth of a working day's activity on each weekend day.
After 5 weeks of history:

* steady teams (48) run for 8 weeks, with a public holiday on the Wednesday of the third week
  (everyone, the organisation included, at a tenth of a usual day);
* drops: activity falls by 30 %, 50 % or 75 %, or half the members go silent, at 00:00,
  09:00 or 13:00 of each weekday of week 6, and stays down for 3 weeks.

The pure drop signal (`gauges.drop_signal`, the code the worker runs) is computed from the
hourly counts, as `TeamState.counts` would hand them over (tests prove those equal): on drops
at the end of every hour, on steady teams (48 a cell, about 100 team-months) at the end of
each hour in which an event may have fallen (10:00-18:00; the evidence runs over completed
hours, so the state cannot enter drop in the others). `TeamEngagementDropped` fires on the
state drop (`for: 1m`; the state moves once an hour), so an hour in drop is an alert; a
false alert is a steady team's entry into drop.

Per cell: expected events per working day; coverage (share of working hours with a signal,
i.e. not insufficient_activity, once the team has 4 weeks of history); recall and median
working days to the first drop state after a drop starts (within 15 working days); false
alerts per team-month (30 days) on steady teams; alerts on the holiday and the day after.
"Before" is the change ratio's rule applied to the same counts: the last 20 hours' events
against the mean of the same 20 hours 1-4 weeks back, defined only when that mean holds 25
events or more, alerting below -50 % for 2 hours (the score it actually compared moves with
these counts, and its guard is the same).
"""

from __future__ import annotations

import bisect
import dataclasses
import math
import operator
import random
import statistics
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from teampulse.gauges.config import GaugeConfig
from teampulse.gauges.counts import ActivityCounts
from teampulse.gauges.drop_signal import (
    DropSignal,
    OrgActivity,
    drop_signal,
    excess_dispersion,
)

HOUR = 3600
DAY_H = 24
WEEK_H = 168
START = 1_772_409_600  # 2026-03-02 00:00 UTC, a Monday
HISTORY_DAYS = 35
COVERAGE_FROM_DAY = 28  # steady teams are judged once they have 4 weeks of history
STEADY_DAYS = 56
DROP_WEEKS = 3
WORK_HOURS = range(9, 17)
WEEKEND_SHARE = 0.1
HOLIDAY_DAY = HISTORY_DAYS + 14 + 2  # the Wednesday of the third steady week
HOLIDAY_SHARE = 0.1
ORG_TEAMS, ORG_TEAM_SIZE, ORG_RATE = 20, 10, 2.3
SIZES = (5, 8, 12, 20, 40)
RATES = (0.5, 1.0, 2.0, 3.0)
DROPS = ("30%", "50%", "75%", "half silent")
STARTS = ((0, 0), (1, 9), (2, 13), (3, 9), (4, 13))  # (weekday of week 6, hour)
# Steady teams per cell: 48 teams over 63 days, about 100 team-months, so a cell's rate of
# 0.05 false alerts per team-month rests on about 5 expected alerts, not one.
STEADY_TEAMS = 48
# Steady teams are judged at the end of the hours in which an event may just have fallen (the
# evidence runs over completed hours): in the others the state cannot enter drop. A third of
# the work of judging every hour.
JUDGED_HOURS = range(WORK_HOURS.start + 1, WORK_HOURS.stop + 1)
TEAM_MONTH_DAYS = 30
RECALL_WORKING_DAYS = 15


def _poisson(rng: random.Random, mean: float) -> int:
    if mean <= 0:
        return 0
    if mean > 30:
        return max(0, round(rng.gauss(mean, math.sqrt(mean))))
    limit, k, product = math.exp(-mean), 0, rng.random()
    while product > limit:
        k += 1
        product *= rng.random()
    return k


def _is_working_day(day: int) -> bool:
    return day % 7 < 5


@dataclass
class Person:
    hours: list[int] = field(default_factory=list)  # sorted hours of their events


def simulate_team(
    rng: random.Random,
    size: int,
    rate: float,
    overdispersed: bool,
    days: int,
    factor: list[float] | None = None,
    silent_from: int | None = None,
) -> list[Person]:
    """Hourly event times of each member; `factor[hour]` scales everyone's rate (a drop, a
    holiday); from hour `silent_from`, the first half of the members do nothing."""
    people = [Person() for _ in range(size)]
    for day in range(days):
        base = rate if _is_working_day(day) else rate * WEEKEND_SHARE
        if day == HOLIDAY_DAY:
            base *= HOLIDAY_SHARE
        for index, person in enumerate(people):
            mean = base * (rng.gammavariate(2.0, 0.5) if overdispersed else 1.0)
            for _ in range(_poisson(rng, mean)):
                hour = day * DAY_H + rng.choice(WORK_HOURS)
                scale = factor[hour] if factor is not None else 1.0
                if scale < 1.0 and rng.random() >= scale:
                    continue
                if silent_from is not None and hour >= silent_from and index < size // 2:
                    continue
                person.hours.append(hour)
    for person in people:
        person.hours.sort()
    return people


def hourly(people: list[Person], hours: int) -> list[int]:
    counts = [0] * hours
    for person in people:
        for hour in person.hours:
            counts[hour] += 1
    return counts


def active_in(people: list[Person], first: int, last: int) -> int:
    return sum(
        1
        for p in people
        if (i := bisect.bisect_left(p.hours, first)) < len(p.hours) and p.hours[i] <= last
    )


def activity(
    counts: list[int], people: list[Person] | None, t: int, config: GaugeConfig
) -> ActivityCounts:
    """What TeamState.counts hands over as of the end of hour t (hours before 0 hold none)."""
    signal = config.scoring.drop_signal
    first = t - signal.span_weeks * WEEK_H + 1
    starts = [first - (r + 1) * WEEK_H for r in range(signal.reference_weeks)]
    pad = max(0, -min(starts))
    padded = [0] * pad + counts if pad else counts
    weeks = [padded[s + pad : s + pad + WEEK_H] for s in starts]
    return ActivityCounts.of(
        recent=tuple(padded[first + pad : t + pad + 1]),
        profile=tuple(map(sum, zip(*weeks, strict=True))),
        days=tuple(sum(w[d * DAY_H : (d + 1) * DAY_H]) for w in weeks for d in range(7)),
        active=active_in(people, t - WEEK_H + 1, t) if people else 0,
        usual_active=tuple(active_in(people, s, s + WEEK_H - 1) for s in starts) if people else (),
    )


def _org(mine: ActivityCounts, others: ActivityCounts) -> ActivityCounts:
    """ActivityCounts.merge of the two, for the two (the grid calls it millions of times)."""
    if not mine.recent:
        return others

    def add(a: tuple[int, ...], b: tuple[int, ...]) -> tuple[int, ...]:
        return tuple(map(operator.add, a, b)) if a and b else a or b

    return ActivityCounts(
        recent=add(mine.recent, others.recent),
        profile=add(mine.profile, others.profile),
        days=add(mine.days, others.days),
        active=mine.active + others.active,
        usual_active=add(mine.usual_active, others.usual_active),
    )


def states(
    team: list[Person],
    rest: list[list[int]],
    size: int,
    hours: Iterable[int],
    total_hours: int,
    config: GaugeConfig,
    rest_cache: dict[int, tuple[ActivityCounts, float, float]],
) -> Iterator[tuple[int, DropSignal]]:
    """(hour, the team's drop signal) for each hour."""
    counts = hourly(team, total_hours)
    weeks = config.scoring.drop_signal.reference_weeks
    for t in hours:
        mine = activity(counts, team, t, config)
        if t not in rest_cache:  # the rest of the organisation is the same for every team
            # its dispersion: the sum over its teams, as `org_activity` adds it up (each of
            # their members active every week)
            members = (ORG_TEAM_SIZE,) * weeks
            parts = [
                dataclasses.replace(activity(counts_of_team, None, t, config), usual_active=members)
                for counts_of_team in rest
            ]
            shares = [excess_dispersion(part, weeks) for part in parts]
            rest_cache[t] = (
                activity(list(map(sum, zip(*rest, strict=True))), None, t, config),
                sum(e for e, _ in shares),
                sum(x for _, x in shares),
            )
        others, excess, exposure = rest_cache[t]
        e, x = excess_dispersion(mine, weeks)
        org = OrgActivity(_org(mine, others), excess + e, exposure + x)
        yield t, drop_signal(mine, org, size, START + (t + 1) * HOUR - 0.001, config)


def before_alerts(counts: list[int], hours: range) -> list[int]:
    """Hours at which the old change-ratio rule (on counts) starts firing."""
    prefix = [0]
    for n in counts:
        prefix.append(prefix[-1] + n)

    def window(last: int) -> int:  # 20 hours ending at `last`
        return prefix[last + 1] - prefix[max(0, last - 19)]

    below, fired, rising = 0, False, []
    for t in hours:
        samples = [window(t - k * WEEK_H) for k in (1, 2, 3, 4) if t - k * WEEK_H >= 19]
        samples = [s for s in samples if s > 0]
        mean = sum(samples) / len(samples) if samples else 0
        low = mean >= 25 and window(t) / mean - 1 < -0.5
        below = below + 1 if low else 0
        now = below >= 3  # for: 2h at hourly evaluation
        if now and not fired:
            rising.append(t)
        fired = now
    return rising


def working_days_between(start: int, end: int) -> float:
    """Working days from hour `start` to hour `end` (weekends skipped)."""
    total = 0.0
    for hour in range(start, end + 1):
        if _is_working_day(hour // DAY_H):
            total += 1 / DAY_H
    return total


@dataclass
class Cell:
    size: int
    rate: float
    overdispersed: bool
    expected_per_day: list[float] = field(default_factory=list)
    covered: int = 0
    working_hours: int = 0
    delays: dict[str, list[float | None]] = field(default_factory=dict)
    before_delays: dict[str, list[float | None]] = field(default_factory=dict)
    false_alerts: int = 0
    before_false: int = 0
    team_days: float = 0.0
    holiday_alerts: int = 0
    before_covered: int = 0


def _rest_of_org(rng: random.Random, overdispersed: bool, days: int) -> list[list[int]]:
    """Hourly counts of the organisation's other teams."""
    return [
        hourly(simulate_team(rng, ORG_TEAM_SIZE, ORG_RATE, overdispersed, days), days * DAY_H)
        for _ in range(ORG_TEAMS)
    ]


def run_cell(
    size: int, rate: float, overdispersed: bool, seed: int, config: GaugeConfig, steady_teams: int
) -> Cell:
    rng = random.Random(seed)
    cell = Cell(size, rate, overdispersed)
    days = HISTORY_DAYS + STEADY_DAYS
    total = days * DAY_H
    rest = _rest_of_org(rng, overdispersed, days)
    cache: dict[int, tuple[ActivityCounts, float, float]] = {}
    live = range(COVERAGE_FROM_DAY * DAY_H, total)
    judged = [t for t in live if t % DAY_H in JUDGED_HOURS]
    for _ in range(steady_teams):
        team = simulate_team(rng, size, rate, overdispersed, days)
        previous = "ok"
        for t, signal in states(team, rest, size, judged, total, config, cache):
            state, expected = signal.state, signal.expected_per_working_day
            if expected is not None:
                cell.expected_per_day.append(expected)
            day = t // DAY_H
            if _is_working_day(day) and t % DAY_H in JUDGED_HOURS and day != HOLIDAY_DAY:
                cell.working_hours += 1
                cell.covered += state != "insufficient_activity"
            if state == "drop" and previous != "drop":
                if day in (HOLIDAY_DAY, HOLIDAY_DAY + 1):
                    cell.holiday_alerts += 1
                cell.false_alerts += 1
            previous = state
        cell.before_false += len(before_alerts(hourly(team, total), live))
        cell.team_days += days - COVERAGE_FROM_DAY
    drop_days = HISTORY_DAYS + 7 + DROP_WEEKS * 7
    total = drop_days * DAY_H
    for kind in DROPS:
        for weekday, hour in STARTS:
            start = (HISTORY_DAYS + weekday) * DAY_H + hour
            factor = [1.0] * total
            silent_from = None
            if kind == "half silent":
                silent_from = start
            else:
                for h in range(start, total):
                    factor[h] = 1 - int(kind.rstrip("%")) / 100
            team = simulate_team(rng, size, rate, overdispersed, drop_days, factor, silent_from)
            first = None
            hours = range(start, total)
            for t, signal in states(team, rest, size, hours, total, config, cache):
                if signal.state == "drop":
                    first = t
                    break
            delay = working_days_between(start, first) if first is not None else None
            if delay is not None and delay > RECALL_WORKING_DAYS:
                delay = None
            cell.delays.setdefault(kind, []).append(delay)
            fired = before_alerts(hourly(team, total), range(start, total))
            old = working_days_between(start, fired[0]) if fired else None
            cell.before_delays.setdefault(kind, []).append(
                old if old is not None and old <= RECALL_WORKING_DAYS else None
            )
    return cell


def _recall(delays: list[float | None]) -> str:
    hits = sorted(d for d in delays if d is not None)
    median = f"{statistics.median(hits):4.1f}" if hits else "   -"
    return f"{len(hits)}/{len(delays)} {median}"


def grid(config: GaugeConfig, quick: bool) -> list[Cell]:
    sizes = (5, 12) if quick else SIZES
    rates = (1.0, 3.0) if quick else RATES
    cells = []
    seed = 1
    for overdispersed in (False, True):
        for size in sizes:
            for rate in rates:
                seed += 1
                cell = run_cell(
                    size, rate, overdispersed, seed, config, 2 if quick else STEADY_TEAMS
                )
                cells.append(cell)
                print_cell(cell, flush=True)
    return cells


HEADER = (
    "noise  size rate  E/wd  cover | 30%       50%       75%       half-silent | false/tm hol"
    " || before: 50% recall+median, false/tm"
)


def print_cell(cell: Cell, flush: bool = False) -> None:
    expected = statistics.median(cell.expected_per_day) if cell.expected_per_day else 0.0
    cover = cell.covered / cell.working_hours if cell.working_hours else 0.0
    months = cell.team_days / TEAM_MONTH_DAYS
    drops = "  ".join(f"{_recall(cell.delays[k]):>8}" for k in DROPS)
    print(
        f"{'overd' if cell.overdispersed else 'pois':<6}{cell.size:>4} {cell.rate:>4.1f}"
        f" {expected:5.1f} {cover:6.1%} | {drops} | {cell.false_alerts / months:7.3f}"
        f" {cell.holiday_alerts:>3} || {_recall(cell.before_delays['50%']):>8}"
        f" {cell.before_false / months:6.3f}",
        flush=flush,
    )


def summary(cells: list[Cell]) -> None:
    """Median working days to alert by expected events per working day (50 % and half)."""
    bands = ((5, 8), (8, 16), (16, 40), (40, math.inf))
    targets = {5: 7, 8: 5, 16: 3, 40: 1}
    print("\nDetection of a 50 % drop or half the team silent, by expected events/working day")
    for low, high in bands:
        delays: list[float | None] = []
        old: list[float | None] = []
        for cell in cells:
            expected = statistics.median(cell.expected_per_day) if cell.expected_per_day else 0
            if low <= expected < high:
                delays += cell.delays["50%"] + cell.delays["half silent"]
                old += cell.before_delays["50%"] + cell.before_delays["half silent"]
        if delays:
            print(
                f"  {low:>3}-{high:<4} target <= {targets[low]} wd: now {_recall(delays)},"
                f" before {_recall(old)}"
            )
    months = sum(c.team_days for c in cells) / TEAM_MONTH_DAYS
    false = sum(c.false_alerts for c in cells)
    before = sum(c.before_false for c in cells)
    holiday = sum(c.holiday_alerts for c in cells)
    print(
        f"  false alerts: {false} in {months:.0f} team-months = {false / months:.3f}"
        f" per team-month (before {before / months:.3f}); on the holiday or the day after:"
        f" {holiday}"
    )


@dataclass(frozen=True)
class Reach:
    """Where a drop starting at one hour of the week is alerted, over many teams."""

    expected_per_working_day: float
    hours: list[int | None]  # hours from the start to the state drop (None: not in 15 wd)
    sureness: list[float]  # the highest evidence / threshold within the first `within` hours
    within: int
    before_hours: list[int | None]  # the same for the old change-ratio rule on the counts


def reach(
    size: int,
    rate: float,
    overdispersed: bool,
    fall: float,
    weekday: int,
    hour: int,
    teams: int,
    config: GaugeConfig,
    within: int = DAY_H,
    seed: int = 1,
) -> Reach:
    """Teams of `size` at `rate` whose activity falls by `fall` (0-1) from `hour` of
    `weekday` (0 = Monday) of week 6: hours to the alert, and how close the evidence came
    within the first `within` hours (1 = the drop threshold). What shows a scripted drop out
    of reach at the calibrated threshold, by measurement."""
    rng = random.Random(seed)
    days = HISTORY_DAYS + 7 + DROP_WEEKS * 7
    total = days * DAY_H
    rest = _rest_of_org(rng, overdispersed, days)
    cache: dict[int, tuple[ActivityCounts, float, float]] = {}
    start = (HISTORY_DAYS + weekday) * DAY_H + hour
    factor = [1.0] * start + [1.0 - fall] * (total - start)
    hours: list[int | None] = []
    sureness: list[float] = []
    expected: list[float] = []
    before: list[int | None] = []
    for _ in range(teams):
        team = simulate_team(rng, size, rate, overdispersed, days, factor)
        first, closest = None, 0.0
        for t, signal in states(team, rest, size, range(start, total), total, config, cache):
            if t == start and signal.expected_per_working_day is not None:
                expected.append(signal.expected_per_working_day)
            if t - start < within:
                closest = max(closest, signal.evidence_ratio or 0.0)
            if signal.state == "drop":
                first = t
                break
        if first is not None and working_days_between(start, first) > RECALL_WORKING_DAYS:
            first = None
        hours.append(None if first is None else first - start + 1)
        sureness.append(closest)
        fired = before_alerts(hourly(team, total), range(start, total))
        before.append(fired[0] - start + 1 if fired else None)
    per_day = statistics.median(expected) if expected else 0.0
    return Reach(per_day, hours, sureness, within, before)


def print_reach(found: Reach) -> None:
    alerted = sorted(h for h in found.hours if h is not None)
    inside = sum(h <= found.within for h in alerted)
    quartiles = statistics.quantiles(alerted, n=4) if len(alerted) > 1 else alerted
    closest = statistics.quantiles(found.sureness, n=4)
    print(
        f"expected events per working day {found.expected_per_working_day:.1f}; "
        f"{inside}/{len(found.hours)} alerted within {found.within} h, "
        f"{len(alerted)}/{len(found.hours)} within {RECALL_WORKING_DAYS} working days"
    )
    print("hours to the alert, quartiles: " + ", ".join(f"{q:.0f}" for q in quartiles))
    print(
        f"highest evidence / drop threshold within {found.within} h, quartiles: "
        + ", ".join(f"{q:.2f}" for q in closest)
    )
    old = sum(h is not None and h <= found.within for h in found.before_hours)
    print(
        f"the old change-ratio rule on the same counts: {old}/{len(found.hours)} within"
        f" {found.within} h"
    )
