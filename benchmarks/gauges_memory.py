"""How much memory the gauge state needs, and how fast it applies events and reads counts.

Runs a simulated organisation (1,000 people in 100 teams by default) through the streaming
core exactly as the `teams` and `threads` stages do (TeamState per team, ThreadBook per
thread partition, facts routed back to teams), for 30 and then 60 simulated days, and prints
the state's size as tracemalloc sees it, then the apply throughput, the cost of counts(),
and the export's cost per event of a backfill read after every batch.

State is bounded by the retention: the longest window, the baseline's or the drop signal's
reach, plus the lateness. With the defaults the drop signal reaches furthest (its 2-week
span and 3 reference weeks: 35 days) and the retention is 37 days, so the state still grows
a little up to then and is flat after that: `--days 30 45 60` shows the plateau.

    .venv/bin/python -m benchmarks.gauges_memory [--people 1000] [--teams 100] [--days 30 60]

`--content` compares the content gauges off and on in the same run instead (state, apply
cost per event, counts() per team), with before/after ratios.

Pure: no Kafka, no clock in the core (wall time is only read here, to time the core).
"""

from __future__ import annotations

import argparse
import gc
import math
import time
import tracemalloc
from dataclasses import dataclass, replace

import orjson

from teampulse.contract.event import Event
from teampulse.contract.roster import RosterEntry
from teampulse.contract.timestamps import parse_rfc3339
from teampulse.enrichment.roster import Roster, resolve_team
from teampulse.gauges.config import GaugeConfig, load_gauge_config
from teampulse.gauges.team_state import TeamState
from teampulse.gauges.threads import ThreadBook
from teampulse.settings import load_settings
from teampulse.simulation import build_organisation, generate_events

START = 1_772_409_600.0  # 2026-03-02T00:00:00Z
DAY_S = 86_400
THREAD_PARTITIONS = 4
EXPIRE_EVERY_S = 3_600  # the threads stage expires idle threads once per event-time hour
EXPORT_BATCH = 2_000  # events between two exports in measure_export (a batch of the engine)


@dataclass
class Pipeline:
    """The two stateful stages of one worker, without Kafka in between."""

    config: GaugeConfig
    roster: Roster

    def __post_init__(self) -> None:
        self.teams: dict[str, TeamState] = {}
        self.books = [ThreadBook(self.config) for _ in range(THREAD_PARTITIONS)]
        self.next_expiry = -math.inf
        self.events = 0

    def apply(self, event: Event) -> None:
        self.events += 1
        team = self.teams.get(event.team or "")
        if team is None:
            team = self.teams[str(event.team)] = TeamState(str(event.team), self.config)
        if team.apply_event(event) != "accepted" or not event.type.startswith("discussion."):
            return
        book = self.books[hash(event.thread) % THREAD_PARTITIONS]
        for fact in book.apply(event):
            owner = self.teams.get(fact.team)
            if owner is None:
                owner = self.teams[fact.team] = TeamState(fact.team, self.config)
            owner.apply_fact(fact)
        if event.occurred_at >= self.next_expiry:
            for book in self.books:
                book.expire(event.occurred_at)
            self.next_expiry = event.occurred_at + EXPIRE_EVERY_S


def simulated_history(
    people: int, teams: int, days: float, seed: int
) -> tuple[Roster, list[bytes]]:
    """The roster and the events of a simulated organisation, as the by-team topic carries
    them (team resolved, actor pseudonymous, compact JSON), in event-time order."""
    org = build_organisation(seed=seed, people=people, teams=teams, departments=10, divisions=3)
    roster = Roster(
        [
            RosterEntry(r["person"], r["team"], r["department"], r["division"], r["active"])
            for r in org.roster_records()
        ]
    )
    known = set(Event.__struct_fields__)
    records = []
    for raw in generate_events(org, START, START + days * DAY_S, seed=seed):
        fields = {k: v for k, v in raw.items() if k in known}
        fields["occurred_at"] = parse_rfc3339(raw["occurred_at"])
        fields["team"] = resolve_team(raw.get("team"), raw["actor"], roster)
        fields["tags"] = tuple(raw.get("tags", ()))
        records.append(orjson.dumps(Event(**fields).to_wire()))
    return roster, records


