"""The benchmark's load: a simulated organisation's roster and event history, encoded once.

The simulator (teampulse.simulation) draws about 10,000 events per second on this kind of
machine, so two million events take minutes; the encoded records are cached in
`benchmarks/.cache/` under a name made of the parameters, and a later run with the same
parameters reads them back in seconds. The corpus always holds 2N events in event-time order:
the first N are the measured load, the next N feed the memory check (state after 2N events).
"""

from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import orjson
from tqdm import tqdm

from teampulse.simulation import build_organisation, generate_events

__all__ = ["Corpus", "CorpusSpec", "load_corpus"]

CACHE_DIR = Path(__file__).resolve().parent / ".cache"
# Monday 2026-03-02 00:00 UTC: a fixed start, so the cached events never depend on the day.
HISTORY_START = 1_772_409_600.0
DAY_S = 86_400
# The corpus format; bump it when the file layout or the way events are drawn changes.
FORMAT = 1

Record = tuple[bytes, bytes]


@dataclass(frozen=True)
class CorpusSpec:
    events: int  # N; the corpus holds 2N
    people: int = 10_000
    teams: int = 500
    departments: int = 25
    divisions: int = 5
    seed: int = 3

    def cache_path(self) -> Path:
        key = orjson.dumps({"format": FORMAT, **self.__dict__}, option=orjson.OPT_SORT_KEYS)
        digest = hashlib.sha256(key).hexdigest()[:12]
        return CACHE_DIR / f"corpus-{self.events}-{self.people}p-{self.teams}t-{digest}.ndjson"


@dataclass(frozen=True)
class Corpus:
    spec: CorpusSpec
    roster: list[Record]  # (person, roster record JSON)
    records: list[Record]  # 2N (event id, event JSON), in occurred_at order
    last_occurred_at: float  # epoch seconds of the newest event: the frozen clock of the runs

    @property
    def first_half(self) -> list[Record]:
        return self.records[: self.spec.events]

    @property
    def second_half(self) -> list[Record]:
        return self.records[self.spec.events :]

    def team_of_person(self) -> dict[str, str]:
        """Roster person -> team, as a consumer that reads the roster would build it."""
        teams = {}
        for _, value in self.roster:
            entry = orjson.loads(value)
            teams[entry["person"]] = entry["team"]
        return teams


def _roster(spec: CorpusSpec) -> tuple[object, list[Record]]:
    org = build_organisation(
        seed=spec.seed,
        people=spec.people,
        teams=spec.teams,
        departments=spec.departments,
        divisions=spec.divisions,
    )
    return org, [(r["person"].encode(), orjson.dumps(r)) for r in org.roster_records()]


def _draw(org: object, spec: CorpusSpec) -> Iterator[tuple[Record, str]]:
    # An open-ended history: stop after 2N events, however many days that takes.
    end = HISTORY_START + 3650 * DAY_S
    for event in generate_events(org, HISTORY_START, end, seed=spec.seed):  # type: ignore[arg-type]
        yield (event["id"].encode(), orjson.dumps(event)), event["occurred_at"]


def load_corpus(spec: CorpusSpec, cache: bool = True) -> Corpus:
    """The corpus for `spec`, from the cache when it is there, else drawn (and cached)."""
    org, roster = _roster(spec)
    path = spec.cache_path()
    if cache and path.exists():
        return _read(spec, roster, path)
    wanted = 2 * spec.events
    records: list[Record] = []
    last = ""
    with tqdm(total=wanted, desc="simulating events", unit=" ev", mininterval=0.5) as bar:
        for record, occurred_at in _draw(org, spec):
            records.append(record)
            last = occurred_at
            if len(records) % 10_000 == 0:
                bar.update(10_000)
            if len(records) >= wanted:
                break
        bar.update(len(records) % 10_000)
    last_at = _epoch(last)
    if cache:
        _write(path, records, last_at)
    return Corpus(spec, roster, records, last_at)


def _epoch(rfc3339: str) -> float:
    return dt.datetime.fromisoformat(rfc3339.replace("Z", "+00:00")).timestamp()


def _write(path: Path, records: list[Record], last_occurred_at: float) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    partial = path.with_suffix(".partial")
    with partial.open("wb") as out:
        out.write(orjson.dumps({"records": len(records), "last_occurred_at": last_occurred_at}))
        out.write(b"\n")
        # Event ids never hold a tab and orjson never writes a newline: one record a line.
        for key, value in records:
            out.write(key + b"\t" + value + b"\n")
    partial.replace(path)  # a run interrupted while writing leaves no half cache behind


def _read(spec: CorpusSpec, roster: list[Record], path: Path) -> Corpus:
    with path.open("rb") as source:
        header = orjson.loads(source.readline())
        records: list[Record] = []
        for line in tqdm(
            source,
            total=header["records"],
            desc="reading cached events",
            unit=" ev",
            mininterval=0.5,
        ):
            key, _, value = line.rstrip(b"\n").partition(b"\t")
            records.append((key, value))
    if len(records) != header["records"]:
        raise SystemExit(f"the cached corpus {path.name} is truncated; delete it and run again")
    return Corpus(spec, roster, records, float(header["last_occurred_at"]))
