"""Signal quality of the team alerts: the simulator's scenarios through the pure gauge core,
the project's alert rules evaluated on the resulting hourly series by `promtool test rules`.

    .venv/bin/python benchmarks/signal.py            # every run below, a table per alert
    .venv/bin/python benchmarks/signal.py --quick    # one drop, 42 steady days
    .venv/bin/python benchmarks/signal.py --reach 10:5.5:50:4:12   # one drop's reach, 40 teams

What runs, all in simulated time (no Kafka, no clock):

* drops: the `team-drops` scenario with its team dropping at midnight of each day of one week
  (every weekday and the weekend), at noon on two working days, and the same script for three
  teams of another seed;
* steady: the `steady` scenario over 90 days after its 35-day history;
* stall: the `adoption-stalls` scenario.

Each scenario's events go through the streaming core exactly as the worker applies them
(validation and pseudonymisation, roster resolution, `TeamState`, `ThreadBook` with its
facts routed back), and every simulated hour the published team snapshots are read, the
series the worker exports are written down (drop signal state, change ratio, baseline,
7-day participation, team size, adoption ratio and members trained, team info). Those series
become the `input_series` of a generated promtool test over
`deploy/prometheus/rules/teampulse-alerts.yml` itself, evaluated once per simulated hour, so
the rule file stays the only definition of an alert: its thresholds, joins, `for:` and
`offset`. The firing `ALERTS` series are read back with PromQL (first firing hour of each
alert per day) from promtool's report.

Figures: per alert, recall (scripted drops alerted, and hours from the drop to firing) and
false alerts per team-month (30 team-days) on the published teams the script leaves alone.
"""

from __future__ import annotations

import os
import sys

# Run as `python benchmarks/signal.py`, this file's folder comes first on sys.path, and this
# file would shadow the standard library's `signal` (which subprocess and asyncio import).
# It is replaced by the repository's root, where `benchmarks` is a package.
if sys.path and os.path.abspath(sys.path[0]) == os.path.dirname(os.path.abspath(__file__)):
    sys.path[0] = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

import argparse
import dataclasses
import datetime as dt
import math
import re
import subprocess
import tempfile
import time
from collections import defaultdict
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import orjson
import yaml

from benchmarks import signal_grid
from teampulse.contract.event import Event
from teampulse.contract.events import EventValidator
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.rejections import Rejection
from teampulse.contract.roster import parse_roster_record
from teampulse.enrichment.roster import Roster, resolve_team
from teampulse.gauges.catalog import DROP_SIGNAL_METRIC
from teampulse.gauges.config import GaugeConfig, load_gauge_config
from teampulse.gauges.drop_signal import DROP_STATES
from teampulse.gauges.snapshot import org_activity_of, team_snapshot
from teampulse.gauges.team_state import TeamState
from teampulse.gauges.threads import ThreadBook
from teampulse.settings import Settings
from teampulse.simulation.scenarios import (
    SCENARIOS,
    TEAM_ALERTS,
    Scenario,
    TeamDrop,
    scenario_events,
    scenario_organisation,
)

REPO = Path(__file__).resolve().parent.parent
TEAM_RULES = REPO / "deploy" / "prometheus" / "rules" / "teampulse-alerts.yml"
HOUR_S = 3600
DAY_S = 86_400
# A Monday, 00:00 UTC: day k of a scenario is weekday k % 7 (0 = Monday).
START = dt.datetime(2026, 3, 2, tzinfo=dt.UTC).timestamp()
TEAM_MONTH_DAYS = 30


@dataclass
class Run:
    """One scenario run: its hourly series and what the script says should happen."""

    name: str
    scenario: Scenario
    seed: int
    hours: int
    # (metric, labels) -> value per simulated hour (None: not exported that hour)
    series: dict[tuple[str, tuple[tuple[str, str], ...]], list[float | None]] = field(
        default_factory=dict
    )
    teams: list[str] = field(default_factory=list)
    # alertname -> labels -> first firing hour of each day that had one
    fired: dict[str, dict[tuple[tuple[str, str], ...], list[int]]] = field(default_factory=dict)