def measure_memory(roster: Roster, records: list[bytes], days: float, config: GaugeConfig) -> float:
    """State size (MiB) after applying `days` of the history; records are parsed inside the
    traced region, so the strings the state keeps are counted as the state's."""
    until = START + days * DAY_S
    gc.collect()
    tracemalloc.start()
    before = tracemalloc.get_traced_memory()[0]
    pipeline = Pipeline(config, roster)
    peak_state = 0
    for raw in records:
        event = Event.from_wire(orjson.loads(raw))
        if event.occurred_at >= until:
            break
        pipeline.apply(event)
        if pipeline.events % 50_000 == 0:
            peak_state = max(peak_state, tracemalloc.get_traced_memory()[0] - before)
    now = max(t.watermark or 0.0 for t in pipeline.teams.values())
    for team in pipeline.teams.values():  # what the exporter keeps warm: the day caches
        team.counts(now, roster.team_size(team.team))
    del event, raw
    gc.collect()
    state = tracemalloc.get_traced_memory()[0] - before
    tracemalloc.stop()
    peak_state = max(peak_state, state)
    threads = sum(len(book) for book in pipeline.books)
    print(
        f"{days:>4.0f} days: {pipeline.events:>9,} events  state {state / 2**20:6.1f} MiB"
        f"  (peak {peak_state / 2**20:6.1f} MiB)  teams {len(pipeline.teams)}"
        f"  open threads {threads:,}"
    )
    return state / 2**20


def measure_speed(
    roster: Roster, records: list[bytes], config: GaugeConfig
) -> tuple[float, float, float]:
    """Apply throughput over the whole history, then the cost of counts() cold and warm;
    returns (apply_event us per event, counts() cold ms and warm us per team)."""
    history = [Event.from_wire(orjson.loads(raw)) for raw in records]
    pipeline = Pipeline(config, roster)
    started = time.perf_counter()
    for event in history:
        pipeline.apply(event)
    elapsed = time.perf_counter() - started
    print(
        f"apply: {len(history):,} events in {elapsed:.2f} s = {len(history) / elapsed:,.0f}"
        " events/s (TeamState + ThreadBook + facts, one core)"
    )
    teams: dict[str, TeamState] = {}
    started = time.perf_counter()
    for event in history:
        team = teams.get(str(event.team))
        if team is None:
            team = teams[str(event.team)] = TeamState(str(event.team), config)
        team.apply_event(event)
    elapsed = time.perf_counter() - started
    apply_us = elapsed / len(history) * 1e6
    print(f"apply_event alone: {apply_us:.1f} us per event")

    now = max(t.watermark or 0.0 for t in pipeline.teams.values())
    states = list(pipeline.teams.values())
    sizes = [roster.team_size(s.team) for s in states]
    started = time.perf_counter()
    for state, size in zip(states, sizes, strict=True):
        state.counts(now, size)
    cold = (time.perf_counter() - started) / len(states)
    rounds, elapsed = 20, 0.0
    for r in range(rounds):  # one new event per team since the last read, as at an export tick
        for state in states:
            state.apply_event(
                Event(
                    id=f"bench-{r}-{state.team}",
                    type="learning.started",  # with a content: the content gauges move too
                    occurred_at=now + r,
                    actor="bench",
                    source="bench",
                    team=state.team,
                    content="bench-course",
                    duration_s=30.0,
                )
            )
        started = time.perf_counter()
        for state, size in zip(states, sizes, strict=True):
            state.counts(now + r + 1, size)
        elapsed += time.perf_counter() - started
    warm = elapsed / (rounds * len(states))
    print(
        f"counts(): cold {cold * 1e3:.2f} ms per team (first read fills the day caches),"
        f" warm {warm * 1e6:.0f} us per team (one new event since the last read)"
    )
    return apply_us, cold * 1e3, warm * 1e6


def without_content(config: GaugeConfig) -> GaugeConfig:
    """The same configuration with the content gauges turned off (no content windows)."""
    content = config.scoring.content.model_copy(update={"windows": ()})
    return replace(config, scoring=config.scoring.model_copy(update={"content": content}))


