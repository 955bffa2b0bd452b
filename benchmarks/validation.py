"""Validation throughput on one core: raw orjson.loads vs canonical validation vs xAPI
validation + mapping, over the same generated corpus in the same run.

    .venv/bin/python -m benchmarks.validation [--records 50000] [--repeat 3]

Each figure is the best of `--repeat` passes over the corpus (records per second of one
process, one thread); the ratio compares it with orjson.loads of the same bytes, the floor
any parse-once validator pays.
"""

from __future__ import annotations

import argparse
import random
import time
import uuid
from collections.abc import Callable
from typing import Any

import orjson

from teampulse.contract.event import Event
from teampulse.contract.events import EventValidator
from teampulse.contract.pseudonym import Pseudonymiser
from teampulse.contract.xapi import XapiMapper
from teampulse.settings import Settings

NOW = 1772496000.0  # 2026-03-03T00:00:00Z; the corpus spans the 28 days before it
PEOPLE = 2000
TEAMS = 40
ADL = "http://adlnet.gov/expapi/verbs/"


def _when(rng: random.Random) -> str:
    instant = NOW - rng.uniform(0, 28 * 86400)
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(instant)) + f".{rng.randrange(1000):03d}Z"


def canonical_corpus(count: int, rng: random.Random) -> list[bytes]:
    corpus = []
    for n in range(count):
        person = f"person{rng.randrange(PEOPLE)}@example.com"
        event: dict[str, Any] = {
            "id": f"evt-{n}",
            "occurred_at": _when(rng),
            "actor": person,
            "source": rng.choice(["lms", "teams", "jira"]),
            "team": f"team-{rng.randrange(TEAMS)}",
        }
        family = rng.random()
        if family < 0.5:
            event.update(
                type=rng.choice(
                    [
                        "learning.started",
                        "learning.progressed",
                        "learning.completed",
                        "learning.assessed",
                    ]
                ),
                content=f"course:{rng.randrange(200)}",
                duration_s=rng.randrange(3600),
                success=rng.random() < 0.8,
                score=round(rng.random(), 2),
            )
        elif family < 0.9:
            kind = rng.choice(["discussion.posted", "discussion.replied", "discussion.reacted"])
            event.update(
                type=kind,
                thread=f"thread-{rng.randrange(5000)}",
                post=f"post-{n}",
                channel="agile-community",
                length=rng.randrange(2000),
            )
            if kind != "discussion.posted":
                event["parent"] = f"post-{rng.randrange(max(n, 1))}"
        else:
            event.update(
                type="adoption.practiced",
                initiative="agile-ways-of-working",
                practice=rng.choice(["retro", "standup", "kanban"]),
            )
        corpus.append(orjson.dumps(event))
    return corpus


def xapi_corpus(count: int, rng: random.Random) -> list[bytes]:
    verbs = [
        ADL + v
        for v in (
            "launched",
            "progressed",
            "completed",
            "passed",
            "failed",
            "experienced",
            "commented",
        )
    ] + ["http://id.tincanapi.com/verb/liked"]
    corpus = []
    for _ in range(count):
        statement: dict[str, Any] = {
            "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
            "actor": {
                "objectType": "Agent",
                "name": "A Learner",
                "mbox": f"mailto:person{rng.randrange(PEOPLE)}@example.com",
            },
            "verb": {"id": rng.choice(verbs), "display": {"en-US": "did"}},
            "object": {
                "objectType": "Activity",
                "id": f"https://lms.example.com/courses/{rng.randrange(200)}",
                "definition": {
                    "name": {"en-US": "A course"},
                    "type": "http://adlnet.gov/expapi/activities/course",
                },
            },
            "result": {
                "completion": True,
                "success": rng.random() < 0.8,
                "duration": f"PT{rng.randrange(1, 90)}M",
                "score": {"scaled": round(rng.random(), 2)},
            },
            "context": {
                "platform": "Moodle",
                "contextActivities": {
                    "grouping": [{"id": "https://lxp.example.com/programs/agile-ways-of-working"}]
                },
                "extensions": {"urn:teampulse:extension:team": f"team-{rng.randrange(TEAMS)}"},
            },
            "timestamp": _when(rng),
        }
        corpus.append(orjson.dumps(statement))
    return corpus


def best_rate(step: Callable[[bytes], object], corpus: list[bytes], repeat: int) -> float:
    best = float("inf")
    for _ in range(repeat):
        started = time.perf_counter()
        for raw in corpus:
            step(raw)
        best = min(best, time.perf_counter() - started)
    return len(corpus) / best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=50_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--seed", type=int, default=7)
    args = parser.parse_args()

    rng = random.Random(args.seed)
    settings = Settings()
    pseudonymiser = Pseudonymiser(settings.pseudonym_secret)
    validator = EventValidator(settings, pseudonymiser)
    mapper = XapiMapper(settings, pseudonymiser)
    events, statements = canonical_corpus(args.records, rng), xapi_corpus(args.records, rng)
    # Every record of the corpus must be accepted, or the figures would flatter the validator.
    assert all(isinstance(validator.parse(raw, NOW), Event) for raw in events)
    assert all(isinstance(mapper.parse(raw, NOW), Event) for raw in statements)

    def validate_event(raw: bytes) -> object:
        return validator.parse(raw, NOW)

    def map_statement(raw: bytes) -> object:
        return mapper.parse(raw, NOW)

    rows = [
        ("canonical events", "orjson.loads", best_rate(orjson.loads, events, args.repeat)),
        (
            "canonical events",
            "EventValidator.parse",
            best_rate(validate_event, events, args.repeat),
        ),
        ("xAPI statements", "orjson.loads", best_rate(orjson.loads, statements, args.repeat)),
        (
            "xAPI statements",
            "XapiMapper.parse (check + map)",
            best_rate(map_statement, statements, args.repeat),
        ),
    ]
    sizes = {
        "canonical events": sum(map(len, events)) / len(events),
        "xAPI statements": sum(map(len, statements)) / len(statements),
    }
    print(f"{args.records} records per corpus, best of {args.repeat}, one core\n")
    print(f"{'corpus':<18} {'step':<32} {'records/s':>12} {'vs loads':>9}")
    baseline: dict[str, float] = {}
    for corpus, step, rate in rows:
        baseline.setdefault(corpus, rate)
        print(f"{corpus:<18} {step:<32} {rate:>12,.0f} {rate / baseline[corpus]:>8.2f}x")
    print("\nmean record size: " + ", ".join(f"{k} {v:.0f} B" for k, v in sizes.items()))


if __name__ == "__main__":
    main()