def _events(scenario: Scenario, seed: int, settings: Settings) -> tuple[Roster, Iterator[Event]]:
    """The scenario's roster and its events as the gauges stage receives them."""
    org = scenario_organisation(scenario, seed)
    pseudonymiser = Pseudonymiser(settings.pseudonym_secret)
    roster = Roster()
    for record in org.roster_records():
        entry = parse_roster_record(None, orjson.dumps(record), pseudonymiser)
        assert not isinstance(entry, Rejection | str | None), entry
        roster.apply(entry)
    validator = EventValidator(settings, pseudonymiser)
    end = START + scenario.days * DAY_S

    def parsed() -> Iterator[Event]:
        for raw in scenario_events(scenario, org, START, seed):
            event = validator.validate(raw, end)
            assert isinstance(event, Event), event
            yield event.with_team(resolve_team(event.team, event.actor, roster))

    return roster, parsed()


def simulate(name: str, scenario: Scenario, seed: int, config: GaugeConfig) -> Run:
    """Every hourly export of the scenario, through TeamState and ThreadBook."""
    settings = Settings()
    roster, events = _events(scenario, seed, settings)
    hours = int(scenario.days * 24)
    run = Run(name, scenario, seed, hours)
    states: dict[str, TeamState] = {}
    book = ThreadBook(config)

    def state(team: str) -> TeamState:
        if team not in states:
            states[team] = TeamState(team, config)
        return states[team]

    def record(metric: str, labels: dict[str, str], hour: int, value: float | None) -> None:
        key = (metric, tuple(sorted(labels.items())))
        values = run.series.setdefault(key, [None] * hours)
        values[hour] = value

    def export(hour: int) -> None:
        as_of = START + (hour + 1) * HOUR_S - 0.001  # the end of the simulated hour
        counts = {
            team: state.counts(as_of, roster.team_size(team)) for team, state in states.items()
        }
        org = org_activity_of(counts, roster, config)
        # the worker is never behind here: the rules that wait for it to catch up do not wait
        record("teampulse_consumer_lag", {"topic": "events", "partition": "0"}, hour, 0.0)
        for team in roster.teams():
            snapshot = team_snapshot(
                team,
                counts.get(team),
                roster.team_size(team),
                roster.path(team),
                config,
                as_of,
                org,
            )
            if snapshot is None:
                continue
            for state in DROP_STATES:
                record(
                    DROP_SIGNAL_METRIC,
                    {"team": team, "state": state},
                    hour,
                    float(state == snapshot.drop_signal),
                )
            labels = {"team": team}
            record("teampulse_team_info", {**labels, **snapshot.info}, hour, 1.0)
            record("teampulse_team_members", labels, hour, snapshot.plain.get("members"))
            for gauge in ("engagement_change_ratio", "engagement_baseline"):
                record(f"teampulse_team_{gauge}", labels, hour, snapshot.plain.get(gauge))
            seven = snapshot.windowed.get("7d", {})
            record(
                "teampulse_team_participation_ratio",
                {**labels, "window": "7d"},
                hour,
                seven.get("participation_ratio"),
            )
            for initiative, adoption in snapshot.initiatives.items():
                named = {**labels, "initiative": initiative}
                record("teampulse_adoption_ratio", named, hour, adoption.ratio)
                trained = float(adoption.stage_members["knowledge"])
                record("teampulse_adoption_members", {**named, "stage": "knowledge"}, hour, trained)

    hour = 0
    for event in events:
        while event.occurred_at >= START + (hour + 1) * HOUR_S:
            export(hour)
            hour += 1
        team = str(event.team)
        if state(team).apply_event(event) == "accepted":
            for fact in book.apply(event):
                state(fact.team).apply_fact(fact)
    while hour < hours:
        export(hour)
        hour += 1
    # The published teams (privacy withholds the small ones): what false alerts are counted on.
    run.teams = sorted(
        dict(labels)["team"] for metric, labels in run.series if metric == "teampulse_team_info"
    )
    return run