def compare_content(roster: Roster, records: list[bytes], days: float, config: GaugeConfig) -> None:
    """The content gauges' cost, same run: state, apply and counts() without and with them."""
    print("\n--- content gauges off (before) ---")
    off = without_content(config)
    state_off = measure_memory(roster, records, days, off)
    speed_off = measure_speed(roster, records, off)
    print("--- content gauges on (after) ---")
    state_on = measure_memory(roster, records, days, config)
    speed_on = measure_speed(roster, records, config)
    people = len({entry.person for entry in roster.entries()})
    print(
        f"content gauges: state {state_off:.1f} -> {state_on:.1f} MiB"
        f" (x{state_on / state_off:.2f}, +{(state_on - state_off) * 2**20 / people:.0f} bytes"
        f" per person); apply_event {speed_off[0]:.1f} -> {speed_on[0]:.1f} us per event"
        f" (x{speed_on[0] / speed_off[0]:.2f}); counts() warm {speed_off[2]:.0f} ->"
        f" {speed_on[2]:.0f} us per team (x{speed_on[2] / speed_off[2]:.2f}), cold"
        f" {speed_off[1]:.2f} -> {speed_on[1]:.2f} ms"
    )


def measure_export(
    roster: Roster, records: list[bytes], config: GaugeConfig, batch: int = EXPORT_BATCH
) -> None:
    """What the export costs a backfill: after every `batch` events, counts() of every team
    the batch touched, as of the batch's newest event (the windows slide with it), as the
    worker's export does after its batches; and the same read at one frozen instant (the
    end of the history, as `make bench` freezes the worker's clock). CPU time of this
    process: the machine is shared."""
    history = [Event.from_wire(orjson.loads(raw)) for raw in records]
    end = max(e.occurred_at for e in history)
    for label, frozen in (("sliding", False), ("frozen clock", True)):
        teams: dict[str, TeamState] = {}
        elapsed = 0.0
        reads = 0
        for start in range(0, len(history), batch):
            touched: set[str] = set()
            newest = -math.inf
            for event in history[start : start + batch]:
                team = teams.get(str(event.team))
                if team is None:
                    team = teams[str(event.team)] = TeamState(str(event.team), config)
                team.apply_event(event)
                touched.add(team.team)
                newest = max(newest, event.occurred_at)
            as_of = end if frozen else newest
            began = time.process_time()
            for name in touched:
                teams[name].counts(as_of, roster.team_size(name))
            elapsed += time.process_time() - began
            reads += len(touched)
        print(
            f"export after every {batch:,} events ({label}): {reads:,} counts() reads,"
            f" {elapsed:.2f} s = {elapsed / len(history) * 1e6:.1f} us of CPU per event,"
            f" {elapsed / reads * 1e6:.0f} us per read"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--people", type=int, default=1000)
    parser.add_argument("--teams", type=int, default=100)
    parser.add_argument("--days", type=float, nargs="+", default=[30, 60])
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--no-speed", action="store_true", help="only measure memory")
    parser.add_argument(
        "--content",
        action="store_true",
        help="only compare the content gauges off and on (state, apply, counts), same run",
    )
    parser.add_argument(
        "--baseline-samples", type=int, help="override scoring.yaml baseline.samples (retention)"
    )
    args = parser.parse_args()

    config = load_gauge_config(load_settings())
    if args.baseline_samples is not None:
        baseline = config.scoring.baseline.model_copy(update={"samples": args.baseline_samples})
        scoring = config.scoring.model_copy(update={"baseline": baseline})
        config = replace(config, scoring=scoring)
    print(
        f"{args.people} people in {args.teams} teams; retention {config.retention_s / DAY_S:g}"
        f" days (windows {', '.join(config.windows)}, lateness {config.lateness_s / 3600:g} h)"
    )
    roster, records = simulated_history(args.people, args.teams, max(args.days), args.seed)
    if args.content:
        compare_content(roster, records, max(args.days), config)
        return
    sizes = [measure_memory(roster, records, days, config) for days in args.days]
    if len(sizes) > 1:
        print(f"state {args.days[-1]:g} days / {args.days[0]:g} days = {sizes[-1] / sizes[0]:.2f}")
    if not args.no_speed:
        first = START + min(args.days) * DAY_S
        kept = [r for r in records if orjson.loads(r)["occurred_at"] < first]
        measure_speed(roster, kept, config)
        measure_export(roster, kept, config)


if __name__ == "__main__":
    main()