# --- the rules, by promtool ----------------------------------------------------------------
def _values(hourly: list[float | None]) -> str:
    """promtool's expanding notation, one sample per hour, runs of equal values folded."""
    out: list[str] = []
    i = 0
    while i < len(hourly):
        j = i
        while j + 1 < len(hourly) and hourly[j + 1] == hourly[i]:
            j += 1
        value = hourly[i]
        if value is None:
            out.append(f"_x{j - i + 1}")
        else:
            out.append(f"{value!r}+0x{j - i}")
        i = j + 1
    return " ".join(out)


def _series_name(metric: str, labels: tuple[tuple[str, str], ...]) -> str:
    inner = ", ".join(f'{k}="{v}"' for k, v in labels)
    return f"{metric}{{{inner}}}"


RISING = 'ALERTS{alertstate="firing"} unless ALERTS{alertstate="firing"} offset 1h'
_GOT = re.compile(r"time: ((?:\d+d)?(?:\d+h)?),|(\{[^}]*\})\s+([-+0-9.eE]+)")
_LABEL = re.compile(r'(\w+)="((?:[^"\\]|\\.)*)"')


def evaluate_rules(run: Run, firing_at: int, rule_file: Path = TEAM_RULES) -> None:
    """Run the rule file over the run's series; fill `run.fired` (rising edges, and the
    alerts already firing at hour `firing_at`, which count as rising then)."""
    days = math.ceil(run.hours / 24)
    test = {
        "rule_files": [str(rule_file)],
        "evaluation_interval": "1h",
        "tests": [
            {
                "interval": "1h",
                "input_series": [
                    {"series": _series_name(metric, labels), "values": _values(values)}
                    for (metric, labels), values in sorted(run.series.items())
                ],
                # promtool evaluates the rules up to the last alert test's time only.
                "alert_rule_test": [
                    {"alertname": "SignalBenchmarkEnd", "eval_time": f"{days * 24 - 1}h"}
                ],
                # Per day: the hour of each alert's first rising edge (it fires, an hour
                # before it did not); promtool prints 5 digits, enough for an hour of the day.
                "promql_expr_test": [
                    {
                        "expr": f"(min_over_time(timestamp({RISING})[1d:1h]) - {day * DAY_S})"
                        f" / {HOUR_S}",
                        "eval_time": f"{day}d23h",
                        "exp_samples": [],
                    }
                    for day in range(days)
                ]
                + [
                    {
                        "expr": 'ALERTS{alertstate="firing"} * 0 - 1',
                        "eval_time": f"{firing_at // 24}d{firing_at % 24}h",
                        "exp_samples": [],
                    }
                ],
            }
        ],
    }
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "signal.test.yml"
        path.write_text(yaml.safe_dump(test, width=10**9), encoding="utf-8")
        result = subprocess.run(
            ["promtool", "test", "rules", str(path)], capture_output=True, text=True, check=False
        )
    output = result.stdout + result.stderr
    found = _GOT.findall(output)
    # Exit 1 with `got:` lines is the report read below; anything else is promtool failing.
    if result.returncode not in (0, 1) or (result.returncode == 1 and not found):
        raise RuntimeError(f"promtool test rules failed:\n{output[-3000:]}")
    fired: dict[str, dict[tuple[tuple[str, str], ...], list[int]]] = defaultdict(dict)
    day = 0
    for time_text, labels_text, value in found:
        if time_text:
            day = int(time_text.split("d")[0]) if "d" in time_text else 0
            continue
        labels = dict(_LABEL.findall(labels_text))
        alert = labels.pop("alertname", None)
        if alert is None:
            continue
        labels.pop("alertstate", None)
        key = tuple(sorted(labels.items()))
        hour = firing_at if float(value) < 0 else day * 24 + round(float(value))
        fired[alert].setdefault(key, []).append(hour)
    for by_labels in fired.values():
        for key, hours in by_labels.items():
            by_labels[key] = sorted(set(hours))
    run.fired = dict(fired)


# --- the figures ---------------------------------------------------------------------------
def firing_hours(run: Run, alert: str, **match: str) -> list[int]:
    hours: list[int] = []
    for labels, first in run.fired.get(alert, {}).items():
        if all(dict(labels).get(k) == v for k, v in match.items()):
            hours.extend(first)
    return sorted(hours)


@dataclass
class Figures:
    drops: list[tuple[str, int | None]] = field(default_factory=list)  # (what, hours to alert)
    false_alerts: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    team_days: dict[str, float] = field(default_factory=lambda: defaultdict(float))
    stall: list[str] = field(default_factory=list)


def score_drop(run: Run, figures: Figures) -> None:
    drop = run.scenario.team_drop
    assert drop is not None
    drop_hour = int(drop.day * 24)
    after = [
        h for h in firing_hours(run, "TeamEngagementDropped", team=drop.team) if h >= drop_hour
    ]
    weekday = dt.datetime.fromtimestamp(START + drop.day * DAY_S, dt.UTC).strftime("%a %H:%M")
    what = f"{drop.team} seed {run.seed} day {math.floor(drop.day)} ({weekday})"
    figures.drops.append((what, after[0] - drop_hour + 1 if after else None))


def score_false(run: Run, figures: Figures, from_day: float, exempt: Iterable[str] = ()) -> None:
    """Team alerts on the teams the script leaves alone, from `from_day` on."""
    from_hour = int(from_day * 24)
    exempt = set(exempt)
    teams = [t for t in run.teams if t not in exempt]
    days = (run.hours - from_hour) / 24
    for alert in TEAM_ALERTS:
        figures.team_days[alert] += days * len(teams)
        for labels, hours in run.fired.get(alert, {}).items():
            if dict(labels).get("team") in exempt:
                continue
            figures.false_alerts[alert] += sum(h >= from_hour for h in hours)


def score_stall(run: Run, figures: Figures, from_day: float) -> None:
    stalled = sorted(run.scenario.never_practised)
    from_hour = int(from_day * 24)
    by_initiative: dict[str, set[str]] = defaultdict(set)
    for labels, hours in run.fired.get("AdoptionStalled", {}).items():
        if any(h >= from_hour for h in hours):
            named = dict(labels)
            by_initiative[named.get("initiative", "?")].add(named.get("team", "?"))
    for initiative in sorted(set(stalled) | set(by_initiative)):
        teams = by_initiative.get(initiative, set())
        role = "stalled" if initiative in stalled else "NOT stalled"
        figures.stall.append(
            f"{initiative} ({role}): AdoptionStalled for {len(teams)} of {len(run.teams)} teams"
        )


def drop_runs(quick: bool) -> list[tuple[str, Scenario, int]]:
    """The scripted drop at midnight of each day of a week, at noon on two working days, and
    for three more teams of another seed; each run goes on 3 days past its drop."""
    base = SCENARIOS["team-drops"]
    assert base.team_drop is not None
    drops = [(base.team_drop.team, 36.0, 7)]
    if not quick:
        drops = [(base.team_drop.team, 36.0 + k, 7) for k in range(7)]
        drops += [(base.team_drop.team, day, 7) for day in (36.5, 38.5)]
        org = scenario_organisation(SCENARIOS["steady"], 11)
        others = [t.name for t in org.teams if len(t.members) >= 5][:3]
        drops += [(team, day, 11) for team in others for day in (37.375, 39.5)]
    runs = []
    for team, day, seed in drops:
        live = math.ceil(day - base.history_days) + 3
        scenario = dataclasses.replace(base, team_drop=TeamDrop(team, day), live_days=live)
        runs.append((f"drop-{team}-{day:g}", scenario, seed))
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="one drop, 42 steady days")
    parser.add_argument(
        "--grid", action="store_true", help="the drop signal over sizes, activity and drops"
    )
    parser.add_argument(
        "--reach",
        metavar="SIZE:RATE:FALL:WEEKDAY:HOUR",
        help="hours to the alert of teams whose activity falls by FALL %% from HOUR of WEEKDAY"
        " (0 = Monday), e.g. 10:5.5:50:4:12 (a team of 10 at 5.5 a day, half from Friday noon)",
    )
    parser.add_argument("--teams", type=int, default=40, help="teams for --reach (40)")
    parser.add_argument("--bursty", action="store_true", help="overdispersed teams for --reach")
    args = parser.parse_args(argv)
    config = load_gauge_config(Settings())
    if args.reach:
        size, rate, fall, weekday, hour = args.reach.split(":")
        signal_grid.print_reach(
            signal_grid.reach(
                int(size),
                float(rate),
                args.bursty,
                float(fall) / 100,
                int(weekday),
                int(hour),
                args.teams,
                config,
            )
        )
        return 0
    if args.grid:
        began = time.monotonic()
        print(signal_grid.HEADER)
        cells = signal_grid.grid(config, args.quick)
        signal_grid.summary(cells)
        print(f"\n({time.monotonic() - began:.0f} s)")
        return 0
    figures = Figures()
    began = time.monotonic()

    runs = drop_runs(args.quick)
    for number, (name, scenario, seed) in enumerate(runs, 1):
        run = simulate(name, scenario, seed, config)
        evaluate_rules(run, int(scenario.history_days * 24))
        score_drop(run, figures)
        what, hours = figures.drops[-1]
        print(
            f"[{number}/{len(runs)}] {what}: {hours} h ({time.monotonic() - began:.0f} s)",
            file=sys.stderr,
            flush=True,
        )
        assert scenario.team_drop is not None
        score_false(run, figures, scenario.history_days, exempt=[scenario.team_drop.team])

    steady_days = 7 if args.quick else 90
    steady = dataclasses.replace(SCENARIOS["steady"], live_days=steady_days)
    run = simulate("steady", steady, 7, config)
    evaluate_rules(run, int(steady.history_days * 24))
    score_false(run, figures, steady.history_days)

    stalls = SCENARIOS["adoption-stalls"]
    run = simulate("adoption-stalls", stalls, 7, config)
    evaluate_rules(run, int(stalls.history_days * 24))
    score_stall(run, figures, stalls.history_days)

    report(figures, time.monotonic() - began)
    return 0


def report(figures: Figures, seconds: float) -> None:
    print("TeamEngagementDropped: recall on scripted drops (7 in 10 members stop)")
    within = 0
    for what, hours in figures.drops:
        said = f"fired {hours} h after the drop" if hours is not None else "NOT alerted"
        within += hours is not None and hours <= 24
        print(f"  {what:<46} {said}")
    total = len(figures.drops)
    print(
        f"  recall: {within}/{total} within 24 h, "
        f"{sum(h is not None for _, h in figures.drops)}/{total} within the live week"
    )
    print("\nFalse team alerts on teams the script leaves alone (steady 90 days + drop runs)")
    for alert in TEAM_ALERTS:
        days = figures.team_days[alert]
        count = figures.false_alerts[alert]
        rate = count / (days / TEAM_MONTH_DAYS) if days else 0.0
        print(
            f"  {alert:<24} {count:>4} in {days / TEAM_MONTH_DAYS:7.1f} team-months"
            f" = {rate:.3f} per team-month"
        )
    print("\nAdoptionStalled in adoption-stalls")
    for line in figures.stall:
        print(f"  {line}")
    print(f"\n({seconds:.0f} s)")


if __name__ == "__main__":
    sys.exit(main())
